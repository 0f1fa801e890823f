#include "onboarding/idtoken.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/base64.h"
#include "common/files.h"
#include "common/hex.h"
#include "common/openssl.h"
#include "onboarding/protocol.h"

namespace sedge::onboarding {
namespace {

// The first certificate of a PEM file, as DER.
Result<Bytes> pem_certificate_der(const std::string& file) {
  auto text = read_file(file);
  if (!text) return text.error();
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return Error{file + " holds no PEM certificate", EBADMSG};
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  if (len <= 0) return Error{file + ": the certificate cannot be encoded", EBADMSG};
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace

Result<Bytes> certificate_public_key_der(ByteView cert_der) {
  const unsigned char* p = cert_der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(cert_der.size())));
  if (!cert) return Error{"the certificate is not valid DER X.509", EBADMSG};
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(X509_get0_pubkey(cert.get()), &der);
  if (len <= 0) return Error{"the certificate's public key cannot be encoded", EBADMSG};
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Result<std::string> interface_mac(const std::string& interface) {
  if (interface.empty() || interface.find('/') != std::string::npos) return Error{"invalid interface name '" + interface + "'", EINVAL};
  std::ifstream in("/sys/class/net/" + interface + "/address");
  std::string mac;
  if (!(in >> mac)) return Error{"no interface " + interface + " (reading its MAC address)", ENODEV};
  static const std::regex kMac("^([0-9a-f]{2}:){5}[0-9a-f]{2}$");
  if (!std::regex_match(mac, kMac)) return Error{"interface " + interface + " has no Ethernet MAC address", EINVAL};
  return mac;
}

Result<std::string> device_id_token(Tpm& tpm, const std::string& router_id, const std::string& mac, EkProfile profile) {
  // checked_ek reads the profile's certificate and refuses an EK that is not its key.
  auto ek = tpm.checked_ek(profile);
  if (!ek) return ek.error();
  auto spki = certificate_public_key_der(ek->certificate);
  if (!spki) return spki.error().context("the EK certificate");
  const nlohmann::json token = {{"router_id", router_id},
                                {"mac", mac},
                                {"identity", protocol::kIdentityEk},
                                {"ek_profile", ek_profile_name(profile)},
                                {"ek_certificate", base64_encode(ek->certificate)},
                                {"ek_public_key", base64_encode(*spki)},
                                {"ek_name", to_hex(ek->name)}};
  return token.dump(2);
}

Result<std::string> idevid_id_token(Tpm& tpm, const std::string& router_id, const std::string& mac,
                                    const std::string& certificate_file, uint32_t handle) {
  auto cert = pem_certificate_der(certificate_file);
  if (!cert) return cert.error().context("the IDevID certificate");
  auto spki = certificate_public_key_der(*cert);
  if (!spki) return spki.error().context(certificate_file);
  auto key = tpm.read_public(handle);
  if (!key) return key.error().context("the IDevID key");
  if (auto s = check_idevid_attributes(key->area); !s)
    return s.error().context("the key at IDevIDKeyHandle");
  auto tpm_spki = public_key_der(key->area);
  if (!tpm_spki) return tpm_spki.error();
  if (*tpm_spki != *spki) {
    char h[16];
    std::snprintf(h, sizeof h, "0x%08x", handle);
    return Error{
        "the IDevID certificate " + certificate_file + " is not for the key in the TPM at " + h,
        EKEYREJECTED};
  }
  const nlohmann::json token = {{"router_id", router_id},
                                {"mac", mac},
                                {"identity", protocol::kIdentityIdevid},
                                {"idevid_certificate", base64_encode(*cert)},
                                {"idevid_public_key", base64_encode(*spki)},
                                {"idevid_public", base64_encode(key->public_area)},
                                {"idevid_name", to_hex(key->name)}};
  return token.dump(2);
}

}  // namespace sedge::onboarding

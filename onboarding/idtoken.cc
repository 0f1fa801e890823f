#include "onboarding/idtoken.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/base64.h"
#include "common/hex.h"

namespace sedge::onboarding {
namespace {


Result<Bytes> public_key_der(const Bytes& cert_der) {
  const unsigned char* p = cert_der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(cert_der.size()));
  if (!cert) return Error{"the EK certificate is not valid DER X.509", EBADMSG};
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
  X509_free(cert);
  if (len <= 0) return Error{"the EK certificate's public key cannot be encoded", EBADMSG};
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace

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
  auto spki = public_key_der(ek->certificate);
  if (!spki) return spki.error();
  const nlohmann::json token = {{"router_id", router_id},
                                {"mac", mac},
                                {"ek_profile", ek_profile_name(profile)},
                                {"ek_certificate", base64_encode(ek->certificate)},
                                {"ek_public_key", base64_encode(*spki)},
                                {"ek_name", to_hex(ek->name)}};
  return token.dump(2);
}

}  // namespace sedge::onboarding

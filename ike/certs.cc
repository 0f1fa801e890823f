#include "ike/certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/openssl.h"

namespace sedge::ike {
namespace {

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string name_line(const X509_NAME* n) {
  BioPtr b(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(b.get(), n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long len = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

Result<X509NamePtr> parse_dn(std::string_view text) {
  X509NamePtr name(X509_NAME_new());
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string rdn = trim(text.substr(start, comma - start));
    const size_t eq = rdn.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == rdn.size()) {
      return Error{"'" + std::string(text) + "' is not a DN such as 'CN=pop1.example.net, O=Example'", EINVAL};
    }
    const std::string attr = trim(rdn.substr(0, eq)), value = trim(rdn.substr(eq + 1));
    if (!X509_NAME_add_entry_by_txt(name.get(), attr.c_str(), MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.c_str()),
                                    -1, -1, 0)) {
      ERR_clear_error();
      return Error{"'" + attr + "' in the DN '" + std::string(text) + "' is not an attribute OpenSSL knows (CN, O, OU, C, ...)",
                   EINVAL};
    }
    start = comma + 1;
  }
  return name;
}

Result<X509NamePtr> name_from_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509NamePtr n(d2i_X509_NAME(nullptr, &p, static_cast<long>(der.size())));
  if (!n || p != der.data() + der.size()) {
    ERR_clear_error();
    return Error{"the DER_ASN1_DN identity is not a DER Name", EBADMSG};
  }
  return n;
}

}  // namespace

// ---- Certificate ----

Result<Certificate> Certificate::from_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x || p != der.data() + der.size()) return Error{"not a DER X.509 certificate: " + openssl_error(), EBADMSG};
  Certificate c;
  c.x_ = std::move(x);
  return c;
}

Result<std::vector<Certificate>> Certificate::from_pem(std::string_view pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<Certificate> out;
  while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) {
    Certificate c;
    c.x_ = X509Ptr(x);
    out.push_back(std::move(c));
  }
  ERR_clear_error();  // the end of the text
  if (out.empty()) return Error{"no PEM certificate (-----BEGIN CERTIFICATE-----) in it", EINVAL};
  return out;
}

Bytes Certificate::der() const {
  unsigned char* buf = nullptr;
  const int len = i2d_X509(x_.get(), &buf);
  Bytes out(buf, buf + std::max(len, 0));
  OPENSSL_free(buf);
  return out;
}

std::string Certificate::subject() const { return name_line(X509_get_subject_name(x_.get())); }
std::string Certificate::issuer() const { return name_line(X509_get_issuer_name(x_.get())); }

Bytes Certificate::subject_der() const {
  unsigned char* buf = nullptr;
  const int len = i2d_X509_NAME(X509_get_subject_name(x_.get()), &buf);
  Bytes out(buf, buf + std::max(len, 0));
  OPENSSL_free(buf);
  return out;
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::from_pem(const Secret& pem) {
  BioPtr b(BIO_new_mem_buf(pem.bytes().data(), static_cast<int>(pem.size())));
  PkeyPtr k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) {
    ERR_clear_error();
    return Error{"not an unencrypted PEM private key (RSA or EC)", EINVAL};
  }
  PrivateKey key;
  key.k_ = std::move(k);
  if (!key.rsa() && !key.ec()) return Error{"the private key is neither RSA nor EC", EINVAL};
  if (key.ec() && key.ec_bits() == 0) return Error{"the EC private key is not on P-256, P-384 or P-521", EINVAL};
  if (key.rsa() && key.bits() < 2048) return Error{"the RSA private key has " + std::to_string(key.bits()) + " bits (2048 at least)", EINVAL};
  return key;
}

bool PrivateKey::rsa() const { return EVP_PKEY_is_a(k_.get(), "RSA"); }
bool PrivateKey::ec() const { return EVP_PKEY_is_a(k_.get(), "EC"); }
int PrivateKey::bits() const { return EVP_PKEY_get_bits(k_.get()); }
int PrivateKey::ec_bits() const {
  if (!ec()) return 0;
  char curve[64] = {};
  size_t len = 0;
  if (!EVP_PKEY_get_utf8_string_param(k_.get(), "group", curve, sizeof curve, &len)) return 0;
  const std::string_view c(curve, len);
  if (c == "prime256v1" || c == "P-256") return 256;
  if (c == "secp384r1" || c == "P-384") return 384;
  if (c == "secp521r1" || c == "P-521") return 521;
  return 0;
}

// ---- TrustStore ----

Result<TrustStore> TrustStore::from_certificates(std::vector<Certificate> cas) {
  TrustStore t;
  t.store_ = X509StorePtr(X509_STORE_new());
  for (const auto& c : cas) {
    if (!X509_STORE_add_cert(t.store_.get(), c.get())) return Error{"adding CA " + c.subject() + ": " + openssl_error(), EINVAL};
  }
  t.cas_ = std::move(cas);
  return t;
}

Result<TrustStore> TrustStore::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".pem" || ext == ".crt" || ext == ".cer")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) return Error{path + ": no *.pem, *.crt or *.cer CA certificates in it", ENOENT};
  } else if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    return Error{path + ": no such file or directory", ENOENT};
  }
  std::vector<Certificate> cas;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    auto certs = Certificate::from_pem(text.str());
    if (!certs) return certs.error().context(f.string());
    for (auto& c : *certs) cas.push_back(std::move(c));
  }
  return from_certificates(std::move(cas));
}

Bytes TrustStore::certreq_hashes() const {
  Bytes out;
  for (const auto& c : cas_) {
    unsigned char* spki = nullptr;
    const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c.get()), &spki);
    uint8_t h[SHA_DIGEST_LENGTH];
    SHA1(spki, static_cast<size_t>(std::max(len, 0)), h);
    OPENSSL_free(spki);
    out.insert(out.end(), h, h + sizeof h);
  }
  return out;
}

Status TrustStore::verify(const Certificate& leaf, const std::vector<Certificate>& intermediates) const {
  X509StackPtr untrusted(sk_X509_new_null());
  for (const auto& c : intermediates) sk_X509_push(untrusted.get(), c.get());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!X509_STORE_CTX_init(ctx.get(), store_.get(), leaf.get(), untrusted.get())) return Error{openssl_error(), EINVAL};
  if (X509_verify_cert(ctx.get()) == 1) return {};
  const int err = X509_STORE_CTX_get_error(ctx.get());
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
  ERR_clear_error();
  std::string where = at ? " at " + name_line(X509_get_subject_name(at)) : "";
  return Error{"certificate " + leaf.subject() + " does not verify: " + X509_verify_cert_error_string(err) + " (depth " +
                   std::to_string(depth) + where + ")",
               EACCES};
}

// ---- Identities ----

Status id_matches_certificate(const Certificate& cert, uint8_t id_type, std::span<const uint8_t> id_data) {
  if (id_type == kIdDerAsn1Dn) {
    auto name = name_from_der(id_data);
    if (!name) return name.error();
    if (X509_NAME_cmp(name->get(), X509_get_subject_name(cert.get())) == 0) return {};
    return Error{"the ID " + name_line(name->get()) + " is not the certificate's subject " + cert.subject(), EACCES};
  }
  if (id_type == kIdKeyId) {
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert.get());
    if (ski && static_cast<size_t>(ASN1_STRING_length(ski)) == id_data.size() &&
        std::memcmp(ASN1_STRING_get0_data(ski), id_data.data(), id_data.size()) == 0) {
      return {};
    }
    return Error{"the KEY_ID is not the certificate's subjectKeyIdentifier", EACCES};
  }
  int gen_type = 0;
  const char* kind = "";
  switch (id_type) {
    case kIdFqdn: gen_type = GEN_DNS; kind = "DNS"; break;
    case kIdRfc822: gen_type = GEN_EMAIL; kind = "email"; break;
    case kIdIpv4:
    case kIdIpv6: gen_type = GEN_IPADD; kind = "IP address"; break;
    default: return Error{"ID type " + std::to_string(id_type) + " cannot name a certificate", EACCES};
  }
  if ((id_type == kIdIpv4 && id_data.size() != 4) || (id_type == kIdIpv6 && id_data.size() != 16)) {
    return Error{"the IP address ID has " + std::to_string(id_data.size()) + " bytes", EBADMSG};
  }
  GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  const std::string_view text(reinterpret_cast<const char*>(id_data.data()), id_data.size());
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans.get(), i);
    if (g->type != gen_type) continue;
    const ASN1_STRING* s = g->type == GEN_IPADD ? g->d.iPAddress : g->d.ia5;
    const std::string_view v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
    if (gen_type == GEN_IPADD ? v == text : iequal(v, text)) return {};
  }
  return Error{"the certificate " + cert.subject() + " has no subjectAltName " + kind + " " +
                   describe_id(encode_typed(id_type, id_data)),
               EACCES};
}

Result<Bytes> encode_id_data(uint8_t id_type, std::string_view text) {
  const std::string s(text);
  if (id_type == kIdIpv4 || id_type == kIdIpv6) {
    uint8_t buf[16];
    const int af = id_type == kIdIpv4 ? AF_INET : AF_INET6;
    if (inet_pton(af, s.c_str(), buf) != 1) return Error{"'" + s + "' is not an IPv" + (af == AF_INET ? "4" : "6") + " address", EINVAL};
    return Bytes(buf, buf + (af == AF_INET ? 4 : 16));
  }
  if (id_type == kIdDerAsn1Dn) {
    auto name = parse_dn(text);
    if (!name) return name.error();
    unsigned char* der = nullptr;
    const int len = i2d_X509_NAME(name->get(), &der);
    Bytes out(der, der + std::max(len, 0));
    OPENSSL_free(der);
    return out;
  }
  return Bytes(text.begin(), text.end());
}

bool id_payload_is(uint8_t id_type, std::string_view text, std::span<const uint8_t> id_body) {
  if (id_body.size() < 4 || id_body[0] != id_type) return false;
  const auto data = id_body.subspan(4);
  if (id_type == kIdDerAsn1Dn) {
    auto want = parse_dn(text);
    auto got = name_from_der(data);
    return want && got && X509_NAME_cmp(want->get(), got->get()) == 0;
  }
  auto want = encode_id_data(id_type, text);
  return want && std::equal(want->begin(), want->end(), data.begin(), data.end());
}

std::string describe_id(std::span<const uint8_t> id_body) {
  if (id_body.size() < 4) return "(empty ID)";
  const auto data = id_body.subspan(4);
  char addr[INET6_ADDRSTRLEN] = {};
  switch (id_body[0]) {
    case kIdIpv4:
      if (data.size() == 4 && inet_ntop(AF_INET, data.data(), addr, sizeof addr)) return addr;
      break;
    case kIdIpv6:
      if (data.size() == 16 && inet_ntop(AF_INET6, data.data(), addr, sizeof addr)) return addr;
      break;
    case kIdDerAsn1Dn:
      if (auto n = name_from_der(data)) return name_line(n->get());
      break;
    case kIdKeyId: {
      std::string hex;
      static constexpr char kDigits[] = "0123456789abcdef";
      for (uint8_t b : data) {
        hex += kDigits[b >> 4];
        hex += kDigits[b & 15];
      }
      return "keyid:" + hex;
    }
    default: {
      std::string s;
      for (uint8_t c : data) s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
      return s;
    }
  }
  return "(malformed ID of type " + std::to_string(id_body[0]) + ")";
}

Result<std::shared_ptr<PubkeyAuth>> load_pubkey_auth(const std::string& certificate_file, const Secret& private_key_pem,
                                                     const std::string& ca_path) {
  auto out = std::make_shared<PubkeyAuth>();
  std::ifstream in(certificate_file, std::ios::binary);
  if (!in) return Error{"cannot read " + certificate_file, ENOENT};
  std::ostringstream text;
  text << in.rdbuf();
  auto chain = Certificate::from_pem(text.str());
  if (!chain) return chain.error().context(certificate_file);
  out->chain = std::move(*chain);
  auto key = PrivateKey::from_pem(private_key_pem);
  if (!key) return key.error().context("the private key");
  out->key = std::move(*key);
  if (X509_check_private_key(out->chain.front().get(), out->key.get()) != 1) {
    ERR_clear_error();
    return Error{"the private key is not the key of " + certificate_file + " (" + out->chain.front().subject() + ")", EINVAL};
  }
  auto trust = TrustStore::load(ca_path);
  if (!trust) return trust.error();
  out->trust = std::move(*trust);
  return out;
}

}  // namespace sedge::ike

#include "onboarding/conductor/ca.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "common/files.h"
#include "common/openssl_error.h"

namespace sedge::conductor {

namespace {

using FilePtr = std::unique_ptr<FILE, decltype(&fclose)>;

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Result<PkeyPtr> read_key(const std::string& path) {
  FilePtr f(fopen(path.c_str(), "re"), fclose);
  if (!f) return Error::sys("opening " + path);
  PkeyPtr key(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
  if (!key) return openssl_error("reading the private key " + path);
  return key;
}

Result<X509Ptr> read_cert(const std::string& path) {
  FilePtr f(fopen(path.c_str(), "re"), fclose);
  if (!f) return Error::sys("opening " + path);
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) return openssl_error("reading the certificate " + path);
  return cert;
}

// PEM text from an OpenSSL writer on a memory BIO.
template <typename Write>
Result<std::string> to_pem(Write write) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || write(bio.get()) != 1) return openssl_error("encoding PEM");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Status write_key(const std::string& path, EVP_PKEY* key) {
  auto pem = to_pem([&](BIO* b) { return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  if (!pem) return pem.error();
  Status s = write_file_atomic(path, *pem, 0600);
  OPENSSL_cleanse(pem->data(), pem->size());
  return s;
}

Result<PkeyPtr> new_p256_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return openssl_error("generating an ECDSA P-256 key");
  return key;
}

Status add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  const X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr) return openssl_error(std::string("building extension ") + OBJ_nid2sn(nid));
  if (X509_add_ext(cert, ext.get(), -1) != 1) return openssl_error("adding an extension");
  return {};
}

Result<std::string> random_serial(ASN1_INTEGER* into) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return openssl_error("drawing a serial number");
  raw[0] &= 0x7f;  // positive
  raw[0] |= 0x40;  // and of full length
  const BignumPtr bn(BN_bin2bn(raw, sizeof raw, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), into);
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  for (char& c : out) c = static_cast<char>(tolower(c));
  return out;
}

struct CertSpec {
  std::string common_name;
  int days = 365;
  std::vector<std::pair<int, const char*>> extensions;
};

// Builds and signs a certificate for `subject_key` (the issuer itself when issuer is null).
Result<IssuedCertificate> build(EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key, const CertSpec& spec,
                                X509Ptr* out_cert) {
  X509Ptr cert(X509_new());
  if (!cert) return openssl_error("allocating a certificate");
  X509_set_version(cert.get(), X509_VERSION_3);
  auto serial = random_serial(X509_get_serialNumber(cert.get()));
  if (!serial) return serial.error();
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("sedge"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  time_t now = time(nullptr);
  X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -300, &now);  // tolerate clocks a little behind
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), spec.days, 0, &now);
  X509_set_pubkey(cert.get(), subject_key);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  for (auto [nid, value] : spec.extensions) {
    if (auto s = add_extension(cert.get(), signer, nid, value); !s) return s.error();
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) return openssl_error("signing the certificate");
  IssuedCertificate issued;
  issued.serial = *serial;
  issued.not_after = static_cast<int64_t>(now) + int64_t{spec.days} * 86400;
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  if (len <= 0) return openssl_error("encoding the certificate");
  issued.der.assign(der, der + len);
  OPENSSL_free(der);
  auto pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
  if (!pem) return pem.error();
  issued.pem = std::move(*pem);
  if (out_cert != nullptr) *out_cert = std::move(cert);
  return issued;
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::load_or_create(const std::string& dir, const std::string& name) {
  const std::string cert_file = dir + "/ca.crt", key_file = dir + "/ca.key";
  if (exists(cert_file) != exists(key_file))
    return Error{"only one of " + cert_file + " and " + key_file + " exists: restore the other or remove both"};
  if (!exists(cert_file)) {
    auto key = new_p256_key();
    if (!key) return key.error();
    CertSpec spec{name, 3650,
                  {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                   {NID_key_usage, "critical,keyCertSign,cRLSign"},
                   {NID_subject_key_identifier, "hash"}}};
    X509Ptr cert;
    auto issued = build(key->get(), nullptr, key->get(), spec, &cert);
    if (!issued) return issued.error();
    if (auto s = write_key(key_file, key->get()); !s) return s.error();
    auto pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
    if (!pem) return pem.error();
    if (auto s = write_file_atomic(cert_file, *pem, 0644); !s) return s.error();
  }
  auto key = read_key(key_file);
  if (!key) return key.error();
  auto cert = read_cert(cert_file);
  if (!cert) return cert.error();
  if (X509_check_private_key(cert->get(), key->get()) != 1) return Error{key_file + " is not the key of " + cert_file};
  return CertificateAuthority(std::move(*cert), std::move(*key), cert_file);
}

Result<IssuedCertificate> CertificateAuthority::issue(std::span<const uint8_t> spki_der, const std::string& common_name,
                                                      Usage usage, int days) const {
  const unsigned char* p = spki_der.data();
  PkeyPtr subject(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (!subject || p != spki_der.data() + spki_der.size()) return Error{"not a SubjectPublicKeyInfo", EBADMSG};
  CertSpec spec{common_name, days,
                {{NID_basic_constraints, "critical,CA:FALSE"},
                 {NID_key_usage, "critical,digitalSignature"},
                 {NID_ext_key_usage, usage == Usage::server ? "serverAuth" : "clientAuth"},
                 {NID_subject_key_identifier, "hash"},
                 {NID_authority_key_identifier, "keyid:always"}}};
  return build(subject.get(), cert_.get(), key_.get(), spec, nullptr);
}

std::string CertificateAuthority::certificate_pem() const {
  auto pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert_.get()); });
  return pem ? *pem : std::string();
}

Result<Bytes> load_or_create_key(const std::string& path) {
  if (!exists(path)) {
    auto key = new_p256_key();
    if (!key) return key.error();
    if (auto s = write_key(path, key->get()); !s) return s.error();
  }
  auto key = read_key(path);
  if (!key) return key.error();
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key->get(), &der);
  if (len <= 0) return openssl_error("encoding the public key of " + path);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Result<Bytes> certificate_spki(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return Error{"not a DER certificate", EBADMSG};
  unsigned char* spki = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &spki);
  if (len <= 0) return openssl_error("encoding the certificate's public key");
  Bytes out(spki, spki + len);
  OPENSSL_free(spki);
  return out;
}

Status verify_with_cas(std::span<const uint8_t> der, const std::string& ca_dir) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return Error{"it is not a DER certificate", EBADMSG};
  X509StorePtr store(X509_STORE_new());
  struct DirClose {
    void operator()(DIR* d) const { closedir(d); }
  };
  std::unique_ptr<DIR, DirClose> dir(opendir(ca_dir.c_str()));
  if (!dir) return Error::sys("opening the manufacturer CA directory " + ca_dir);
  int anchors = 0;
  while (dirent* e = readdir(dir.get())) {
    std::string file = e->d_name;
    if (file.size() < 5 || (file.substr(file.size() - 4) != ".pem" && file.substr(file.size() - 4) != ".crt")) continue;
    anchors += X509_STORE_load_file(store.get(), (ca_dir + "/" + file).c_str()) == 1 ? 1 : 0;
  }
  if (anchors == 0) return Error{"no CA certificate (*.pem, *.crt) in " + ca_dir};
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    return Error{std::string("it does not verify to a manufacturer CA in ") + ca_dir + ": " +
                     X509_verify_cert_error_string(err),
                 EKEYREJECTED};
  }
  return {};
}

}  // namespace sedge::conductor

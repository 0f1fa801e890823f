// X.509 for IKE_AUTH (RFC 7296 2.15, 3.5-3.7): our certificate chain and private key, the trust
// store (CA certificates) with the SHA-1 SPKI hashes a CERTREQ carries, verification of a peer's
// chain to one of those CAs, and whether an ID payload names a certificate. OpenSSL 3 only.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "ike/message.h"
#include "ike/protocol.h"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_store_st X509_STORE;

namespace sedge::ike {

class Certificate {
 public:
  static Result<Certificate> from_der(std::span<const uint8_t> der);
  // Every certificate of a PEM text, in order (the first is ours, the rest its chain).
  static Result<std::vector<Certificate>> from_pem(std::string_view pem);
  X509* get() const { return x_.get(); }
  Bytes der() const;
  std::string subject() const;  // one line, for logs
  std::string issuer() const;
  // The subject as a DER Name: the data of a DER_ASN1_DN ID payload.
  Bytes subject_der() const;

 private:
  std::shared_ptr<X509> x_;
};

// A private key from PEM (PKCS#8 or the traditional RSA/EC forms, unencrypted). The PEM text is
// a Secret and is never logged; errors say what is wrong, not what is in it.
class PrivateKey {
 public:
  static Result<PrivateKey> from_pem(const Secret& pem);
  EVP_PKEY* get() const { return k_.get(); }
  bool rsa() const;
  bool ec() const;
  int ec_bits() const;  // 256, 384 or 521 for the NIST curves; 0 otherwise
  int bits() const;

 private:
  std::shared_ptr<EVP_PKEY> k_;
};

class TrustStore {
 public:
  // CA certificates from a PEM file, or from every *.pem / *.crt / *.cer file of a directory.
  static Result<TrustStore> load(const std::string& path);
  static Result<TrustStore> from_certificates(std::vector<Certificate> cas);
  // CERTREQ data: the SHA-1 of each CA's SubjectPublicKeyInfo, concatenated (RFC 7296 3.7).
  Bytes certreq_hashes() const;
  // The chain from `leaf` (with the peer's `intermediates`) to one of our CAs, validity included.
  Status verify(const Certificate& leaf, const std::vector<Certificate>& intermediates) const;
  size_t size() const { return cas_.size(); }

 private:
  std::shared_ptr<X509_STORE> store_;
  std::vector<Certificate> cas_;
};

// Whether an ID (type, data) names `cert`: DER_ASN1_DN the subject; FQDN, RFC822, IPv4 and IPv6 a
// subjectAltName of that kind (names compared without regard to case); KEY_ID the certificate's
// subjectKeyIdentifier. The error says why not.
Status id_matches_certificate(const Certificate& cert, uint8_t id_type, std::span<const uint8_t> id_data);

// An identity as written in the configuration into ID payload data: addresses as their 4 or 16
// bytes, a DN ("CN=pop1.example.net, O=Example", RDNs in the order written, no escaped commas) as
// its DER Name, other types as the text.
Result<Bytes> encode_id_data(uint8_t id_type, std::string_view text);
// Whether a received ID payload body (type, 3 reserved bytes, data) is the configured identity;
// DNs are compared as names (X509_NAME_cmp), not as bytes.
bool id_payload_is(uint8_t id_type, std::string_view text, std::span<const uint8_t> id_body);
// A received ID for logs: the text, a dotted or colon address, a DN in one line, KEY_ID in hex.
std::string describe_id(std::span<const uint8_t> id_body);

// What a tunnel authenticating with a certificate holds: our key and chain, the CAs we trust.
struct PubkeyAuth {
  PrivateKey key;
  std::vector<Certificate> chain;  // ours first
  TrustStore trust;
  bool rsa_pss = true;  // RSA keys sign with RSASSA-PSS (RFC 7427); false: PKCS#1 v1.5
};

// Our certificate (a PEM file: ours, then intermediates), private key (PEM text) and CAs (a PEM
// file or a directory), checked to belong together: the key is the certificate's.
Result<std::shared_ptr<PubkeyAuth>> load_pubkey_auth(const std::string& certificate_file, const Secret& private_key_pem,
                                                     const std::string& ca_path);

}  // namespace sedge::ike

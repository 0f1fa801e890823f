// The conductor's certificate authority and keys, kept as PEM files in its state directory:
// an ECDSA P-256 CA that issues the conductor's own TLS certificate and each onboarded router's
// certificate (for a key the router's TPM holds), and the check of a router's EK certificate
// against the manufacturer CAs the operator trusts.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/openssl.h"
#include "common/result.h"

namespace sedge::conductor {

using Bytes = std::vector<uint8_t>;

enum class Usage { server, client };

struct IssuedCertificate {
  std::string serial;  // hex
  Bytes der;
  std::string pem;
  int64_t not_after = 0;  // Unix seconds
};

class CertificateAuthority {
 public:
  // Loads ca.crt and ca.key from dir, creating them first when both are absent (the key file
  // mode 0600). One without the other is an error: a half-written state is not silently replaced.
  static Result<CertificateAuthority> load_or_create(const std::string& dir, const std::string& name);

  // A certificate for a SubjectPublicKeyInfo (DER) with this CN, for TLS server or client use.
  Result<IssuedCertificate> issue(std::span<const uint8_t> spki_der, const std::string& common_name, Usage usage,
                                  int days) const;
  std::string certificate_pem() const;
  const std::string& certificate_file() const { return cert_file_; }

 private:
  CertificateAuthority(X509Ptr cert, PkeyPtr key, std::string cert_file)
      : cert_(std::move(cert)), key_(std::move(key)), cert_file_(std::move(cert_file)) {}
  X509Ptr cert_;
  PkeyPtr key_;
  std::string cert_file_;
};

// A fresh ECDSA P-256 key written to `path` (0600) unless one is there; returns its SPKI DER.
Result<Bytes> load_or_create_key(const std::string& path);

// SubjectPublicKeyInfo DER of a DER certificate.
Result<Bytes> certificate_spki(std::span<const uint8_t> der);

// Verifies a DER certificate (the EK's) against the CA certificates in the PEM files of a
// directory; a CA there is a trust anchor even when it is an intermediate (manufacturers
// publish their issuing CAs). The error says what OpenSSL found wrong.
Status verify_with_cas(std::span<const uint8_t> der, const std::string& ca_dir);

}  // namespace sedge::conductor

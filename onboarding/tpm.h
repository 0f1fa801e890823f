// The router's TPM, through tpm2-tss ESAPI (TCTI from configuration: the kernel's resource
// manager by default, swtpm in tests): the endorsement key's certificate from NV, and the EK
// recreated from the TCG standard template, checked against that certificate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace sedge::onboarding {

using Bytes = std::vector<uint8_t>;

inline constexpr uint32_t kEkCertRsa2048Index = 0x01c00002;  // TCG EK Credential Profile

struct EkPublic {
  Bytes modulus;  // RSA-2048 public modulus, big-endian
  Bytes name;     // the TPM object name: nameAlg (SHA-256) || hash of TPMT_PUBLIC
};

class Tpm {
 public:
  // tcti: e.g. "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321".
  static Result<std::unique_ptr<Tpm>> open(const std::string& tcti);
  ~Tpm();
  Tpm(const Tpm&) = delete;
  Tpm& operator=(const Tpm&) = delete;

  // The DER certificate stored at an NV index (read in chunks the TPM accepts).
  Result<Bytes> read_nv(uint32_t index);
  // Creates the RSA-2048 EK from the standard template (TCG EK Credential Profile, template
  // L-1: restricted decryption key, policy PolicySecret(TPM_RH_ENDORSEMENT)) and returns its
  // public part; the handle is flushed again.
  Result<EkPublic> create_ek_rsa();

 private:
  Tpm() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The RSA modulus of a DER certificate's public key (to compare with the EK).
Result<Bytes> certificate_rsa_modulus(const Bytes& der);

}  // namespace sedge::onboarding

// The router's TPM, through tpm2-tss ESAPI (TCTI from configuration: the kernel's resource
// manager by default, swtpm in tests). What onboarding needs from it:
//   - the endorsement key (EK) of a TCG profile, recreated from its standard template and
//     checked against the certificate the manufacturer stored in NV (checked_ek), and
//     persisted at a handle of our choice (persist_ek);
//   - an attestation key (AK), a restricted signing key created under the EK or a storage
//     primary, persisted (create_ak); its attributes are checked after creation;
//   - TPM2_ActivateCredential with the EK's PolicySecret(TPM_RH_ENDORSEMENT) session, which
//     recovers the conductor's secret only if the AK lives next to the EK (activate_credential);
//     the secret comes back encrypted (AES-128-CFB) by a session salted to the EK, as the AK's
//     and the TLS key's sensitive part goes to TPM2_Create by one salted to their parent, so
//     nothing between this process and the TPM (resource manager, bus, TCTI log) sees either;
//   - TPM2_Quote over a nonce and PCRs with the AK (quote);
//   - a persisted, non-restricted signing key for the router's TLS certificate that OpenSSL's
//     tpm2 provider uses as "handle:0x81008003" (create_tls_key).
// The conductor's side of the same exchange is onboarding/credential.h and onboarding/quote.h.
//
// Persistent handles: the defaults follow the TCG registry's endorsement range (the RSA EK at
// 0x81010001 as tpm2-tools and swtpm put it there). An occupied handle is reused only when the
// object there matches what would have been created; anything else there is an error, never
// evicted behind the operator's back. Every call is synchronous; a Tpm is not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "onboarding/credential.h"
#include "onboarding/quote.h"
#include "onboarding/tpm_wire.h"

namespace sedge::onboarding {

inline constexpr uint32_t kEkCertRsa2048Index = 0x01c00002;  // TCG EK Credential Profile
// Persistent handles. The EKs sit where the TCG registry puts each profile (manufacturers and
// tpm2-tools do the same: 0x81010002 is the P-256 EK's), so sedge's own keys stay out of that
// range and cannot collide with an EK a manufacturer persisted.
inline constexpr uint32_t kDefaultEkHandle = 0x81010001;  // RSA-2048 EK
inline constexpr uint32_t kDefaultAkHandle = 0x81008002;
inline constexpr uint32_t kDefaultTlsKeyHandle = 0x81008003;
// Where a manufacturer persists the IDevID signing key (TCG TPM 2.0 Keys for Device Identity
// and Attestation suggests 0x81020000).
inline constexpr uint32_t kDefaultIdevidHandle = 0x81020000;
// The registry's handle for a profile's EK: 0x81010001 (RSA-2048), 0x81010002 (P-256),
// 0x81010016 (P-384, high range).
constexpr uint32_t ek_handle(EkProfile profile) {
  return profile == EkProfile::kEccP256 ? 0x81010002 : profile == EkProfile::kEccP384 ? 0x81010016 : 0x81010001;
}

// An EK as the TPM made it.
struct EkPublic {
  Bytes modulus;         // RSA profiles: the public modulus, big-endian (empty for ECC)
  Bytes name;            // the TPM object name: nameAlg || hash of TPMT_PUBLIC
  EkProfile profile = EkProfile::kRsa2048;
  PublicArea area;       // parsed public area (ECC: area.ecc_x / ecc_y)
  Bytes public_area;     // TPM2B_PUBLIC wire form (what tpm2_readpublic -o writes)
  uint32_t handle = 0;   // persistent handle, 0 when the EK was flushed again
  bool created = false;  // persist_ek: true when this call persisted it, false when reused
  Bytes certificate;     // DER, filled by checked_ek only
};

// Any other key the TPM holds for us (AK, TLS key).
struct KeyPublic {
  PublicArea area;
  Bytes public_area;     // TPM2B_PUBLIC wire form
  Bytes name;            // TPM name, as the TPM reports it (and equal to object_name(area))
  uint32_t handle = 0;   // persistent handle
  bool created = false;  // false: an existing matching key was reused
};

// Where the AK is created.
enum class AkParent {
  kEndorsement,  // under the EK (persisted first at AkOptions::ek_handle): tpm2_createak's way
  kStorage,      // under the TCG storage root key template in the owner hierarchy
};

struct AkOptions {
  uint16_t type = alg::kRsa;  // alg::kRsa (RSA-2048 RSASSA-SHA256) or alg::kEcc (P-256 ECDSA-SHA256)
  AkParent parent = AkParent::kEndorsement;
  EkProfile ek_profile = EkProfile::kRsa2048;  // for kEndorsement
  uint32_t ek_handle = kDefaultEkHandle;       // for kEndorsement
  uint32_t handle = kDefaultAkHandle;          // where the AK is persisted
};

struct TlsKeyOptions {
  uint16_t type = alg::kEcc;  // alg::kEcc (P-256) or alg::kRsa (RSA-2048); both sign with scheme NULL
  uint32_t handle = kDefaultTlsKeyHandle;
};

// A quote (or a certify) as the TPM returns it, in wire form, for onboarding/quote.h
// verify_quote (verify_certify).
struct Quote {
  Bytes attest;     // TPMS_ATTEST (TPM2B_ATTEST's content): what was signed
  Bytes signature;  // TPMT_SIGNATURE
};

class Tpm {
 public:
  // tcti: e.g. "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321".
  static Result<std::unique_ptr<Tpm>> open(const std::string& tcti);
  ~Tpm();
  Tpm(const Tpm&) = delete;
  Tpm& operator=(const Tpm&) = delete;

  // The data of an NV index (e.g. a DER EK certificate), read in chunks the TPM accepts.
  Result<Bytes> read_nv(uint32_t index);

  // Creates the EK of `profile` from its standard template (a transient object, flushed again)
  // and returns its public part.
  Result<EkPublic> create_ek(EkProfile profile);
  // The RSA-2048 EK (template L-1); same as create_ek(EkProfile::kRsa2048).
  Result<EkPublic> create_ek_rsa();
  // create_ek, then reads the profile's certificate from NV (ek_certificate_index) and refuses
  // an EK whose public key is not the certificate's. The result carries the certificate.
  Result<EkPublic> checked_ek(EkProfile profile);
  // Makes sure the EK of `profile` is persisted at `handle`: reused when the object there has
  // the EK's name, persisted (TPM2_EvictControl) when the handle is free, an error otherwise.
  Result<EkPublic> persist_ek(EkProfile profile, uint32_t handle = kDefaultEkHandle);

  // Creates an attestation key and persists it at options.handle, or reuses the key there when
  // it passes check_ak_attributes and has the requested type and scheme. A created key whose
  // attributes the TPM did not give as asked (fixedTPM, fixedParent, sensitiveDataOrigin,
  // userWithAuth, restricted, sign) is flushed and refused.
  Result<KeyPublic> create_ak(const AkOptions& options = {});

  // The public area and name of the object at a persistent handle.
  Result<KeyPublic> read_public(uint32_t handle);

  // TPM2_ActivateCredential: the AK at ak_handle is the credential's object, the EK at
  // ek_handle decrypts the seed (authorised by PolicySecret(TPM_RH_ENDORSEMENT) for the
  // low-range EK templates, by its empty auth value for the high range ones, which have
  // userWithAuth). Returns the conductor's secret; fails when the credential was made for
  // another EK or another AK name, or was altered.
  Result<Secret> activate_credential(uint32_t ek_handle, uint32_t ak_handle, const Credential& credential);

  // TPM2_Quote with the AK at ak_handle (its own scheme) over `nonce` (qualifyingData, at most
  // 64 bytes) and the PCRs selected.
  Result<Quote> quote(uint32_t ak_handle, ByteView nonce, const std::vector<PcrSelection>& pcrs);

  // TPM2_Certify: the signing key at sign_handle (the IDevID key; its own scheme, or ECDSA /
  // RSASSA with SHA-256 when it has none) certifies the object at object_handle (the AK) over
  // `qualifying` (at most 64 bytes). Both are authorised by their empty auth values.
  Result<Quote> certify(uint32_t sign_handle, uint32_t object_handle, ByteView qualifying);

  // The router's TLS key: a non-restricted signing key (fixedTPM|fixedParent|
  // sensitiveDataOrigin|userWithAuth|sign, scheme NULL) under the storage root key template,
  // persisted at options.handle (reused when the key there has exactly those attributes and the
  // type). OpenSSL's tpm2 provider signs with it as "handle:0x81010003"; public_key_der(area)
  // is the SubjectPublicKeyInfo for the certificate request.
  Result<KeyPublic> create_tls_key(const TlsKeyOptions& options = {});

  // Removes the object persisted at `handle` (TPM2_EvictControl); for re-provisioning and tests.
  Status evict(uint32_t handle);

 private:
  Tpm() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The RSA modulus of a DER certificate's public key (to compare with the EK).
Result<Bytes> certificate_rsa_modulus(const Bytes& der);
// Refuses when the DER certificate's public key is not the one in `ek`.
Status ek_matches_certificate(const PublicArea& ek, const Bytes& der);

}  // namespace sedge::onboarding

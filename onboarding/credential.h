// The conductor's half of credential activation, in pure software (no TPM): TPM2_MakeCredential
// as TPM 2.0 Part 1 section 24 (credential protection) and Annex B/C (secret sharing) define it.
//
// The conductor knows the router's EK (its certificate, from the device ID token) and the name
// of an attestation key the router says lives in the same TPM. It encrypts a fresh secret so
// that only that TPM can recover it, and only for an object with exactly that name:
//   seed       random, nameAlg-sized; to the EK by RSA-OAEP (label "IDENTITY\0", EK nameAlg)
//              for an RSA EK, or by one-pass ECDH (ephemeral key on the EK's curve, seed =
//              KDFe(nameAlg, Z, "IDENTITY", ephemeral x, EK x)) for an ECC EK
//   symKey     KDFa(nameAlg, seed, "STORAGE", AK name, "", EK symmetric key bits)
//   encIdentity AES-CFB(symKey, IV 0, TPM2B_DIGEST(secret))
//   hmacKey    KDFa(nameAlg, seed, "INTEGRITY", "", "", digest bits)
//   outerHMAC  HMAC(hmacKey, encIdentity || AK name)
// giving TPM2B_ID_OBJECT = size || TPM2B(outerHMAC) || encIdentity and TPM2B_ENCRYPTED_SECRET =
// size || (OAEP ciphertext | TPMS_ECC_POINT of the ephemeral key). The router hands both to
// TPM2_ActivateCredential (onboarding/tpm.h Tpm::activate_credential), which returns the secret
// only if the AK is loaded in the TPM that holds the EK.
#pragma once

#include <string>

#include "common/result.h"
#include "common/secret.h"
#include "onboarding/tpm_wire.h"

namespace sedge::onboarding {

// KDFa (Part 1, 11.4.10.2): HMAC_hash(key, [i]32 || label || 0x00 || context_u || context_v ||
// [bits]32) for i = 1, 2, ..., concatenated and cut to `bits` (a multiple of 8): SP 800-108's
// counter mode, computed by OpenSSL's KBKDF.
Result<Secret> kdfa(uint16_t hash_alg, ByteView key, const std::string& label, ByteView context_u, ByteView context_v,
                    size_t bits);
// KDFe (Part 1, 11.4.10.3): H([i]32 || Z || label || 0x00 || party_u || party_v), concatenated
// and cut to `bits` (a multiple of 8): SP 800-56C's one-step KDF with a hash, computed by
// OpenSSL's SSKDF.
Result<Secret> kdfe(uint16_t hash_alg, ByteView z, const std::string& label, ByteView party_u, ByteView party_v,
                    size_t bits);

// What TPM2_MakeCredential produces: both in their TPM wire form, each with its 2-byte size.
struct Credential {
  Bytes id_object;         // TPM2B_ID_OBJECT (credentialBlob)
  Bytes encrypted_secret;  // TPM2B_ENCRYPTED_SECRET (secret)
};

// Encrypts `secret` (1 to digest-size-of-EK-nameAlg bytes) to the EK for the object named
// `ak_name` (nameAlg || digest). `ek` is the EK's public area: ek_public_from_key(profile, key)
// from its certificate, or a TPM2B_PUBLIC the router sent, parsed; it must be a restricted
// decryption key with an AES-CFB symmetric definition (every EK template is).
Result<Credential> make_credential(const PublicArea& ek, ByteView ak_name, const Secret& secret);

// The file layout tpm2-tools uses for a credential (tpm2_makecredential -o,
// tpm2_activatecredential -i): magic 0xBADCC0DE, version 1 (both 4 bytes, big-endian), then
// TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET.
Bytes credential_file(const Credential& c);
Result<Credential> parse_credential_file(ByteView bytes);
// Checks the framing of the two TPM2Bs (sizes that match the bytes, nothing trailing).
Status check_credential(const Credential& c);

}  // namespace sedge::onboarding

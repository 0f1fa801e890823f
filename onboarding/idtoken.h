// The device ID token the operator hands to the conductor: who this router is, as its TPM
// proves it. JSON, one of two identities ("identity"):
//   ek      {"router_id", "mac", "identity": "ek", "ek_profile" (rsa2048, ecc-p256, ecc-p384),
//            "ek_certificate" (base64 DER), "ek_public_key" (base64 SubjectPublicKeyInfo DER),
//            "ek_name" (hex TPM name)}; a token without "identity" is an EK token
//   idevid  {"router_id", "mac", "identity": "idevid", "idevid_certificate" (base64 DER, the
//            manufacturer's device-ID certificate), "idevid_public_key" (base64 SPKI DER),
//            "idevid_public" (base64 TPM2B_PUBLIC of the key in the TPM), "idevid_name" (hex)}
// Nothing secret is in it.
#pragma once

#include <string>

#include "common/result.h"
#include "onboarding/tpm.h"

namespace sedge::onboarding {

// The MAC address of a network interface ("aa:bb:cc:dd:ee:ff"), from sysfs.
Result<std::string> interface_mac(const std::string& interface);

// Reads the EK certificate, recreates the EK and checks they match, then builds the token.
Result<std::string> device_id_token(Tpm& tpm, const std::string& router_id, const std::string& mac,
                                    EkProfile profile = EkProfile::kRsa2048);

// Reads the IDevID certificate (PEM file), the key at `handle` in the TPM, checks the key is a
// device identity key (check_idevid_attributes) and is the certificate's, then builds the token.
Result<std::string> idevid_id_token(Tpm& tpm, const std::string& router_id, const std::string& mac,
                                    const std::string& certificate_file,
                                    uint32_t handle = kDefaultIdevidHandle);

// SubjectPublicKeyInfo DER of a DER certificate's key.
Result<Bytes> certificate_public_key_der(ByteView cert_der);

}  // namespace sedge::onboarding

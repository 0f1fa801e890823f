// The device ID token the operator hands to the conductor: who this router is, as its TPM
// proves it. JSON: {"router_id", "mac", "ek_profile" (rsa2048, ecc-p256, ecc-p384), "ek_certificate" (base64 DER), "ek_public_key" (base64
// SubjectPublicKeyInfo DER), "ek_name" (hex TPM name)}. Nothing secret is in it.
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

}  // namespace sedge::onboarding

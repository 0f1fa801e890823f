// The router's side of onboarding: with a token from the conductor, prove with the TPM who this
// router is (port 930), keep the certificate the conductor issues for a TPM-held key, then hold
// the mutual-TLS management channel (port 933) with that key, reconnecting with backoff. The
// outcome is kept in a state directory, so a restart neither onboards twice nor forgets.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "common/result.h"
#include "common/secret.h"
#include "onboarding/tpm.h"

namespace sedge::onboarding {

struct RouterOptions {
  std::string tcti = "device:/dev/tpmrm0";
  std::string state_dir = "/var/lib/sedge/onboarding";
  std::string router_id;              // must be the token's
  std::string conductor;              // overrides the token's host when set
  uint16_t port = 0;                  // 0: the token's port (930)
  uint16_t management_port = 933;
  std::string identity = "ek";  // how the TPM proves who it is: "ek" or "idevid" (protocol.h)
  EkProfile ek_profile = EkProfile::kRsa2048;
  uint32_t idevid_handle = kDefaultIdevidHandle;  // the IDevID signing key, for "idevid"
  AkOptions ak;
  TlsKeyOptions tls_key;
};

// What a completed onboarding left in the state directory (state.json, router.crt, ca.crt).
struct OnboardState {
  std::string router_id;
  std::string conductor_host;
  uint16_t port = 930;
  uint16_t management_port = 933;
  std::string pin;  // hex SHA-256 of the conductor's TLS key
  std::string certificate_file;
  std::string ca_file;
  uint32_t tls_key_handle = kDefaultTlsKeyHandle;
  int64_t completed_at = 0;
};

// The completed onboarding on record; an error with code ENOENT when there is none.
Result<OnboardState> load_state(const std::string& state_dir);
// Forgets a completed onboarding (the TPM keys stay; they are reused when they match).
Status reset_state(const std::string& state_dir);

// Onboards with `token` (the compact onboarding token). Refused when an onboarding is on
// record: reset first. Each refusal by the conductor comes back with its reason.
Result<OnboardState> onboard(const RouterOptions& options, const Secret& token);

// The token from its file: a secret, so it goes straight into a Secret and the copy is wiped.
Result<Secret> read_token_file(const std::string& path);

// onboard(), retrying with exponential backoff (1 s to 60 s) while the conductor cannot be
// reached (down, restarting, a session cut short); a refusal or a local failure ends it, as
// does `stop`. on_retry hears each failed attempt and the wait before the next.
Result<OnboardState> onboard_with_retries(const RouterOptions& options, const Secret& token,
                                          const std::atomic<bool>& stop,
                                          const std::function<void(const Error&, int seconds)>& on_retry);

// Holds the management channel on port 933 until `stop`: connects with the router certificate
// (key in the TPM, through OpenSSL's tpm2 provider), says hello, pings every `ping_seconds`,
// and reconnects with exponential backoff (1 s to 60 s) when the conductor goes away. Each
// change (up, down with the reason) is reported to on_change.
Status hold_management_channel(const OnboardState& state, const std::string& tcti, const std::atomic<bool>& stop,
                               const std::function<void(bool up, const std::string& detail)>& on_change,
                               int ping_seconds = 20);

}  // namespace sedge::onboarding

// The journal's MESSAGE_IDs of sedge's events an operator acts on or alerts on (`journalctl
// MESSAGE_ID=…`, and `journalctl -x` explains each from systemd/sedge.catalog). Each was made
// once with `systemd-id128 new` and never changes; a unit test checks that the catalog has an
// entry for every id here and no other.
#pragma once

#include "common/log.h"

namespace sedge::log {

inline constexpr MessageId kTunnelUp{"tunnel-up", "8f8bfe787c7c429e8da911aca471dbe8"};
inline constexpr MessageId kTunnelDown{"tunnel-down", "8022e5c5b1f04445bda087111ad6ea26"};
inline constexpr MessageId kSteeringFailover{"steering-failover", "01a2a2c4cb0f448b9404b15d49459b9c"};
inline constexpr MessageId kRekeyFailed{"rekey-failed", "e4ca0bbf7b86431e985b8118aaf14487"};
inline constexpr MessageId kOnboardingResult{"onboarding-result", "6c81bc1797bb4285b4a568d238946e3b"};
inline constexpr MessageId kReloadRefused{"reload-refused", "220e05b7ab594da2a55649d426248421"};
inline constexpr MessageId kReloadApplied{"reload-applied", "c381d74e6b35422abad776aa31125378"};

inline constexpr MessageId kAllMessageIds[] = {kTunnelUp,    kTunnelDown,     kSteeringFailover, kRekeyFailed,
                                               kOnboardingResult, kReloadRefused, kReloadApplied};

}  // namespace sedge::log

// `sedgectl onboard …`: the router's onboarding commands. `run` and `status` ask sedged, which
// onboards and holds the management channel (org.sedge.Agent1.Onboard, OnboardingStatus);
// `export-idtoken` and `reset` work here, on the TPM and the state directory of the
// configuration, as an operator does once at the console before the daemon onboards.
#pragma once

#include <functional>
#include <string>

namespace sedge::ctl {

// A call of an argument-less org.sedge.Agent1 method: its string result, or the error.
struct DaemonReply {
  std::string text;
  std::string error;  // empty when it succeeded
};
// `user_bus`: the session bus (tests) instead of the system bus.
using CallDaemon = std::function<DaemonReply(const char* method, bool user_bus)>;

// argv[0] is "onboard"; `as_json` and `user_bus` from sedgectl's global --json and --user-bus.
// Exit status: 0 done, 1 failed, 2 bad arguments, 3 (status) not onboarded.
int onboard_command(int argc, char** argv, const CallDaemon& call, bool as_json, bool user_bus);

}  // namespace sedge::ctl

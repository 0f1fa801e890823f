// `sedgectl onboard …`: the router's onboarding commands. They run here, not in sedged, because
// they use the TPM directly and an operator runs them once, at the console.
#pragma once

namespace sedge::ctl {

int onboard_command(int argc, char** argv);  // argv[0] is "onboard"

}  // namespace sedge::ctl

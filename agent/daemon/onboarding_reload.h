// What a (re)load does to the onboarding worker: a pure decision on the running [Onboarding]
// and the wanted one, so that it is tested without a daemon, a TPM or a conductor.
#pragma once

#include <optional>

#include "agent/config/model.h"

namespace sedge::agent {

enum class OnboardingAction {
  none,     // no worker runs and none is wanted
  keep,     // the running worker's configuration is the wanted one: left untouched
  start,    // no worker runs: start one
  restart,  // a worker runs with another configuration: stop it, start one with the new
  stop,     // onboarding is off now (no [Onboarding], or no Conductor=): stop the worker
};

// `running`: the configuration of the worker that runs (nullopt: none runs). `wanted`: the
// loaded [Onboarding] (nullopt, or an empty Conductor=: onboarding off). Every setting is
// compared (config::Onboarding's operator==), only where it was written is not: moving the
// section to another file or line restarts nothing.
OnboardingAction onboarding_action(const std::optional<config::Onboarding>& running,
                                   const std::optional<config::Onboarding>& wanted);

const char* to_string(OnboardingAction action);

}  // namespace sedge::agent

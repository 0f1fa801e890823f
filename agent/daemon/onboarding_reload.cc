#include "agent/daemon/onboarding_reload.h"

namespace sedge::agent {

OnboardingAction onboarding_action(const std::optional<config::Onboarding>& running,
                                   const std::optional<config::Onboarding>& wanted) {
  const bool on = wanted && !wanted->conductor.empty();
  if (!on) return running ? OnboardingAction::stop : OnboardingAction::none;
  if (!running) return OnboardingAction::start;
  config::Onboarding a = *running, b = *wanted;
  a.where = b.where = {};
  return a == b ? OnboardingAction::keep : OnboardingAction::restart;
}

const char* to_string(OnboardingAction action) {
  switch (action) {
    case OnboardingAction::none: return "none";
    case OnboardingAction::keep: return "keep";
    case OnboardingAction::start: return "start";
    case OnboardingAction::restart: return "restart";
    case OnboardingAction::stop: return "stop";
  }
  return "?";
}

}  // namespace sedge::agent

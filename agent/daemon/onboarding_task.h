// Onboarding inside sedged: when [Onboarding] names a conductor, a worker thread onboards once
// (the outcome on record in StateDirectory= is reused across restarts) and then holds the
// management channel; Describe reports where it stands. The TPM and the network are slow and
// blocking, so this runs beside the event loop, never in it.
#pragma once

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "agent/config/model.h"
#include "onboarding/router.h"

namespace sedge::agent {

onboarding::RouterOptions router_options(const config::Onboarding& o);

class OnboardingTask {
 public:
  explicit OnboardingTask(config::Onboarding config);
  ~OnboardingTask();  // stops the worker and waits for it
  OnboardingTask(const OnboardingTask&) = delete;
  OnboardingTask& operator=(const OnboardingTask&) = delete;

  const config::Onboarding& config() const { return config_; }
  // {"auth_state": "not-onboarded|onboarding|completed|failed", "channel": "up|down", "detail": …}
  nlohmann::json describe() const;
  // The worker has returned: onboarding failed or could not start, or the management channel
  // ended; Onboard() starts a new one.
  bool finished() const { return finished_; }

 private:
  void work();
  void set(const std::string& auth_state, const std::string& channel, const std::string& detail);

  config::Onboarding config_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  mutable std::mutex lock_;
  std::string auth_state_ = "not-onboarded", channel_ = "down", detail_;
  std::thread worker_;
};

}  // namespace sedge::agent

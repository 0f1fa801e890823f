#include "agent/daemon/onboarding_task.h"

#include "common/log.h"
#include "common/message_ids.h"

namespace sedge::agent {

onboarding::RouterOptions router_options(const config::Onboarding& o) {
  onboarding::RouterOptions r;
  r.tcti = o.tcti;
  r.state_dir = o.state_directory;
  r.router_id = o.router_id;
  r.conductor = o.conductor;
  r.port = o.port;
  r.management_port = o.management_port;
  if (auto p = onboarding::parse_ek_profile(o.ek_profile); p) r.ek_profile = *p;  // validated at load
  r.identity = o.identity;
  r.idevid_handle = o.idevid_key_handle;
  return r;
}

OnboardingTask::OnboardingTask(config::Onboarding config) : config_(std::move(config)) {
  worker_ = std::thread([this] {
    work();
    finished_ = true;
  });
}

OnboardingTask::~OnboardingTask() {
  stop_ = true;
  if (worker_.joinable()) worker_.join();
}

nlohmann::json OnboardingTask::describe() const {
  std::lock_guard guard(lock_);
  return {{"auth_state", auth_state_}, {"channel", channel_}, {"detail", detail_}};
}

void OnboardingTask::set(const std::string& auth_state, const std::string& channel, const std::string& detail) {
  std::lock_guard guard(lock_);
  auth_state_ = auth_state;
  channel_ = channel;
  detail_ = detail;
}

void OnboardingTask::work() {
  auto state = onboarding::load_state(config_.state_directory);
  if (!state && state.error().code != ENOENT) {
    set("failed", "down", state.error().message);
    log::error("onboarding: " + state.error().message);
    return;
  }
  if (!state) {
    if (config_.token_file.empty()) {
      set("not-onboarded", "down", "no TokenFile= to onboard with");
      log::warning("onboarding: not onboarded and no TokenFile= in [Onboarding] (" + config_.where.str() + ")");
      return;
    }
    auto token = onboarding::read_token_file(config_.token_file);
    if (!token) {
      set("failed", "down", token.error().message);
      log::error(log::kOnboardingResult, "onboarding failed: " + token.error().message, {{"ONBOARDING_RESULT", "failed"}});
      return;
    }
    set("onboarding", "down", "connecting to " + config_.conductor);
    state = onboarding::onboard_with_retries(router_options(config_), *token, stop_, [this](const Error& e, int s) {
      set("onboarding", "down", e.message + "; trying again in " + std::to_string(s) + " s");
      log::warning("onboarding: " + e.message + "; trying again in " + std::to_string(s) + " s");
    });
    if (!state) {
      if (!stop_) {
        set("failed", "down", state.error().message);
        log::error(log::kOnboardingResult, "onboarding failed: " + state.error().message,
                   {{"ONBOARDING_RESULT", "failed"}, {"CONDUCTOR", config_.conductor}});
      }
      return;
    }
    log::notice(log::kOnboardingResult, "onboarded to " + config_.conductor + " as " + state->router_id,
                {{"ONBOARDING_RESULT", "completed"}, {"CONDUCTOR", config_.conductor}});
  }
  set("completed", "down", "management channel connecting");
  auto held = onboarding::hold_management_channel(*state, config_.tcti, stop_, [this](bool up, const std::string& detail) {
    set("completed", up ? "up" : "down", detail);
    if (up) log::notice("management channel up: " + detail);
    else log::warning("management channel down: " + detail);
  });
  if (!held) set("completed", "down", held.error().message);
}

}  // namespace sedge::agent

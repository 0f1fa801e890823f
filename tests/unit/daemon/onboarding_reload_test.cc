// What a reload does to the onboarding worker (agent/daemon/onboarding_reload.h): each setting
// of [Onboarding] changed alone restarts it; the same settings written elsewhere keep it.
#include "agent/daemon/onboarding_reload.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace sedge::agent {
namespace {

config::Onboarding running_config() {
  config::Onboarding o;
  o.where = {"/etc/sedge/sedge.conf.d/50-onboarding.conf", 1};
  o.conductor = "conductor.example";
  o.token_file = "/etc/sedge/onboarding.token";
  o.router_id = "branch-1";
  o.interface = "wan0";
  return o;
}

TEST(OnboardingReload, OffStaysOff) {
  EXPECT_EQ(onboarding_action(std::nullopt, std::nullopt), OnboardingAction::none);
  config::Onboarding no_conductor = running_config();
  no_conductor.conductor.clear();
  EXPECT_EQ(onboarding_action(std::nullopt, no_conductor), OnboardingAction::none);
}

TEST(OnboardingReload, StartsAndStops) {
  EXPECT_EQ(onboarding_action(std::nullopt, running_config()), OnboardingAction::start);
  EXPECT_EQ(onboarding_action(running_config(), std::nullopt), OnboardingAction::stop);
  config::Onboarding no_conductor = running_config();
  no_conductor.conductor.clear();
  EXPECT_EQ(onboarding_action(running_config(), no_conductor), OnboardingAction::stop);
}

TEST(OnboardingReload, UnchangedKeepsTheWorker) {
  EXPECT_EQ(onboarding_action(running_config(), running_config()), OnboardingAction::keep);
  // The same settings in another drop-in, on another line: nothing to apply.
  config::Onboarding moved = running_config();
  moved.where = {"/etc/sedge/sedge.conf.d/90-site.conf", 12};
  EXPECT_EQ(onboarding_action(running_config(), moved), OnboardingAction::keep);
}

// Every setting, one at a time: a reload that changes only it restarts the worker. Identity,
// IDevIDCertificate, IDevIDKeyHandle and Interface were once not compared, so a reload that
// changed one of them alone was never applied.
TEST(OnboardingReload, EachChangedSettingRestarts) {
  struct Case {
    const char* setting;
    std::function<void(config::Onboarding&)> change;
  };
  const std::vector<Case> cases = {
      {"Conductor", [](auto& o) { o.conductor = "other.example"; }},
      {"Port", [](auto& o) { o.port = 9300; }},
      {"ManagementPort", [](auto& o) { o.management_port = 9330; }},
      {"TokenFile", [](auto& o) { o.token_file = "/etc/sedge/other.token"; }},
      {"Tcti", [](auto& o) { o.tcti = "swtpm:host=127.0.0.1,port=2321"; }},
      {"RouterId", [](auto& o) { o.router_id = "branch-2"; }},
      {"Interface", [](auto& o) { o.interface = "wan1"; }},
      {"StateDirectory", [](auto& o) { o.state_directory = "/var/lib/sedge/other"; }},
      {"EkProfile", [](auto& o) { o.ek_profile = "ecc-p384"; }},
      {"Identity", [](auto& o) { o.identity = "idevid"; }},
      {"IDevIDCertificate", [](auto& o) { o.idevid_certificate = "/etc/sedge/idevid.pem"; }},
      {"IDevIDKeyHandle", [](auto& o) { o.idevid_key_handle = 0x81020001; }},
  };
  for (const auto& c : cases) {
    config::Onboarding wanted = running_config();
    c.change(wanted);
    EXPECT_EQ(onboarding_action(running_config(), wanted), OnboardingAction::restart) << c.setting;
  }
}

TEST(OnboardingReload, ActionsHaveNames) {
  EXPECT_STREQ(to_string(OnboardingAction::restart), "restart");
  EXPECT_STREQ(to_string(OnboardingAction::keep), "keep");
}

}  // namespace
}  // namespace sedge::agent

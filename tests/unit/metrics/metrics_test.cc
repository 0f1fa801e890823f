// The Prometheus text of sedged's metrics from a fixed Describe and fixed SA counters: the whole
// output against metrics_expected.prom (which the unit.metrics_promtool test checks with
// promtool), and the format's escapes.
#include "agent/daemon/metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/files.h"

namespace sedge::agent {
namespace {

std::string source(const std::string& name) {
  const char* dir = std::getenv("SEDGE_SOURCE_DIR");
  auto text = read_file(std::string(dir ? dir : ".") + "/tests/unit/metrics/" + name);
  EXPECT_TRUE(text) << name;
  return text ? *text : std::string();
}

TEST(Metrics, FixedDescribeGivesTheExpectedText) {
  const auto describe = nlohmann::json::parse(source("metrics_describe.json"));
  // The primary's two CHILD_SAs in each direction, and an SA of no tunnel (not counted).
  const SaStats sas = {{"0xc0000001", {1000, 10}},   {"0xc0000002", {500, 5}},   {"0x0badf00d", {2000, 20}},
                       {"0x0badf00e", {4000, 40}},   {"0xdeadbeef", {99999, 999}}};
  EXPECT_EQ(format_metrics(describe, sas), source("metrics_expected.prom"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  const auto describe = nlohmann::json::parse(R"({"connectors": [{"name": "a\"b", "tunnels": [
      {"name": "x\\y\nz", "state": "up"}]}]})");
  const std::string text = format_metrics(describe, {});
  EXPECT_NE(text.find("sedge_tunnel_up{tunnel=\"x\\\\y\\nz\",connector=\"a\\\"b\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, WithoutSteeringOrOnboardingTheirFamiliesAreLeftOut) {
  const std::string text = format_metrics(nlohmann::json::object(), {});
  EXPECT_EQ(text.find("sedge_steering_"), std::string::npos);
  EXPECT_EQ(text.find("sedge_onboarding_"), std::string::npos);
  EXPECT_NE(text.find("sedge_tunnels_configured 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("sedge_tunnels_up 0\n"), std::string::npos) << text;
}

TEST(Metrics, ARefusedReloadIsSaid) {
  const auto describe = nlohmann::json::parse(R"({"config": {"last_reload_error": "sedge.conf:3: bad"}})");
  EXPECT_NE(format_metrics(describe, {}).find("sedge_config_last_reload_refused 1\n"), std::string::npos);
}

}  // namespace
}  // namespace sedge::agent

// Every example configuration under systemd/examples/ loads without a diagnostic and runs its
// tunnels: a connector with a primary and a secondary tunnel, each used by a steering profile
// (so it is created) and each one the IKE engine accepts as it is (connector::sa_config).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/connector/tunnel_config.h"
#include "tests/unit/config/config_fixture.h"

namespace sedge::config {
namespace {

namespace fs = std::filesystem;
using testing::ConfigTree;

// The source tree's systemd/examples (CMake passes it).
fs::path examples_root() { return SEDGE_EXAMPLES_DIR; }

// Every example directory: the directories under systemd/examples holding a sedge.conf.d.
std::vector<fs::path> examples() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(examples_root())) {
    if (e.is_directory() && fs::is_directory(e.path() / "sedge.conf.d")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The credential names the example's files ask for (PresharedKeyCredential=NAME).
std::set<std::string> credentials_of(const fs::path& example) {
  static constexpr std::string_view kKey = "PresharedKeyCredential=";
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(example / "sedge.conf.d")) {
    if (e.path().extension() != ".conf") continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) {
      line.erase(0, line.find_first_not_of(" \t"));
      if (line.rfind(kKey, 0) == 0 && line.size() > kKey.size()) names.insert(line.substr(kKey.size()));
    }
  }
  return names;
}

// Loads an example as sedged would from /etc/sedge, with a dummy key (mode 0600) for each
// credential it names in a scratch $CREDENTIALS_DIRECTORY.
Result<LoadedConfig> load_example(const fs::path& example, ConfigTree& tree) {
  for (const auto& name : credentials_of(example)) tree.write("cred", name, "example-key-" + name + "\n", 0600);
  Sources s = Sources::single_directory(example);
  s.credentials_directory = tree.root() / "cred";
  return load(s);
}

TEST(ConfigExamples, EveryExampleLoadsCleanlyAndRunsItsTunnels) {
  const auto dirs = examples();
  ASSERT_FALSE(dirs.empty()) << "no example under " << examples_root();
  for (const auto& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    ConfigTree tree;
    auto loaded = load_example(dir, tree);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_FALSE(loaded->has_errors());
    for (const auto& d : loaded->diagnostics) ADD_FAILURE() << d.str();  // warnings too: an example is clean
    const Config& c = loaded->config;

    bool primary_and_secondary = false;
    for (const auto& [name, connector] : c.connectors) {
      const auto tunnels = c.tunnels_of(name);
      const auto has = [&](TunnelRole role) {
        return std::any_of(tunnels.begin(), tunnels.end(), [role](const Tunnel* t) { return t->role == role; });
      };
      primary_and_secondary |= tunnels.size() >= 2 && has(TunnelRole::primary) && has(TunnelRole::secondary);
    }
    EXPECT_TRUE(primary_and_secondary) << "no connector with a primary and a secondary tunnel";

    EXPECT_GE(c.tunnels.size(), 2u);
    for (const auto& [name, t] : c.tunnels) {
      EXPECT_TRUE(t.referenced) << "tunnel " << name << " is used by no steering profile: it would not be created";
      auto sa = connector::sa_config(c, name);
      EXPECT_TRUE(sa.ok()) << (sa.ok() ? "" : sa.error().message);
    }
    EXPECT_FALSE(c.profiles.empty());
    EXPECT_FALSE(c.ordered_policies().empty());
  }
}

// Each provider preset has its example, named as the provider (Provider=<directory name>).
TEST(ConfigExamples, EveryProviderHasAnExample) {
  std::set<std::string> covered;
  for (const auto& dir : examples()) {
    ConfigTree tree;
    auto loaded = load_example(dir, tree);
    ASSERT_TRUE(loaded.ok()) << dir << ": " << loaded.error().message;
    for (const auto& [name, connector] : loaded->config.connectors) {
      if (dir.filename() == to_string(connector.provider)) covered.insert(to_string(connector.provider));
    }
  }
  for (Provider p : {Provider::juniper_secure_edge, Provider::zscaler, Provider::prisma_access, Provider::checkpoint_harmony,
                     Provider::custom}) {
    EXPECT_TRUE(covered.count(to_string(p))) << "no systemd/examples/" << to_string(p) << " with Provider=" << to_string(p);
  }
}

// What each provider's example is there to show.
TEST(ConfigExamples, ZscalerOffersGcmAndCbcAcceptsNullEspWithoutPfs) {
  ConfigTree tree;
  auto loaded = load_example(examples_root() / "zscaler", tree);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded->config;
  ASSERT_EQ(c.tunnels.size(), 2u);
  const auto has = [](const std::vector<std::string>& proposals, auto pred) {
    return std::any_of(proposals.begin(), proposals.end(), pred);
  };
  for (const auto& [name, t] : c.tunnels) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(has(t.ike_proposals, [](const std::string& p) { return p.find("gcm16") != std::string::npos; }));
    EXPECT_TRUE(has(t.ike_proposals, [](const std::string& p) { return p.find("gcm16") == std::string::npos; }));
    EXPECT_TRUE(has(t.esp_proposals, [](const std::string& p) { return p.find("gcm16") != std::string::npos; }));
    EXPECT_TRUE(has(t.esp_proposals, [](const std::string& p) { return p.rfind("aes256-", 0) == 0; }));
    EXPECT_TRUE(has(t.esp_proposals, [](const std::string& p) { return p.rfind("null-", 0) == 0; }));
    auto sa = connector::sa_config(c, name);
    ASSERT_TRUE(sa.ok()) << sa.error().message;
    EXPECT_EQ(sa->pfs_group, 0) << "no PFS";
    EXPECT_EQ(sa->ike_offers.size(), t.ike_proposals.size());
    EXPECT_EQ(sa->esp_offers.size(), t.esp_proposals.size());
  }
}

TEST(ConfigExamples, CheckpointHarmonyIsRouteBasedAndTheRemoteIdIsTheGatewaysAddress) {
  ConfigTree tree;
  auto loaded = load_example(examples_root() / "checkpoint-harmony", tree);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config& c = loaded->config;
  ASSERT_EQ(c.tunnels.size(), 2u);
  for (const auto& [name, t] : c.tunnels) {
    SCOPED_TRACE(name);
    EXPECT_EQ(t.routing, Routing::route_based);
    ASSERT_TRUE(t.remote_id.has_value());
    EXPECT_EQ(t.remote_id->type, IdType::ipv4);
    EXPECT_EQ(t.remote_id->value, t.remote);
  }
}

}  // namespace
}  // namespace sedge::config

#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "tests/unit/config/config_fixture.h"

namespace sedge::config {
namespace {

using testing::base_site;
using testing::ConfigTree;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { psk_ = tree_.write("etc", "site.psk", "Juniper!1\n", 0600).string(); }
  ConfigTree tree_;
  std::string psk_;
};

TEST_F(ConfigTest, LoadsAValidSiteWithoutDiagnostics) {
  tree_.write("etc", "sedge.conf", base_site(psk_));
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  for (const auto& d : loaded->diagnostics) ADD_FAILURE() << d.str();
  const Config& c = loaded->config;
  ASSERT_EQ(c.tunnels.size(), 2u);
  EXPECT_EQ(c.psk_for(c.tunnels.at("pop-a")).view(), "Juniper!1");  // trailing newline stripped
  EXPECT_EQ(c.local_id_for(c.tunnels.at("pop-b")).type, IdType::rfc822);
  EXPECT_EQ(c.tunnels.at("pop-a").remote_id->type, IdType::fqdn);
  EXPECT_TRUE(c.tunnels.at("pop-a").referenced);
  ASSERT_EQ(c.tunnels_of("pop").size(), 2u);
  EXPECT_EQ(c.tunnels_of("pop")[0]->name, "pop-a");
  EXPECT_EQ(c.applications.at("web").ports[0].first, 443);
}

TEST_F(ConfigTest, DropInsApplyInNameOrderAndEtcMasksLib) {
  tree_.write("lib", "sedge.conf", base_site(psk_));
  tree_.write("lib", "sedge.conf.d/50-lifetime.conf", "[Tunnel pop-a]\nIkeLifetimeSec=7200\n");
  tree_.write("etc", "sedge.conf.d/50-lifetime.conf", "[Tunnel pop-a]\nIkeLifetimeSec=14400\n");  // masks lib's
  tree_.write("run", "sedge.conf.d/60-dpd.conf", "[Tunnel pop-a]\nDpdIntervalSec=5\nDpdTimeoutSec=20\n");
  tree_.write("lib", "sedge.conf.d/70-dpd.conf", "[Tunnel pop-a]\nDpdIntervalSec=7\n");  // later name wins
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Tunnel& t = loaded->config.tunnels.at("pop-a");
  EXPECT_EQ(t.ike_lifetime_sec, 14400u);
  EXPECT_EQ(t.dpd_interval_sec, 7u);
  EXPECT_EQ(t.dpd_timeout_sec, 20u);
  EXPECT_EQ(loaded->config.files.size(), 4u);
}

TEST_F(ConfigTest, IkeFragmentationDefaultsAsStrongSwanAndIsSetPerTunnel) {
  tree_.write("etc", "sedge.conf", base_site(psk_) + "\n[Tunnel pop-b]\nFragmentation=accept\nFragmentSize=576\n");
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  for (const auto& d : loaded->diagnostics) ADD_FAILURE() << d.str();
  const Tunnel& a = loaded->config.tunnels.at("pop-a");
  const Tunnel& b = loaded->config.tunnels.at("pop-b");
  EXPECT_EQ(a.fragmentation, Fragmentation::yes);
  EXPECT_EQ(a.fragment_size, 1280u);
  EXPECT_EQ(b.fragmentation, Fragmentation::accept);
  EXPECT_EQ(b.fragment_size, 576u);
  EXPECT_STREQ(to_string(Fragmentation::force), "force");
}

TEST_F(ConfigTest, RetransmissionIsSetPerTunnel) {
  tree_.write("etc", "sedge.conf", base_site(psk_) + "\n[Tunnel pop-b]\nRetransmitTimeoutSec=1\nRetransmitTries=2\n");
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  for (const auto& d : loaded->diagnostics) ADD_FAILURE() << d.str();
  EXPECT_EQ(loaded->config.tunnels.at("pop-a").retransmit_timeout_sec, 4u);  // charon's defaults
  EXPECT_EQ(loaded->config.tunnels.at("pop-a").retransmit_tries, 5u);
  EXPECT_EQ(loaded->config.tunnels.at("pop-b").retransmit_timeout_sec, 1u);
  EXPECT_EQ(loaded->config.tunnels.at("pop-b").retransmit_tries, 2u);
  tree_.write("etc", "sedge.conf.d/90-bad.conf", "[Tunnel pop-a]\nRetransmitTimeoutSec=0\n");
  auto bad = load(tree_.sources());
  ASSERT_TRUE(bad.ok());
  EXPECT_TRUE(bad->has_errors());
  EXPECT_FALSE(bad->config.tunnels.count("pop-a")) << "a tunnel with a bad value is left out";
}

TEST_F(ConfigTest, AnActiveActiveConnectorInAnOrderedProfileIsWarnedAbout) {
  tree_.write("etc", "sedge.conf", base_site(psk_) + "\n[Connector pop]\nMode=active-active\n");
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_EQ(loaded->diagnostics.size(), 1u);
  EXPECT_EQ(loaded->diagnostics[0].severity, Diagnostic::Severity::warning);
  EXPECT_NE(loaded->diagnostics[0].message.find("Strategy=weighted spreads the flows"), std::string::npos)
      << loaded->diagnostics[0].str();
  tree_.write("etc", "sedge.conf.d/50-weighted.conf", "[SteeringProfile Cloud]\nStrategy=weighted\n");
  auto weighted = load(tree_.sources());
  ASSERT_TRUE(weighted.ok());
  EXPECT_TRUE(weighted->diagnostics.empty()) << weighted->diagnostics[0].str();
}

TEST_F(ConfigTest, RepeatedKeysAppendAndEmptyAssignmentResets) {
  tree_.write("etc", "sedge.conf", base_site(psk_) +
                                       "\n[Tunnel pop-a]\nRemoteNetwork=10.1.0.0/16\nRemoteNetwork=10.2.0.0/16\n"
                                       "\n[Tunnel pop-b]\nRemoteNetwork=10.1.0.0/16\nRemoteNetwork=\nRemoteNetwork=10.3.0.0/16\n");
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->config.tunnels.at("pop-a").remote_networks.size(), 2u);
  ASSERT_EQ(loaded->config.tunnels.at("pop-b").remote_networks.size(), 1u);
  EXPECT_EQ(loaded->config.tunnels.at("pop-b").remote_networks[0].str(), "10.3.0.0/16");
}

TEST_F(ConfigTest, CredentialFromSystemd) {
  tree_.write("cred", "site.psk", "from-credential", 0400);
  std::string site = base_site(psk_);
  site.replace(site.find("PresharedKeyFile=" + psk_), ("PresharedKeyFile=" + psk_).size(), "PresharedKeyCredential=site.psk");
  tree_.write("etc", "sedge.conf", site);
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_errors());
  EXPECT_EQ(loaded->config.connectors.at("pop").psk.view(), "from-credential");
}

TEST_F(ConfigTest, EffectiveConfigMasksSecretsAndReloadsToTheSame) {
  tree_.write("etc", "sedge.conf", base_site(psk_));
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok());
  const std::string text = format_effective(loaded->config);
  EXPECT_EQ(text.find("Juniper!1"), std::string::npos);
  EXPECT_NE(text.find("PresharedKey=(secret)  # from file " + psk_), std::string::npos);
  EXPECT_NE(text.find("[Tunnel pop-a]"), std::string::npos);
  EXPECT_NE(text.find("IkeProposal=aes256gcm16-prfsha256-modp2048"), std::string::npos);
}

TEST_F(ConfigTest, DiffNamesAddedRemovedAndChangedObjects) {
  tree_.write("etc", "sedge.conf", base_site(psk_));
  auto a = load(tree_.sources());
  tree_.write("etc", "sedge.conf.d/10.conf",
              "[Tunnel pop-b]\nDpdIntervalSec=3\n\n[Application dns]\nProtocol=udp\nPort=53\n");
  auto b = load(tree_.sources());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(diff(a->config, a->config).empty()) << "a config differs from itself";
  EXPECT_EQ(diff(a->config, b->config).str(), "changed Tunnel pop-b\nadded Application dns\n");
  EXPECT_EQ(diff(b->config, a->config).str(), "changed Tunnel pop-b\nremoved Application dns\n");
  tree_.write("etc", "site.psk", "another key", 0600);  // a new key alone is a change
  auto c = load(tree_.sources());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(diff(b->config, c->config).str(), "changed Connector pop\n");
}

TEST_F(ConfigTest, JuniperSecureEdgeKeepsItsFixedProfile) {
  std::string site = base_site(psk_);
  site.replace(site.find("Provider=custom"), 15, "Provider=juniper-secure-edge");
  site += "\n[Tunnel pop-a]\nIkeProposal=aes256-sha256-modp2048\nIkeLifetimeSec=3600\nProbe=8.8.8.8\n";
  tree_.write("etc", "sedge.conf", site);
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok());
  const Tunnel& t = loaded->config.tunnels.at("pop-a");
  EXPECT_EQ(t.ike_proposals, std::vector<std::string>{"aes128gcm16-prfsha256-modp2048"});
  EXPECT_EQ(t.esp_proposals, std::vector<std::string>{"aes128gcm16-modp2048"});
  EXPECT_EQ(t.ike_lifetime_sec, 86400u);
  EXPECT_EQ(t.child_lifetime_sec, 3600u);
  std::string all;
  for (const auto& d : loaded->diagnostics) all += d.str() + "\n";
  EXPECT_NE(all.find("keeps its default IKE and ESP proposals"), std::string::npos) << all;
  EXPECT_NE(all.find("drops ICMP probes"), std::string::npos) << all;
}

TEST_F(ConfigTest, UnreferencedTunnelIsNotCreated) {
  std::string site = base_site(psk_);
  site += "\n[Connector other]\nLocalId=site1@example.com\nPresharedKeyFile=" + psk_ +
          "\n\n[Tunnel lonely]\nConnector=other\nWan=wan0\nRemote=192.0.2.30\n";
  tree_.write("etc", "sedge.conf", site);
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->config.tunnels.at("lonely").referenced);
  ASSERT_EQ(loaded->diagnostics.size(), 1u);
  EXPECT_NE(loaded->diagnostics[0].message.find("not used by any steering profile"), std::string::npos);
}

TEST_F(ConfigTest, OverlappingProtectedNetworksToOnePopWarn) {
  std::string site = base_site(psk_);
  site += "\n[Connector pop]\nProtectedNetwork=10.99.0.0/16\n\n[Connector pop2]\nLocalId=site2@example.com\n"
          "PresharedKeyFile=" + psk_ + "\nProtectedNetwork=10.99.99.0/24\n\n"
          "[Tunnel pop2-a]\nConnector=pop2\nWan=wan0\nRemote=192.0.2.10\nRemoteNetwork=10.50.0.0/16\n";
  tree_.write("etc", "sedge.conf", site);
  auto loaded = load(tree_.sources());
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->diagnostics.size(), 1u) << loaded->diagnostics[0].str();
  EXPECT_NE(loaded->diagnostics[0].message.find("overlaps 10.99.0.0/16"), std::string::npos);
}

TEST(ConfigExamples, JuniperSecureEdgeSiteLoadsCleanly) {
  const char* src = std::getenv("SEDGE_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "SEDGE_SOURCE_DIR is set by ctest";
  ConfigTree tree;
  tree.write("cred", "site1-to-sdcloud.psk", "Juniper!1", 0600);
  Sources s = Sources::single_directory(std::string(src) + "/systemd/examples/juniper-secure-edge");
  s.credentials_directory = tree.root() / "cred";
  auto loaded = load(s);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  for (const auto& d : loaded->diagnostics) ADD_FAILURE() << d.str();
  const Config& c = loaded->config;
  EXPECT_EQ(c.tunnels.at("site1-primary").remote, "44.225.209.13");
  EXPECT_EQ(c.tunnels.at("site1-secondary").remote_id->str(), "13df5633-e8cd-4c54-aae4-5d52d5cd6272.jsec-gen.juniper.net");
  EXPECT_EQ(c.connectors.at("site1-to-sdcloud").mode, TunnelMode::active_standby);
  EXPECT_EQ(c.profiles.at("Cloud").strategy, Strategy::ordered);
  EXPECT_EQ(c.ordered_policies().back()->name, "Internet-via-Cloud-CBO");
}

}  // namespace
}  // namespace sedge::config

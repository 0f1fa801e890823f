#include "agent/steering/compiler.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "agent/config/config.h"
#include "tests/unit/steering/policy_fixture.h"

namespace sedge::steering {
namespace {

using testing::P;
using testing::sample_policy;

const sedge_chain* chain4(const Compiled& c, uint32_t net_id, const char* prefix) {
  const auto p = P(prefix);
  for (const auto& [k, v] : c.tables.prefix4) {
    if (k.net_id == net_id && k.len == p.length && std::memcmp(k.addr, p.bytes, 4) == 0) return &v;
  }
  return nullptr;
}

std::vector<std::string> chain_rules(const Compiled& c, const sedge_chain& ch) {
  std::vector<std::string> out;
  for (uint32_t i = 0; i < ch.count; ++i) out.push_back(c.rule_names.at(c.tables.entries.at(ch.first + i).rule_id));
  return out;
}

TEST(SteeringCompiler, ChainsHoldEveryCoveringRuleInPolicyOrder) {
  auto c = compile(sample_policy());
  ASSERT_TRUE(c.ok()) << c.error().message;
  // lan0 (net 1): 10.201.0.0/16 is covered by 0/0 (block-telnet) and 10/8 (corp-dns-local).
  const sedge_chain* servers = chain4(*c, 1, "10.201.0.0/16");
  ASSERT_NE(servers, nullptr);
  EXPECT_EQ(chain_rules(*c, *servers),
            (std::vector<std::string>{"block-telnet", "corp-dns-local", "web-via-cloud", "web-via-cloud", "servers"}));
  const sedge_chain* any = chain4(*c, 1, "0.0.0.0/0");
  ASSERT_NE(any, nullptr);
  EXPECT_EQ(chain_rules(*c, *any), (std::vector<std::string>{"block-telnet", "web-via-cloud", "web-via-cloud"}));
  // lan1 (net 2) only gets the rules without a network restriction.
  EXPECT_EQ(chain4(*c, 2, "10.201.0.0/16"), nullptr);
  ASSERT_NE(chain4(*c, 2, "0.0.0.0/0"), nullptr);
  EXPECT_EQ(chain_rules(*c, *chain4(*c, 2, "0.0.0.0/0")), (std::vector<std::string>{"block-telnet"}));
}

TEST(SteeringCompiler, EntriesCarryProtocolPortsSourceAndProfile) {
  auto c = compile(sample_policy());
  ASSERT_TRUE(c.ok());
  const sedge_chain* any = chain4(*c, 1, "0.0.0.0/0");
  const sedge_entry& telnet = c->tables.entries.at(any->first);
  EXPECT_EQ(telnet.proto, 6);
  EXPECT_EQ(telnet.port_lo, 23);
  EXPECT_EQ(telnet.action, SEDGE_STEER_DENY);
  const sedge_entry& https = c->tables.entries.at(any->first + 2);
  EXPECT_EQ(https.port_lo, 443);
  EXPECT_EQ(https.src_len, 25);
  EXPECT_EQ(https.action, SEDGE_STEER_PROFILE);
  EXPECT_EQ(https.profile, c->profile_ids.at("Cloud"));
}

TEST(SteeringCompiler, ProfilesPathsAndNetworks) {
  auto c = compile(sample_policy());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->tables.profiles.size(), 2u);
  const auto& cloud = c->tables.profiles[c->profile_ids.at("Cloud")];
  EXPECT_EQ(cloud.strategy, SEDGE_STEER_ORDERED);
  EXPECT_EQ(cloud.npaths, 2u);
  EXPECT_EQ(c->path_names.at(cloud.path_ids[0]), "pop1-primary");
  EXPECT_EQ(c->path_names.at(cloud.path_ids[1]), "pop2-secondary");
  const auto& spread = c->tables.profiles[c->profile_ids.at("Spread")];
  EXPECT_EQ(spread.strategy, SEDGE_STEER_WEIGHTED);
  EXPECT_EQ(spread.path_ids[0], cloud.path_ids[0]) << "one path, one id across profiles";
  EXPECT_EQ(spread.weights[1], 3u);
  ASSERT_EQ(c->tables.nets.size(), 2u);
  EXPECT_EQ(c->tables.nets[1].second.default_action, SEDGE_STEER_PROFILE);
  EXPECT_EQ(c->rule_names.at(c->tables.nets[0].second.default_rule), "(default of lan0)");
}

TEST(SteeringCompiler, WarnsAboutShadowedOverlappingAndUnreachable) {
  PolicySet s = sample_policy();
  s.rules.push_back({"late-telnet", {"lan0"}, {}, {P("10.1.0.0/16")}, 6, {{23, 23}}, Action::breakout, ""});
  s.rules.push_back({"dns-everywhere", {}, {}, {}, 17, {{53, 53}}, Action::steer, "Cloud"});
  s.profiles.push_back({"Twice", config::Strategy::ordered, {{"a", 1}, {"a", 1}}});
  auto c = compile(s);
  ASSERT_TRUE(c.ok());
  std::string all;
  for (const auto& w : c->warnings) all += w + "\n";
  EXPECT_NE(all.find("rule late-telnet never matches: the earlier rule block-telnet"), std::string::npos) << all;
  EXPECT_NE(all.find("rules corp-dns-local and servers overlap"), std::string::npos) << all;
  // A broad rule after a specific one is the usual pattern, not a warning; nor are rules of
  // different address families.
  EXPECT_EQ(all.find("corp-dns-local and dns-everywhere"), std::string::npos) << all;
  EXPECT_EQ(all.find("web-via-cloud and saas-v6"), std::string::npos) << all;
  EXPECT_NE(all.find("path a is listed twice"), std::string::npos) << all;
  EXPECT_NE(all.find("steering profile Twice is used by no rule"), std::string::npos) << all;
}

TEST(SteeringCompiler, RefusesWhatTheClassifierCannotDo) {
  PolicySet s = sample_policy();
  s.rules.push_back({"ghost", {}, {}, {}, 0, {}, Action::steer, "Nowhere"});
  auto c = compile(s);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("rule ghost: unknown steering profile Nowhere"), std::string::npos);

  s = sample_policy();
  s.rules.push_back({"wrong-net", {"lan9"}, {}, {}, 0, {}, Action::deny, ""});
  EXPECT_NE(compile(s).error().message.find("unknown network lan9"), std::string::npos);

  s = sample_policy();
  Rule many{"many-ports", {}, {}, {P("192.0.2.0/24")}, 6, {}, Action::deny, ""};
  for (uint16_t p = 1; p <= 20; ++p) many.ports.push_back({p, p});
  s.rules.push_back(many);
  c = compile(s);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("apply to destination 192.0.2.0/24"), std::string::npos) << c.error().message;

  s = sample_policy();
  s.profiles[0].paths.assign(9, {"p", 1});
  EXPECT_NE(compile(s).error().message.find("has 9 paths"), std::string::npos);
}

// 40 000 chains of two entries (a catch-all telnet block, then the prefix's own rule): more
// than one block of entries, and every chain starts where a whole chain fits in its block.
TEST(SteeringCompiler, ChainsStayInOneBlockAndLengthsAreListedLongestFirst) {
  PolicySet s;
  s.networks = {{"lan0", 7, Action::breakout, ""}};
  s.profiles = {{"Cloud", config::Strategy::ordered, {{"pop1", 1}}}};
  s.rules.push_back({"telnet", {}, {}, {P("0.0.0.0/0")}, IPPROTO_TCP, {{23, 23}}, Action::deny, ""});
  for (uint32_t i = 0; i < 40000; ++i) {
    const uint32_t a = (10u << 24) + i * 16u;
    const std::string prefix = std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255u) + "." +
                               std::to_string((a >> 8) & 255u) + "." + std::to_string(a & 255u) + "/28";
    s.rules.push_back({"r" + std::to_string(i), {}, {}, {P(prefix.c_str())}, IPPROTO_TCP, {{443, 443}}, Action::steer, "Cloud"});
  }
  auto c = compile(s);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_GT(c->tables.entries.size(), size_t{SEDGE_STEER_BLOCK_ENTRIES});
  for (const auto& [k, chain] : c->tables.prefix4) {
    ASSERT_LE(chain.first % SEDGE_STEER_BLOCK_ENTRIES, uint32_t{SEDGE_STEER_BLOCK_ENTRIES - SEDGE_STEER_CHAIN_LEN}) << "chain at " << chain.first;
  }
  const sedge_chain* some = chain4(*c, 1, "10.0.128.0/28");
  ASSERT_NE(some, nullptr);
  EXPECT_EQ(chain_rules(*c, *some), (std::vector<std::string>{"telnet", "r2048"}));
  const sedge_net& net = c->tables.nets[0].second;
  ASSERT_EQ(net.nlen4, 2u);
  EXPECT_EQ(net.len4[0], 28u);  // longest first: the classifier stops at the first found
  EXPECT_EQ(net.len4[1], 0u);
  EXPECT_EQ(net.nlen6, 0u);
}

TEST(SteeringCompiler, MoreIpv6PrefixLengthsThanTheClassifierProbesAreRefused) {
  PolicySet s;
  s.networks = {{"lan0", 7, Action::breakout, ""}};
  Rule r{"v6", {}, {}, {}, 0, {}, Action::breakout, ""};
  // 2001:db8::/32 with only the prefix's last bit set beyond it: none contains another.
  for (unsigned len = 33; len < 33 + SEDGE_STEER_MAX_LENGTHS6 + 1; ++len) {
    config::Prefix p = P("2001:db8::/32");
    p.length = static_cast<uint8_t>(len);
    p.bytes[(len - 1) / 8] |= static_cast<uint8_t>(0x80u >> ((len - 1) % 8));
    r.destinations.push_back(p);
  }
  s.rules.push_back(r);
  auto c = compile(s);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("prefix lengths"), std::string::npos) << c.error().message;
  r.destinations.pop_back();
  s.rules = {r};
  EXPECT_TRUE(compile(s).ok()) << "exactly as many as it probes";
}

TEST(SteeringCompiler, FromTheSeedConfiguration) {
  const char* src = std::getenv("SEDGE_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::filesystem::path cred = std::filesystem::temp_directory_path() / "sedge-steering-cred";
  std::filesystem::create_directories(cred);
  { std::ofstream(cred / "site1-to-sdcloud.psk") << "Juniper!1"; }
  std::filesystem::permissions(cred / "site1-to-sdcloud.psk", std::filesystem::perms::owner_read);
  config::Sources sources = config::Sources::single_directory(std::string(src) + "/systemd/examples/juniper-secure-edge");
  sources.credentials_directory = cred;
  auto loaded = config::load(sources);
  std::filesystem::remove_all(cred);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  std::vector<std::string> warnings;
  const PolicySet set = from_config(loaded->config, [](const std::string& dev) { return dev == "lan0" ? 7u : 0u; }, warnings);
  ASSERT_EQ(set.networks.size(), 1u);
  EXPECT_EQ(set.networks[0].ifindex, 7u);
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_EQ(set.rules[0].name, "Internet-via-Cloud-CBO/internet");
  auto c = compile(set);
  ASSERT_TRUE(c.ok()) << c.error().message;
  // The connector's tunnels, primary first.
  const auto& cloud = c->tables.profiles[c->profile_ids.at("Cloud")];
  ASSERT_EQ(cloud.npaths, 2u);
  EXPECT_EQ(c->path_names.at(cloud.path_ids[0]), "site1-primary");
  EXPECT_EQ(c->path_names.at(cloud.path_ids[1]), "site1-secondary");
  ASSERT_EQ(c->tables.prefix4.size(), 1u);
  EXPECT_EQ(c->tables.prefix4[0].first.len, 0u);  // 0.0.0.0/0
  EXPECT_EQ(c->tables.nets[0].second.nlen4, 1u);
  EXPECT_EQ(c->tables.nets[0].second.len4[0], 0u);
}

}  // namespace
}  // namespace sedge::steering

// The classifier in the host kernel (JIT), through BPF_PROG_TEST_RUN: the compiler's table is
// checked by what the loaded program does with crafted packets. Needs root (CAP_BPF) and bpffs.
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include "agent/steering/compiler.h"
#include "bpf/steer_loader.h"
#include "tests/netns/steering/frames.h"
#include "tests/support/bpffs.h"
#include "tests/unit/steering/policy_fixture.h"

namespace sedge::steering {
namespace {

using testing::FrameSpec;
using testing::kLan0;
using testing::kLan1;

// The pins go to a private bpffs instance: the test neither needs nor touches /sys/fs/bpf.
std::unique_ptr<sedge::testing::PrivateBpffs>& bpffs() {
  static std::unique_ptr<sedge::testing::PrivateBpffs> fs;
  return fs;
}
std::string pin_dir() { return bpffs()->pin_dir(); }

class Classifier : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() == 0) bpffs() = std::make_unique<sedge::testing::PrivateBpffs>();
  }
  static void TearDownTestSuite() { bpffs().reset(); }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_BPF, CAP_NET_ADMIN) for BPF_PROG_TEST_RUN";
    ASSERT_TRUE(bpffs() && bpffs()->ok()) << "cannot mount a bpffs instance";
    auto p = bpf::SteerProgram::load(pin_dir());
    ASSERT_TRUE(p.ok()) << p.error().message;
    prog_ = std::move(*p);
    auto c = compile(testing::sample_policy());
    ASSERT_TRUE(c.ok()) << c.error().message;
    compiled_ = std::move(*c);
    auto st = prog_->replace_rules(compiled_.tables);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  void TearDown() override {
    prog_.reset();
    std::filesystem::remove_all(pin_dir());
  }
  uint32_t mark_of(const std::string& path) const { return SEDGE_STEER_PATH_MARK(compiled_.path_ids.at(path)); }
  sedge_flow_stats stats() const {
    auto s = prog_->flow_stats();
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? *s : sedge_flow_stats{};
  }
  void check_table();
  bpf::TestRunResult run(const FrameSpec& spec, uint32_t ifindex) const {
    auto r = prog_->test_run(testing::frame(spec), ifindex);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : bpf::TestRunResult{};
  }

  std::unique_ptr<bpf::SteerProgram> prog_;
  Compiled compiled_;
};

struct Case {
  const char* name;
  FrameSpec packet;
  uint32_t ifindex;
  int action;           // TC_ACT_OK or TC_ACT_SHOT
  const char* path;     // expected path ("" = no mark)
  const char* rule;     // the rule whose counter moves
};

const Case kCases[] = {
    {"telnet_denied_everywhere", {"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23}, kLan0, TC_ACT_SHOT, "", "block-telnet"},
    {"telnet_denied_on_lan1", {"10.88.88.10", "192.0.2.34", IPPROTO_TCP, 23}, kLan1, TC_ACT_SHOT, "", "block-telnet"},
    {"https_from_first_half_to_cloud", {"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 443}, kLan0, TC_ACT_OK, "pop1-primary", "web-via-cloud"},
    {"http_to_cloud", {"10.99.99.10", "198.51.100.7", IPPROTO_TCP, 80}, kLan0, TC_ACT_OK, "pop1-primary", "web-via-cloud"},
    {"https_from_second_half_breaks_out", {"10.99.99.200", "192.0.2.34", IPPROTO_TCP, 443}, kLan0, TC_ACT_OK, "", "(default of lan0)"},
    {"udp_443_is_not_web", {"10.99.99.10", "192.0.2.34", IPPROTO_UDP, 443}, kLan0, TC_ACT_OK, "", "(default of lan0)"},
    {"corp_dns_local_first", {"10.99.99.10", "10.201.0.53", IPPROTO_UDP, 53}, kLan0, TC_ACT_OK, "", "corp-dns-local"},
    {"servers_any_protocol", {"10.99.99.10", "10.201.0.10", IPPROTO_ICMP, 0}, kLan0, TC_ACT_OK, "pop1-primary", "servers"},
    {"servers_tcp", {"10.99.99.10", "10.201.3.4", IPPROTO_TCP, 8080}, kLan0, TC_ACT_OK, "pop1-primary", "servers"},
    {"servers_not_for_lan1", {"10.88.88.10", "10.201.0.10", IPPROTO_ICMP, 0}, kLan1, TC_ACT_OK, "pop1-primary", "(default of lan1)"},
    {"vlan_tagged", {"10.99.99.10", "10.201.0.10", IPPROTO_TCP, 22, 42}, kLan0, TC_ACT_OK, "pop1-primary", "servers"},
    {"ipv4_later_fragment_has_no_ports", {"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 443, 0, 100}, kLan0, TC_ACT_OK, "", "(default of lan0)"},
    {"ipv4_first_fragment_has_ports", {"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 443, 0, 0}, kLan0, TC_ACT_OK, "pop1-primary", "web-via-cloud"},
    {"ipv6_saas", {"fd00:99::10", "2001:db8:5::1", IPPROTO_TCP, 443}, kLan0, TC_ACT_OK, "", "saas-v6"},
    {"ipv6_saas_fragment", {"fd00:99::10", "2001:db8:5::1", IPPROTO_UDP, 0, 0, 10, true}, kLan1, TC_ACT_OK, "", "saas-v6"},
    {"ipv6_other_breaks_out", {"fd00:99::10", "2001:db8:6::1", IPPROTO_TCP, 443}, kLan0, TC_ACT_OK, "", "(default of lan0)"},
    {"ipv6_telnet_denied", {"fd00:99::10", "2001:db8:6::1", IPPROTO_TCP, 23}, kLan0, TC_ACT_SHOT, "", "block-telnet"},
    {"unknown_interface_untouched", {"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23}, 999, TC_ACT_OK, "", ""},
};

// Every case once: the action, the mark and the rule counter the table gives.
void Classifier::check_table() {
  for (const Case& k : kCases) {
    SCOPED_TRACE(k.name);
    sedge_counter before{};
    uint32_t rule_id = 0;
    if (*k.rule) {
      const auto& names = compiled_.rule_names;
      rule_id = static_cast<uint32_t>(std::find(names.begin(), names.end(), k.rule) - names.begin());
      ASSERT_LT(rule_id, names.size());
      before = *prog_->rule_counter(rule_id);
    }
    const auto r = run(k.packet, k.ifindex);
    EXPECT_EQ(r.action, k.action);
    if (std::string(k.rule) == "saas-v6") {
      // Weighted profile: one of its two paths, by flow hash.
      EXPECT_TRUE(r.mark == mark_of("pop1-primary") || r.mark == mark_of("pop2-secondary")) << std::hex << r.mark;
    } else {
      EXPECT_EQ(r.mark, *k.path ? mark_of(k.path) : 0u) << std::hex << r.mark;
    }
    if (*k.rule) {
      EXPECT_EQ(prog_->rule_counter(rule_id)->packets, before.packets + 1) << "counter of " << k.rule;
    }
  }
}

// The cases on a LAN (the unknown interface is neither cached nor classified).
uint64_t lan_cases() {
  return static_cast<uint64_t>(std::count_if(std::begin(kCases), std::end(kCases), [](const Case& k) { return k.ifindex != 999; }));
}

TEST_F(Classifier, PacketsAreClassifiedAsTheTableSaysWithoutTheCache) {
  ASSERT_TRUE(prog_->set_flow_cache(false).ok());
  EXPECT_FALSE(prog_->flow_cache());
  const auto before = stats();
  check_table();
  const auto after = stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses) << "the cache is off: not even looked at";
}

TEST_F(Classifier, PacketsAreClassifiedAsTheTableSaysFromTheCache) {
  EXPECT_TRUE(prog_->flow_cache()) << "on by default";
  const auto cold = stats();
  check_table();  // first packets: classified by the rules, decisions cached
  const auto warm = stats();
  EXPECT_EQ(warm.hits + warm.misses - cold.hits - cold.misses, lan_cases());
  EXPECT_GT(warm.misses, cold.misses);
  EXPECT_EQ(warm.inserts - cold.inserts, warm.misses - cold.misses) << "each miss of a new flow inserts it";
  check_table();  // the same flows again: every decision from the cache, the same outcome
  const auto hot = stats();
  EXPECT_EQ(hot.hits - warm.hits, lan_cases());
  EXPECT_EQ(hot.misses, warm.misses);
}

TEST_F(Classifier, MalformedAndForeignFramesPassUntouched) {
  // (A frame whose IPv4 header itself is cut short is refused by the kernel's test harness
  // before any program runs.) An IHL pointing past the end of the packet:
  auto short_ip = testing::frame({"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23});
  short_ip[14] = 0x4f;
  auto arp = testing::frame({"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23});
  arp[12] = 0x08;
  arp[13] = 0x06;
  auto no_ports = testing::frame({"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23});
  no_ports.resize(14 + 20 + 2);  // TCP header cut before the destination port
  for (const auto* f : {&short_ip, &arp, &no_ports}) {
    auto r = prog_->test_run(*f, kLan0);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->action, TC_ACT_OK) << "without its port the telnet rule cannot match";
    EXPECT_EQ(r->mark, 0u);
  }
}

TEST_F(Classifier, FailoverIsOneMapWrite) {
  const FrameSpec https{"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 443};
  EXPECT_EQ(run(https, kLan0).mark, mark_of("pop1-primary"));
  const uint32_t cloud = compiled_.profile_ids.at("Cloud");
  ASSERT_TRUE(prog_->set_active_path(cloud, 1).ok());
  EXPECT_EQ(run(https, kLan0).mark, mark_of("pop2-secondary"));
  const uint32_t path = compiled_.path_ids.at("pop2-secondary");
  const auto before = *prog_->path_counter(path);
  run(https, kLan0);
  EXPECT_EQ(prog_->path_counter(path)->packets, before.packets + 1);
  EXPECT_FALSE(prog_->set_active_path(cloud, SEDGE_STEER_PROFILE_PATHS).ok());
}

TEST_F(Classifier, WeightedProfileUsesOnlyHealthyPaths) {
  const FrameSpec saas{"fd00:99::10", "2001:db8:5::1", IPPROTO_TCP, 443};
  const uint32_t p1 = compiled_.path_ids.at("pop1-primary"), p2 = compiled_.path_ids.at("pop2-secondary");
  ASSERT_TRUE(prog_->set_path_healthy(p1, false).ok());
  ASSERT_TRUE(prog_->set_path_healthy(p2, false).ok());
  EXPECT_EQ(run(saas, kLan0).mark, 0u) << "no healthy path: unmarked";
  ASSERT_TRUE(prog_->set_path_healthy(p2, true).ok());
  EXPECT_EQ(run(saas, kLan0).mark, mark_of("pop2-secondary"));
  ASSERT_TRUE(prog_->set_path_healthy(p1, true).ok());
  ASSERT_TRUE(prog_->set_path_healthy(p2, false).ok());
  EXPECT_EQ(run(saas, kLan0).mark, mark_of("pop1-primary"));
}

TEST_F(Classifier, ReplacingRulesFlipsOneGeneration) {
  const uint32_t gen = prog_->generation();
  EXPECT_NE(gen, 0u) << "0 is an empty cache slot's generation";
  PolicySet s = testing::sample_policy();
  s.rules.erase(s.rules.begin());  // no more telnet block
  auto c = compile(s);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(prog_->replace_rules(c->tables).ok());
  EXPECT_EQ(prog_->generation(), gen + 1) << "the other map set";
  EXPECT_EQ(run({"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23}, kLan0).action, TC_ACT_OK);
  ASSERT_TRUE(prog_->replace_rules(compiled_.tables).ok());
  EXPECT_EQ(prog_->generation(), gen + 2);
  EXPECT_EQ(run({"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23}, kLan0).action, TC_ACT_SHOT);
}

TEST_F(Classifier, AFlipDropsCachedDecisionsAFailoverKeepsThem) {
  const FrameSpec telnet{"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 23};
  EXPECT_EQ(run(telnet, kLan0).action, TC_ACT_SHOT);  // classified, cached
  auto before = stats();
  EXPECT_EQ(run(telnet, kLan0).action, TC_ACT_SHOT);
  EXPECT_EQ(stats().hits, before.hits + 1) << "the second packet's decision came from the cache";

  // A rule set without the telnet block: the cached deny is stale from the flip on.
  PolicySet s = testing::sample_policy();
  s.rules.erase(s.rules.begin());
  auto c = compile(s);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(prog_->replace_rules(c->tables).ok());
  before = stats();
  EXPECT_EQ(run(telnet, kLan0).action, TC_ACT_OK);
  auto after = stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.misses, before.misses + 1);
  EXPECT_EQ(after.stale, before.stale + 1) << "found, but of the previous generation";
  EXPECT_EQ(after.inserts, before.inserts) << "rewritten in place";
  EXPECT_EQ(run(telnet, kLan0).action, TC_ACT_OK);
  EXPECT_EQ(stats().hits, after.hits + 1) << "the new decision is cached";

  // Failover: the cache holds the profile, so the cached flow moves with one map write.
  ASSERT_TRUE(prog_->replace_rules(compiled_.tables).ok());
  const FrameSpec https{"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 443};
  EXPECT_EQ(run(https, kLan0).mark, mark_of("pop1-primary"));
  ASSERT_TRUE(prog_->set_active_path(compiled_.profile_ids.at("Cloud"), 1).ok());
  before = stats();
  EXPECT_EQ(run(https, kLan0).mark, mark_of("pop2-secondary"));
  after = stats();
  EXPECT_EQ(after.hits, before.hits + 1) << "decided by the cache, still";
  EXPECT_EQ(after.misses, before.misses);
}

TEST_F(Classifier, TheCacheHasTheConfiguredSize) {
  EXPECT_EQ(prog_->flow_cache_size(), uint32_t{SEDGE_STEER_FLOW_CACHE_DEFAULT});
  prog_.reset();
  auto sized = bpf::SteerProgram::load(pin_dir(), 1024);
  ASSERT_TRUE(sized.ok()) << sized.error().message;
  EXPECT_EQ((*sized)->flow_cache_size(), 1024u);
  sized->reset();
  auto again = bpf::SteerProgram::load(pin_dir());  // no size asked: the pinned cache's
  ASSERT_TRUE(again.ok()) << again.error().message;
  prog_ = std::move(*again);
  EXPECT_EQ(prog_->flow_cache_size(), 1024u);
  EXPECT_EQ(run({"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 443}, kLan0).mark, mark_of("pop1-primary")) << "rules kept";
}

TEST_F(Classifier, ARestartReusesThePinnedMaps) {
  const FrameSpec https{"10.99.99.10", "192.0.2.34", IPPROTO_TCP, 443};
  ASSERT_TRUE(prog_->set_active_path(compiled_.profile_ids.at("Cloud"), 1).ok());
  prog_.reset();  // the daemon goes away; the maps stay pinned
  auto again = bpf::SteerProgram::load(pin_dir());
  ASSERT_TRUE(again.ok()) << again.error().message;
  prog_ = std::move(*again);
  EXPECT_EQ(run(https, kLan0).mark, mark_of("pop2-secondary")) << "rules and the active path survived";
  EXPECT_TRUE(std::filesystem::exists(pin_dir() + "/steer_prefix4_0"));
}

}  // namespace
}  // namespace sedge::steering

// The netlink layer against the host kernel, in a private network namespace (root needed).
// Every object is checked through iproute2's output, not only through our own reader. The
// host kernel has no ESP: states are refused here (tested as such) and covered in the lab.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "netlink/ownership.h"
#include "netlink/reconcile.h"
#include "netlink/route.h"
#include "netlink/xfrm_client.h"
#include "tests/support/netns.h"

#define ASSERT_OK(expr)                                \
  do {                                                 \
    auto status_ = (expr);                             \
    ASSERT_TRUE(status_.ok()) << status_.error().message; \
  } while (0)

namespace sedge::netlink {
namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

nlohmann::json run_json(const std::string& cmd) {
  std::string out = run(cmd);
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << cmd << ": " << out;
  return j;
}

// `ip xfrm policy` has no JSON output: split its text into one block per policy.
std::vector<std::string> xfrm_blocks(const std::string& what) {
  std::string text = run("ip xfrm " + what);
  std::vector<std::string> blocks;
  size_t start = 0;
  while (start < text.size()) {
    size_t next = start;
    do {
      next = text.find('\n', next);
      if (next == std::string::npos) next = text.size(); else ++next;
    } while (next < text.size() && (text[next] == '\t' || text[next] == ' '));
    blocks.push_back(text.substr(start, next - start));
    start = next;
  }
  return blocks;
}

bool has_block_with(const std::vector<std::string>& blocks, std::initializer_list<const char*> parts) {
  for (const auto& b : blocks) {
    bool all = true;
    for (const char* p : parts) all = all && b.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
IpPrefix net(const char* s) { return *IpPrefix::parse(s); }

class KernelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A fresh network namespace for this process and the ip commands it runs.
    skip_reason_ = sedge::testing::enter_network_namespace();
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    auto x = XfrmClient::open();
    ASSERT_TRUE(x.ok()) << x.error().message;
    xfrm_.emplace(std::move(*x));
    auto r = RouteClient::open();
    ASSERT_TRUE(r.ok()) << r.error().message;
    routes_.emplace(std::move(*r));
  }
  void TearDown() override {
    run("ip xfrm policy flush; ip xfrm state flush");
    for (const char* dev : {"sec-t0", "sec-t1", "sec-a", "sec-b", "snl-other"}) {
      run(std::string("ip link del ") + dev);
    }
    run("ip rule flush; ip rule add priority 32766 lookup main; ip rule add priority 32767 lookup default");
    run("ip -6 rule flush; ip -6 rule add priority 32766 lookup main");
  }

  static std::string skip_reason_;
  std::optional<XfrmClient> xfrm_;
  std::optional<RouteClient> routes_;
};
std::string KernelTest::skip_reason_;

XfrmPolicy tunnel_policy(const char* src, const char* dst, XfrmDir dir, uint32_t reqid,
                         const char* tsrc, const char* tdst) {
  XfrmPolicy p;
  p.selector = {net(src), net(dst)};
  p.dir = dir;
  p.priority = 1000;
  p.templates = {{ip(tsrc), ip(tdst), XfrmProto::Esp, XfrmMode::Tunnel, reqid}};
  return p;
}

TEST_F(KernelTest, PoliciesAsIproute2ShowsThem) {
  XfrmPolicy out4 = tunnel_policy("10.1.0.0/16", "10.2.0.0/16", XfrmDir::Out, kReqidFirst + 1,
                                  "192.0.2.1", "192.0.2.2");
  out4.mark = XfrmMark{0x2a, 0xffffffff};
  XfrmPolicy in6 = tunnel_policy("2001:db8:2::/48", "2001:db8:1::/48", XfrmDir::In,
                                 kReqidFirst + 2, "2001:db8::2", "2001:db8::1");
  XfrmPolicy fwd_any = tunnel_policy("0.0.0.0/0", "0.0.0.0/0", XfrmDir::Fwd, kReqidFirst + 3,
                                     "198.51.100.2", "198.51.100.1");
  fwd_any.mark = XfrmMark{0x2b, 0xffffffff};
  XfrmPolicy transport;
  transport.selector = {net("192.0.2.1/32"), net("192.0.2.2/32"), IPPROTO_UDP, 0, 500};
  transport.dir = XfrmDir::Out;
  transport.priority = 5;
  XfrmTemplate t;
  t.mode = XfrmMode::Transport;
  t.reqid = kReqidFirst + 4;
  transport.templates = {t};

  for (const auto* p : {&out4, &in6, &fwd_any, &transport}) {
    Status s = xfrm_->add_policy(*p);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  auto blocks = xfrm_blocks("policy");
  EXPECT_TRUE(has_block_with(blocks, {"src 10.1.0.0/16 dst 10.2.0.0/16", "dir out priority 1000",
                                      "mark 0x2a/0xffffffff", "tmpl src 192.0.2.1 dst 192.0.2.2",
                                      "proto esp reqid 1590689793 mode tunnel"}))
      << run("ip xfrm policy");
  EXPECT_TRUE(has_block_with(blocks, {"src 2001:db8:2::/48 dst 2001:db8:1::/48", "dir in",
                                      "tmpl src 2001:db8::2 dst 2001:db8::1", "mode tunnel"}));
  EXPECT_TRUE(has_block_with(blocks, {"src 0.0.0.0/0 dst 0.0.0.0/0", "dir fwd",
                                      "mark 0x2b/0xffffffff"}));
  EXPECT_TRUE(has_block_with(blocks, {"src 192.0.2.1/32 dst 192.0.2.2/32", "proto udp",
                                      "dport 500", "dir out priority 5", "mode transport"}));

  // Our reader agrees with what we wrote.
  auto dumped = xfrm_->dump_policies();
  ASSERT_TRUE(dumped.ok()) << dumped.error().message;
  ASSERT_EQ(dumped->size(), 4u);
  for (const auto* p : {&out4, &in6, &fwd_any, &transport}) {
    auto got = xfrm_->get_policy(p->id());
    ASSERT_TRUE(got.ok()) << got.error().message;
    XfrmPolicy expect = *p;
    expect.index = got->index;
    EXPECT_EQ(*got, expect);
  }

  // Update in place, then delete: the priority changes, nothing is duplicated.
  out4.priority = 7;
  ASSERT_OK(xfrm_->update_policy(out4));
  EXPECT_TRUE(has_block_with(xfrm_blocks("policy"), {"dir out priority 7", "mark 0x2a"}));
  EXPECT_EQ(xfrm_->dump_policies()->size(), 4u);
  for (const auto* p : {&out4, &in6, &fwd_any, &transport}) {
    Status s = xfrm_->delete_policy(p->id());
    EXPECT_TRUE(s.ok()) << s.error().message;
  }
  EXPECT_EQ(run("ip xfrm policy"), "");
}

TEST_F(KernelTest, KernelRefusalsAreClearErrorsNamingTheObject) {
  XfrmPolicy p = tunnel_policy("10.1.0.0/16", "10.2.0.0/16", XfrmDir::Out, kReqidFirst,
                               "192.0.2.1", "192.0.2.2");
  ASSERT_OK(xfrm_->add_policy(p));
  Status again = xfrm_->add_policy(p);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_EQ(again.error().message,
            "adding policy out 10.1.0.0/16->10.2.0.0/16: File exists (EEXIST)");

  XfrmPolicyId missing = p.id();
  missing.dir = XfrmDir::In;
  Status gone = xfrm_->delete_policy(missing);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_NE(gone.error().message.find("deleting policy in 10.1.0.0/16->10.2.0.0/16: No such file"),
            std::string::npos);

  // This kernel has no ESP: the SA is refused, named, and nothing is left behind.
  XfrmSa sa;
  sa.src = ip("192.0.2.1");
  sa.dst = ip("192.0.2.2");
  sa.spi = 0xc1a2b3c4;
  sa.reqid = kReqidFirst;
  sa.aead = XfrmAead{"rfc4106(gcm(aes))", Secret(std::vector<uint8_t>(20, 1)), 128};
  Status refused = xfrm_->add_sa(sa);
  if (refused.ok()) GTEST_SKIP() << "this kernel accepts ESP states (covered by the lab test)";
  EXPECT_EQ(refused.error().message.rfind("adding SA spi 0xc1a2b3c4 192.0.2.1->192.0.2.2: ", 0), 0u)
      << refused.error().message;
  // The kernel's own explanation (extended ACK) is carried along.
  EXPECT_NE(refused.error().message.find(" (kernel: "), std::string::npos) << refused.error().message;
  EXPECT_EQ(run("ip xfrm state"), "");

  // Without CAP_NET_ADMIN: EPERM, said so.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    if (setuid(65534) != 0) _exit(2);
    auto c = XfrmClient::open();
    std::string msg = c ? (c->add_policy(p) ? "ok" : c->add_policy(p).error().message)
                        : c.error().message;
    if (write(fds[1], msg.data(), msg.size()) < 0) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  char buf[512] = {};
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  waitpid(child, nullptr, 0);
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(buf).find("adding policy out 10.1.0.0/16->10.2.0.0/16: Operation not "
                                  "permitted (EPERM); sedge needs CAP_NET_ADMIN"),
            std::string::npos)
      << buf;
}

TEST_F(KernelTest, BatchMapsEachAckToItsRequest) {
  XfrmBatch batch;
  constexpr int kCount = 3000;
  for (int i = 0; i < kCount; ++i) {
    XfrmPolicy p;
    p.selector = {IpPrefix{IpAddress::v4(0x0a000000u + static_cast<uint32_t>(i) * 256), 24},
                  net("10.255.0.0/16")};
    p.dir = XfrmDir::Out;
    p.templates = {{ip("192.0.2.1"), ip("192.0.2.2"), XfrmProto::Esp, XfrmMode::Tunnel,
                    kReqidFirst + static_cast<uint32_t>(i % 100)}};
    ASSERT_TRUE(batch.add_policy(p).ok());
    if (i == 1234) {
      ASSERT_TRUE(batch.add_policy(p).ok());  // a duplicate: must fail alone
    }
  }
  BatchResult r = xfrm_->submit(batch);
  ASSERT_EQ(r.results.size(), static_cast<size_t>(kCount + 1));
  EXPECT_EQ(r.failed(), 1u);
  ASSERT_FALSE(r.results[1235].ok());
  EXPECT_EQ(r.results[1235].error().message,
            "adding policy out 10.4.210.0/24->10.255.0.0/16: File exists (EEXIST)");
  EXPECT_EQ(xfrm_->dump_policies()->size(), static_cast<size_t>(kCount));

  // The same batch again with rollback: everything fails or is undone; nothing new is left.
  run("ip xfrm policy flush");
  XfrmBatch again;
  XfrmPolicy keep = tunnel_policy("10.200.0.0/16", "10.201.0.0/16", XfrmDir::Out, kReqidFirst,
                                  "192.0.2.1", "192.0.2.2");
  ASSERT_OK(xfrm_->add_policy(keep));
  for (int i = 0; i < 10; ++i) {
    XfrmPolicy p = tunnel_policy("10.100.0.0/16", "10.101.0.0/16", XfrmDir::Out, kReqidFirst,
                                 "192.0.2.1", "192.0.2.2");
    p.selector.src = IpPrefix{IpAddress::v4(0x0a640000u + static_cast<uint32_t>(i) * 256), 24};
    ASSERT_TRUE(again.add_policy(p).ok());
  }
  ASSERT_TRUE(again.add_policy(keep).ok());  // collides with the installed one
  BatchResult rolled = xfrm_->submit(again, OnFailure::Rollback);
  EXPECT_EQ(rolled.failed(), 11u);
  EXPECT_EQ(rolled.results[0].error().code, ECANCELED);
  EXPECT_EQ(rolled.results[10].error().code, EEXIST);
  auto left = xfrm_->dump_policies();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);  // only the one that was there before
  EXPECT_EQ(left->front().selector, keep.selector);
}

TEST_F(KernelTest, LostAnswersAreReportedNotTakenForSuccess) {
  // A tiny receive queue and a window of failing requests: the kernel's error answers
  // overflow it (ENOBUFS). Every request is then either answered or "state unknown".
  ASSERT_OK(xfrm_->set_receive_buffer(1024));
  XfrmBatch batch;
  constexpr size_t kCount = 400;
  for (size_t i = 0; i < kCount; ++i) {
    XfrmPolicyId id{{IpPrefix{IpAddress::v4(0x0a000000u + static_cast<uint32_t>(i) * 256), 24},
                     net("10.255.0.0/16")},
                    XfrmDir::Out, std::nullopt, std::nullopt, 0};
    ASSERT_OK(batch.delete_policy(id));  // none exists: each answer is an error
  }
  BatchResult r = xfrm_->submit(batch);
  ASSERT_EQ(r.results.size(), kCount);
  size_t enoent = 0, unknown = 0;
  for (const auto& s : r.results) {
    ASSERT_FALSE(s.ok());
    if (s.error().code == ENOENT) ++enoent;
    if (s.error().code == ENOBUFS) {
      ++unknown;
      EXPECT_NE(s.error().message.find("acknowledgement lost, state unknown"), std::string::npos);
    }
  }
  EXPECT_EQ(enoent + unknown, kCount);
  EXPECT_GT(unknown, 0u) << "the queue did not overflow: the test proves nothing";
  // The socket stays usable afterwards.
  ASSERT_OK(xfrm_->set_receive_buffer(4 << 20));
  XfrmPolicy p = tunnel_policy("10.1.0.0/16", "10.2.0.0/16", XfrmDir::Out, kReqidFirst,
                               "192.0.2.1", "192.0.2.2");
  ASSERT_OK(xfrm_->add_policy(p));
  ASSERT_OK(xfrm_->delete_policy(p.id()));
}

TEST_F(KernelTest, RulesWithFwmarkInTheSedgeRange) {
  Rule v4{AF_INET, kRulePriorityFirst + 1, 0x2a, 0xff, kTableFirst + 1};
  Rule v6{AF_INET6, kRulePriorityFirst + 2, 0x2b, 0xffffffff, kTableFirst + 2};
  ASSERT_OK(routes_->add_rule(v4));
  ASSERT_OK(routes_->add_rule(v6));
  auto rules = run_json("ip -j rule");
  bool found = false;
  for (const auto& r : rules) {
    if (r.value("priority", 0) == static_cast<int>(v4.priority)) {
      found = true;
      EXPECT_EQ(r.value("fwmark", ""), "0x2a");
      EXPECT_EQ(r.value("fwmask", ""), "0xff");
      EXPECT_EQ(r.value("table", ""), std::to_string(kTableFirst + 1));
    }
  }
  EXPECT_TRUE(found) << rules.dump();
  EXPECT_NE(run("ip -6 rule").find("10002:\tfrom all fwmark 0x2b lookup " +
                                   std::to_string(kTableFirst + 2) + " proto 83"),
            std::string::npos)
      << run("ip -6 rule");
  Status dup = routes_->add_rule(v4);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, EEXIST);
  EXPECT_NE(dup.error().message.find("adding rule -4 priority 10001 fwmark 0x2a/0xff"),
            std::string::npos)
      << dup.error().message;
  ASSERT_OK(routes_->delete_rule(v4));
  ASSERT_OK(routes_->delete_rule(v6));
  EXPECT_EQ(run("ip rule").find("fwmark"), std::string::npos);
}

TEST_F(KernelTest, RoutesWithTheSedgeProtocolInTheirTables) {
  ASSERT_OK(routes_->add_veth("sec-t0", "snl-p-t0"));
  ASSERT_OK(routes_->add_address("sec-t0", *IpPrefix::parse_interface("192.0.2.10/24")));
  ASSERT_OK(routes_->add_address("sec-t0", *IpPrefix::parse_interface("2001:db8:10::1/64")));
  Route def{IpPrefix::any(AF_INET), kTableFirst + 5, "sec-t0"};
  Route via{net("10.50.0.0/16"), kTableFirst + 5, "sec-t0", ip("192.0.2.1")};
  Route hole{net("10.60.0.0/16"), kTableFirst + 5, ""};
  hole.type = RouteType::Blackhole;
  Route v6{net("2001:db8:99::/48"), kTableFirst + 6, "sec-t0"};
  for (const auto* r : {&def, &via, &hole, &v6}) {
    Status s = routes_->add_route(*r);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  auto shown = run_json("ip -j route show table all");
  auto shown6 = run_json("ip -j -6 route show table all");
  auto find = [](const nlohmann::json& list, const std::string& dst) -> nlohmann::json {
    for (const auto& r : list) {
      if (r.value("dst", "") == dst) return r;
    }
    return nlohmann::json();
  };
  auto d = find(shown, "default");
  ASSERT_FALSE(d.is_null()) << shown.dump();
  EXPECT_EQ(d.value("dev", ""), "sec-t0");
  EXPECT_EQ(d.value("table", ""), std::to_string(kTableFirst + 5));
  EXPECT_EQ(d.value("protocol", ""), "83");
  auto v = find(shown, "10.50.0.0/16");
  EXPECT_EQ(v.value("gateway", ""), "192.0.2.1");
  auto h = find(shown, "10.60.0.0/16");
  EXPECT_EQ(h.value("type", ""), "blackhole");
  auto s6 = find(shown6, "2001:db8:99::/48");
  EXPECT_EQ(s6.value("table", ""), std::to_string(kTableFirst + 6));
  EXPECT_EQ(s6.value("protocol", ""), "83");

  auto ours = routes_->list_routes();
  ASSERT_TRUE(ours.ok()) << ours.error().message;
  EXPECT_EQ(ours->size(), 4u);

  Status dup = routes_->add_route(def);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "adding route 0.0.0.0/0 dev sec-t0 table " +
                                     std::to_string(kTableFirst + 5) + ": File exists (EEXIST)");
  Status missing = routes_->add_route(Route{net("10.70.0.0/16"), kTableFirst + 5, "sec-nope"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENODEV);
  EXPECT_NE(missing.error().message.find("device sec-nope not found"), std::string::npos);
  EXPECT_TRUE(routes_->replace_route(def).ok());

  for (const auto* r : {&def, &via, &hole, &v6}) {
    Status s = routes_->delete_route(*r);
    EXPECT_TRUE(s.ok()) << s.error().message;
  }
  EXPECT_EQ(routes_->list_routes()->size(), 0u);
  EXPECT_FALSE(routes_->delete_route(def).ok());
}

TEST_F(KernelTest, ReconcileAdoptsWhatIsWantedAndRemovesTheRest) {
  // What a crashed sedge left behind, plus objects of someone else.
  ASSERT_OK(routes_->add_veth("sec-a", "snl-p--a"));
  ASSERT_OK(routes_->add_veth("sec-b", "snl-p--b"));
  ASSERT_OK(routes_->add_veth("snl-other", "snl-p-ot"));
  XfrmPolicy keep_pol = tunnel_policy("10.1.0.0/16", "10.2.0.0/16", XfrmDir::Out, kReqidFirst,
                                      "192.0.2.1", "192.0.2.2");
  XfrmPolicy stale_pol = tunnel_policy("10.3.0.0/16", "10.4.0.0/16", XfrmDir::Out,
                                       kReqidFirst + 9, "192.0.2.1", "192.0.2.2");
  XfrmPolicy foreign_pol = tunnel_policy("10.5.0.0/16", "10.6.0.0/16", XfrmDir::Out, 77,
                                         "192.0.2.1", "192.0.2.2");
  for (const auto* p : {&keep_pol, &stale_pol, &foreign_pol}) ASSERT_OK(xfrm_->add_policy(*p));
  Route keep_route{IpPrefix::any(AF_INET), kTableFirst, "sec-a"};
  Route stale_route{IpPrefix::any(AF_INET), kTableFirst + 1, "sec-b"};
  ASSERT_OK(routes_->add_route(keep_route));
  ASSERT_OK(routes_->add_route(stale_route));
  run("ip route add 10.9.0.0/16 dev snl-other table 100");  // not ours (protocol boot)
  Rule keep_rule{AF_INET, kRulePriorityFirst, 0x10, 0xff, kTableFirst};
  Rule stale_rule{AF_INET, kRulePriorityFirst + 1, 0x11, 0xff, kTableFirst + 1};
  ASSERT_OK(routes_->add_rule(keep_rule));
  ASSERT_OK(routes_->add_rule(stale_rule));
  run("ip rule add fwmark 0x99 lookup 100 priority 20000");  // not ours

  KeepSet keep;
  keep.policies = {keep_pol.id()};
  keep.links = {"sec-a"};
  keep.routes = {keep_route};
  keep.rules = {keep_rule};
  auto report = reconcile(*xfrm_, *routes_, keep);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->errors.empty());
  EXPECT_EQ(report->policies_adopted, 1u);
  EXPECT_EQ(report->policies_removed, 1u);
  EXPECT_EQ(report->links_adopted, 1u);
  EXPECT_EQ(report->links_removed, 1u);
  EXPECT_EQ(report->routes_adopted, 1u);
  EXPECT_EQ(report->routes_removed, 1u);
  EXPECT_EQ(report->rules_adopted, 1u);
  EXPECT_EQ(report->rules_removed, 1u);

  auto blocks = xfrm_blocks("policy");
  EXPECT_TRUE(has_block_with(blocks, {"src 10.1.0.0/16"}));
  EXPECT_FALSE(has_block_with(blocks, {"src 10.3.0.0/16"}));
  EXPECT_TRUE(has_block_with(blocks, {"src 10.5.0.0/16"}));  // foreign: untouched
  std::string links = run("ip -br link");
  EXPECT_NE(links.find("sec-a"), std::string::npos);
  EXPECT_EQ(links.find("sec-b"), std::string::npos);
  EXPECT_NE(links.find("snl-other"), std::string::npos);
  std::string rules = run("ip rule");
  EXPECT_NE(rules.find("fwmark 0x10/0xff"), std::string::npos) << rules;
  EXPECT_EQ(rules.find("fwmark 0x11/0xff"), std::string::npos) << rules;
  EXPECT_NE(rules.find("fwmark 0x99"), std::string::npos) << rules;
  EXPECT_NE(run("ip route show table 100"), "");

  // A second pass changes nothing: the set is stable.
  auto second = reconcile(*xfrm_, *routes_, keep);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->policies_removed + second->links_removed + second->routes_removed +
                second->rules_removed,
            0u);
}

TEST_F(KernelTest, AcquireEventArrivesForTrafficWithoutSa) {
  auto monitor = XfrmMonitor::open();
  ASSERT_TRUE(monitor.ok()) << monitor.error().message;
  ASSERT_OK(routes_->add_veth("sec-t1", "snl-p-t1"));
  ASSERT_OK(routes_->add_address("sec-t1", *IpPrefix::parse_interface("10.77.0.1/24")));
  XfrmPolicy p = tunnel_policy("10.77.0.0/24", "10.78.0.0/24", XfrmDir::Out, kReqidFirst + 42,
                               "192.0.2.1", "192.0.2.2");
  ASSERT_OK(xfrm_->add_policy(p));
  ASSERT_OK(routes_->add_route(Route{net("10.78.0.0/24"), 254, "sec-t1"}));

  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  inet_pton(AF_INET, "10.78.0.5", &to.sin_addr);
  (void)sendto(s, "x", 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to);
  close(s);

  std::vector<XfrmEvent> events;
  for (int i = 0; i < 50 && events.empty(); ++i) {
    auto got = monitor->read();
    ASSERT_TRUE(got.ok()) << got.error().message;
    events = std::move(*got);
    if (events.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(events.empty()) << "no acquire event";
  auto* acq = std::get_if<XfrmAcquireEvent>(&events.front());
  ASSERT_NE(acq, nullptr);
  EXPECT_EQ(acq->reqid, kReqidFirst + 42);
  EXPECT_EQ(acq->dst, ip("192.0.2.2"));
  EXPECT_EQ(acq->selector.dst.address, ip("10.78.0.5"));
}

}  // namespace
}  // namespace sedge::netlink

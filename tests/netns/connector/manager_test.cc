// The connector manager's state machine and reload diff, in a network namespace of its own: the
// manager's engine at 127.0.0.1 initiates to a responder engine at 127.0.0.2 (real IKE over
// loopback), the kernel is a recording fake (XFRM and links), and retries run on a fake clock:
// a test fires them when it wants, so backoff is checked by construction, never by waiting.
#include "agent/connector/manager.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "tests/support/netns.h"
#include "tests/support/no_kernel.h"
#include "tests/unit/config/config_fixture.h"

namespace sedge::connector {
namespace {

using std::chrono::seconds;

// The kernel's XFRM as a set of live SPIs; every call succeeds.
class RecordingXfrm final : public XfrmOps {
 public:
  std::set<uint32_t> sas;
  size_t policies = 0;
  Result<uint32_t> alloc_spi(const netlink::XfrmSpiRequest&) override { return next_spi_++; }
  Status add_sa(const netlink::XfrmSa& sa) override { return (sas.insert(sa.spi), Status{}); }
  Status update_sa(const netlink::XfrmSa& sa) override { return (sas.insert(sa.spi), Status{}); }
  Status delete_sa(const netlink::XfrmSaId& id) override { return (sas.erase(id.spi), Status{}); }
  Status add_policy(const netlink::XfrmPolicy&) override { return (++policies, Status{}); }
  Status delete_policy(const netlink::XfrmPolicyId&) override { return (--policies, Status{}); }

 private:
  uint32_t next_spi_ = 0xc1000000;
};

// Links and routes as sets of names; the WAN's address is 127.0.0.1 unless `wan_error` is set.
class RecordingLinks final : public LinkOps {
 public:
  std::set<std::string> links;
  std::vector<std::string> deleted;
  std::string wan_error;
  Status add_vti(const netlink::VtiLink& l) override { return (links.insert(l.name), Status{}); }
  Status delete_link(const std::string& name) override {
    if (links.erase(name)) deleted.push_back(name);
    return {};
  }
  Status replace_route(const netlink::Route&) override { return {}; }
  Status delete_route(const netlink::Route&) override { return {}; }
  Result<ike::Address> address_of(const std::string&, sa_family_t) override {
    if (!wan_error.empty()) return Error{wan_error, EADDRNOTAVAIL};
    return *ike::Address::parse("127.0.0.1", 0);
  }
};

// The fake clock of the retries: what is pending, fired by the test.
class FakeRetries final : public Retries {
 public:
  struct Pending {
    seconds delay;
    std::function<void()> fire;
  };
  std::map<const void*, Pending>& pending;
  explicit FakeRetries(std::map<const void*, Pending>& p) : pending(p) {}
  void schedule(const void* key, seconds delay, std::function<void()> fire) override {
    pending[key] = {delay, std::move(fire)};
  }
  void cancel(const void* key) override { pending.erase(key); }
};

constexpr const char* kPsk = "manager test key";

// A tunnel to the responder, in a connector of its own with a profile that uses it.
std::string tunnel(const std::string& name, const std::string& extra = "") {
  return "[Connector " + name +
         "]\nProvider=custom\nLocalId=site1@example.com\nPresharedKeyCredential=site.psk\n\n"
         "[Tunnel " +
         name + "]\nConnector=" + name +
         "\nRole=primary\nWan=wan0\nRemote=127.0.0.2\n"
         "RemoteId=pop.example.net\nIkeProposal=aes128gcm16-prfsha256-ecp256\nEspProposal="
         "aes128gcm16\n" +
         extra +
         "\n"
         "[SteeringProfile " +
         name + "]\nPath=" + name + "\n\n";
}
const std::string kInterfaces =
    "[Interface wan0]\nRole=wan\n\n[Interface lan0]\nRole=lan\nNetwork=10.99.99.0/24\n\n";

class ManagerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { skip_reason_ = sedge::testing::enter_network_namespace(); }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_GE(sd_event_new(&loop_), 0);
    tree_.write("cred", "site.psk", kPsk, 0600);
    start_responder();
    ike::EngineOptions o;
    o.sockets.bind = {*ike::Address::parse("127.0.0.1", 0)};
    auto engine = ike::Engine::open(loop_, o);
    ASSERT_TRUE(engine.ok()) << engine.error().message;
    manager_ = std::make_unique<Manager>(loop_, std::move(*engine), xfrm_, links_,
                                         std::make_unique<FakeRetries>(pending_));
  }

  void TearDown() override {
    manager_.reset();
    responder_.reset();
    if (loop_) sd_event_unref(loop_);
  }

  void start_responder() {
    auto suite = ike::parse_suite("aes128gcm16-prfsha256-ecp256", "aes128gcm16");
    ASSERT_TRUE(suite.ok());
    ike::TunnelSpec& t = pop_.tunnel;
    t.local_id_type = ike::kIdFqdn;
    t.local_id = "pop.example.net";
    t.remote_id_type = ike::kIdRfc822;
    t.remote_id = "site1@example.com";
    t.psk = &pop_psk_;
    t.local_ts = t.remote_ts = all();
    pop_.suite = *suite;
    ike::EngineOptions o;
    o.sockets.bind = {*ike::Address::parse("127.0.0.2", 0)};
    auto e = ike::Engine::open(loop_, o);
    ASSERT_TRUE(e.ok()) << e.error().message;
    responder_ = std::move(*e);
    responder_->observe([this](ike::IkeSa& sa, const ike::SaEvent& ev) {
      if (ev.kind == ike::SaEventKind::up) pop_sas_.insert(&sa);
      if (ev.kind == ike::SaEventKind::down) pop_sas_.erase(&sa);
    });
    const ike::SaConfig* only = &pop_;
    responder_->listen(
        pop_, [only](uint8_t, const std::string&) { return only; },
        ike::SaEnvironment{&pop_kernel_, nullptr, 0});
  }

  static ike::TrafficSelector all() {
    ike::TrafficSelector ts;
    ts.type = ike::kTsIpv4AddrRange;
    std::fill_n(ts.end, ts.address_size(), uint8_t{0xff});
    return ts;
  }

  config::Config load(const std::string& text) {
    tree_.write("etc", "sedge.conf", kInterfaces + text);
    auto loaded = config::load(tree_.sources());
    EXPECT_TRUE(loaded.ok());
    if (loaded.ok()) {
      for (const auto& d : loaded->diagnostics) {
        if (d.severity == config::Diagnostic::Severity::error) ADD_FAILURE() << d.str();
      }
    }
    return loaded.ok() ? std::move(loaded->config) : config::Config{};
  }

  std::optional<TunnelView> view(const std::string& name) const {
    for (auto& v : manager_->tunnels()) {
      if (v.name == name) return v;
    }
    return std::nullopt;
  }
  RunState state(const std::string& name) const {
    auto v = view(name);
    return v ? v->state : RunState::down;
  }

  // Runs the loop until `done` (at most 10 s of real time, for a broken build to fail, not hang).
  bool run_until(const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) sd_event_run(loop_, 10000);
    return done();
  }
  bool all_up(std::initializer_list<const char*> names) {
    return run_until([&] {
      for (const char* n : names) {
        if (state(n) != RunState::up) return false;
      }
      return true;
    });
  }

  seconds pending_delay() const {
    return pending_.size() == 1 ? pending_.begin()->second.delay : seconds(-1);
  }
  void fire() {
    ASSERT_EQ(pending_.size(), 1u);
    auto fire = std::move(pending_.begin()->second.fire);
    pending_.erase(pending_.begin());
    fire();
  }

  static inline std::string skip_reason_;
  sd_event* loop_ = nullptr;
  config::testing::ConfigTree tree_;
  Secret pop_psk_{std::string_view(kPsk)};
  ike::SaConfig pop_;
  sedge::testing::NoKernel pop_kernel_{0xd1000000};  // the POP's kernel: not looked at
  std::unique_ptr<ike::Engine> responder_;
  std::set<ike::IkeSa*> pop_sas_;
  RecordingXfrm xfrm_;
  RecordingLinks links_;
  std::map<const void*, FakeRetries::Pending> pending_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(ManagerTest, ReloadTouchesOnlyWhatChanged) {
  manager_->apply(load(tunnel("keep") + tunnel("change") + tunnel("drop")));
  ASSERT_TRUE(all_up({"keep", "change", "drop"}));
  EXPECT_EQ(links_.links, (std::set<std::string>{"sec-keep", "sec-change", "sec-drop"}));
  EXPECT_EQ(xfrm_.sas.size(), 6u);  // a pair per tunnel
  const TunnelView keep = *view("keep"), change = *view("change"), drop = *view("drop");
  ASSERT_EQ(keep.children.size(), 1u);

  // "change" gets another DPD interval, "drop" goes, "add" comes.
  manager_->apply(load(tunnel("keep") + tunnel("change", "DpdIntervalSec=20\n") + tunnel("add")));
  ASSERT_TRUE(all_up({"keep", "change", "add"}));
  EXPECT_FALSE(view("drop"));
  const TunnelView keep2 = *view("keep"), change2 = *view("change");
  EXPECT_EQ(keep2.spi_i, keep.spi_i) << "the untouched tunnel kept its IKE SA";
  ASSERT_EQ(keep2.children.size(), 1u);
  EXPECT_EQ(keep2.children[0].spi_in, keep.children[0].spi_in);
  EXPECT_EQ(keep2.children[0].spi_out, keep.children[0].spi_out);
  EXPECT_TRUE(xfrm_.sas.count(keep.children[0].spi_in) &&
              xfrm_.sas.count(keep.children[0].spi_out));
  EXPECT_NE(change2.spi_i, change.spi_i) << "the changed tunnel restarted";
  EXPECT_FALSE(xfrm_.sas.count(change.children[0].spi_in))
      << "the changed tunnel's old SAs left the kernel";
  EXPECT_FALSE(xfrm_.sas.count(drop.children[0].spi_in) ||
               xfrm_.sas.count(drop.children[0].spi_out))
      << "the removed tunnel's SAs left the kernel";
  EXPECT_EQ(links_.links, (std::set<std::string>{"sec-keep", "sec-change", "sec-add"}));
  EXPECT_EQ(xfrm_.sas.size(), 6u);
  // The POP heard the Deletes: only the three live IKE SAs are left there.
  EXPECT_TRUE(run_until([&] { return pop_sas_.size() == 3; }))
      << pop_sas_.size() << " IKE SAs at the POP";
}

TEST_F(ManagerTest, AnUnreferencedTunnelDoesNotRun) {
  std::string unused = tunnel("unused");
  unused.erase(unused.find("[SteeringProfile"));
  manager_->apply(load(tunnel("used") + unused));
  ASSERT_TRUE(all_up({"used"}));
  EXPECT_FALSE(view("unused"));
  EXPECT_EQ(links_.links, (std::set<std::string>{"sec-used"}));
}

TEST_F(ManagerTest, FailuresBackOffFromFiveSecondsDoublingToAMinute) {
  links_.wan_error = "the WAN device wan0 has no IPv4 address";
  manager_->apply(load(tunnel("t")));
  EXPECT_EQ(state("t"), RunState::backoff);
  EXPECT_EQ(view("t")->last_error, links_.wan_error);
  std::vector<long> delays;
  for (int i = 0; i < 6; ++i) {
    delays.push_back(pending_delay().count());
    fire();
    EXPECT_EQ(state("t"), RunState::backoff);
  }
  EXPECT_EQ(delays, (std::vector<long>{5, 10, 20, 40, 60, 60}));
  EXPECT_TRUE(links_.links.empty());
  EXPECT_TRUE(xfrm_.sas.empty());

  // The WAN gets its address: the next try connects, and a later failure starts again at 5 s.
  links_.wan_error.clear();
  fire();
  EXPECT_EQ(state("t"), RunState::connecting);
  ASSERT_TRUE(all_up({"t"}));
  EXPECT_TRUE(pending_.empty()) << "no retry is pending while the tunnel is up";
  ASSERT_EQ(pop_sas_.size(), 1u);
  responder_->close(*pop_sas_.begin());  // the POP deletes the IKE SA
  ASSERT_TRUE(run_until([&] { return state("t") == RunState::backoff; }));
  EXPECT_EQ(pending_delay(), seconds(5));
  EXPECT_TRUE(xfrm_.sas.empty()) << "the deleted IKE SA's CHILD_SA left the kernel";
  fire();
  EXPECT_TRUE(all_up({"t"}));
}

TEST_F(ManagerTest, TheOperatorTakesATunnelDownAndUp) {
  manager_->apply(load(tunnel("t")));
  ASSERT_TRUE(all_up({"t"}));
  ASSERT_TRUE(manager_->down("t").ok());
  EXPECT_EQ(state("t"), RunState::down);
  EXPECT_TRUE(pending_.empty()) << "down stays down: no retry";
  EXPECT_TRUE(xfrm_.sas.empty());
  EXPECT_EQ(links_.deleted, (std::vector<std::string>{"sec-t"}));
  EXPECT_TRUE(run_until([&] { return pop_sas_.empty(); })) << "the POP heard the Delete";
  ASSERT_TRUE(manager_->up("t").ok());
  EXPECT_TRUE(all_up({"t"}));
  EXPECT_FALSE(manager_->up("nothing").ok());
  EXPECT_FALSE(manager_->down("nothing").ok());
}

TEST_F(ManagerTest, ShutdownLeavesNothing) {
  manager_->apply(load(tunnel("a") + tunnel("b")));
  ASSERT_TRUE(all_up({"a", "b"}));
  manager_->shutdown();
  EXPECT_TRUE(manager_->tunnels().empty());
  EXPECT_TRUE(xfrm_.sas.empty());
  EXPECT_EQ(xfrm_.policies, 0u);
  EXPECT_TRUE(links_.links.empty());
  EXPECT_TRUE(pending_.empty());
}

}  // namespace
}  // namespace sedge::connector

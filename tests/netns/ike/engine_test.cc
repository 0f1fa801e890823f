// ike::Engine on loopback in a private network namespace: a responder Engine and initiator
// Engines on ports the kernel picks, all on one sd-event loop driven until a condition holds.
// Many initiators at once, the COOKIE path (RFC 7296 2.6) and its secret's rotation,
// retransmitted IKE_SA_INITs, a wrong PSK, the half-open caps and timeout, and a flood of
// malformed datagrams while an initiator connects. The kernel side is a recording fake.
#include "ike/engine.h"
#include "tests/support/netns.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace sedge::ike {
namespace {

using namespace std::chrono_literals;

constexpr auto kDeadline = 30s;  // loopback settles in well under a second; this bounds a failure

TrafficSelector ts(uint8_t a, uint8_t b, uint8_t c) {
  TrafficSelector t;
  t.start[0] = a, t.start[1] = b, t.start[2] = c, t.start[3] = 0;
  t.end[0] = a, t.end[1] = b, t.end[2] = c, t.end[3] = 255;
  return t;
}

Bytes bytes_of(const Secret& s) { return Bytes(s.bytes().begin(), s.bytes().end()); }

Address host(int n, uint16_t port = 0) { return *Address::parse("127.0.0." + std::to_string(n), port); }

// Records what an engine asks of the kernel; SPIs from `first`.
class RecordingKernel : public ChildSaHandler {
 public:
  explicit RecordingKernel(uint32_t first) : next_(first) {}
  Result<uint32_t> allocate_spi(const ChildSa&) override {
    larval_.insert(next_);
    return next_++;
  }
  Status install_inbound(const ChildSa& c) override {
    if (!larval_.erase(c.spi_in)) problems.push_back("inbound SA without an allocated SPI");
    inbound[c.spi_in] = bytes_of(c.key_in);
    return {};
  }
  Status install_outbound(const ChildSa& c) override {
    if (!inbound.count(c.spi_in)) problems.push_back("outbound SA before its inbound SA");
    outbound[c.spi_out] = bytes_of(c.key_out);
    return {};
  }
  Status install_policies(const ChildSa&) override {
    ++policies;
    return {};
  }
  void remove_policies(const ChildSa&) override { --policies; }
  void remove(const ChildSa& c) override {
    larval_.erase(c.spi_in);
    inbound.erase(c.spi_in);
    outbound.erase(c.spi_out);
    ++removed;
  }
  size_t larval() const { return larval_.size(); }

  std::map<uint32_t, Bytes> inbound, outbound;  // by SPI: the key
  int policies = 0, removed = 0;
  std::vector<std::string> problems;

 private:
  uint32_t next_;
  std::set<uint32_t> larval_;
};

// What an engine's observer saw of one IKE SA.
struct Outcome {
  bool up = false, down = false;
  std::string why;
  uint64_t spi_i = 0, spi_r = 0;
  uint32_t child_in = 0, child_out = 0;
  Bytes key_in, key_out;
};

void record(std::map<uint64_t, Outcome>& into, IkeSa& sa, const SaEvent& e) {
  const Generation* g = sa.current();
  const uint64_t spi_i = g ? g->spi_i : 0;
  Outcome& o = into[spi_i];
  if (e.kind == SaEventKind::up) {
    o.up = true;
    o.spi_i = g->spi_i;
    o.spi_r = g->spi_r;
    if (const Child* c = sa.child(0)) {
      o.child_in = c->sa.spi_in;
      o.child_out = c->sa.spi_out;
      o.key_in = bytes_of(c->sa.key_in);
      o.key_out = bytes_of(c->sa.key_out);
    }
  } else if (e.kind == SaEventKind::down) {
    o.down = true;
    o.why = e.text;
  }
}

// A raw IKE_SA_INIT request as an initiator sends it (RFC 7296 1.2), the COOKIE first if any.
Bytes init_request(const Suite& suite, uint64_t spi_i, const Bytes& cookie = {}) {
  auto dh = KeyExchange::generate(suite.dh_group);
  std::vector<Payload> p = {{kSa, false, encode_sa({{1, kProtocolIke, {}, ike_transforms(suite)}})},
                            {kKe, false, encode_ke(suite.dh_group, dh->public_value())},
                            {kNonce, false, Bytes(32, 7)}};
  if (!cookie.empty()) p.insert(p.begin(), {kNotify, false, encode_notify({0, {}, kNotifyCookie, cookie})});
  return serialize({spi_i, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, p);
}

// The COOKIE of a response that asks for one, else empty.
Bytes cookie_in(const Bytes& response) {
  auto m = parse(response);
  if (!m || m->payloads.empty() || m->payloads.front().type != kNotify) return {};
  auto n = decode_notify(m->payloads.front().body);
  return n && n->type == kNotifyCookie ? n->data : Bytes{};
}

// A UDP socket of our own at 127.0.0.<n>, read without blocking (the loop is ours to drive).
struct RawPeer {
  int fd = -1;
  explicit RawPeer(int n) {
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_storage ss{};
    const socklen_t len = host(n).to_sockaddr(ss);
    EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&ss), len), 0) << strerror(errno);
  }
  ~RawPeer() { close(fd); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;
  void send(const Bytes& b, uint16_t port, int to = 1) const {  // to 127.0.0.<to>, the responder's
    sockaddr_storage ss{};
    const socklen_t len = host(to, port).to_sockaddr(ss);
    (void)sendto(fd, b.data(), b.size(), 0, reinterpret_cast<const sockaddr*>(&ss), len);
  }
  // One datagram if one is waiting, else empty.
  Bytes try_receive() const {
    Bytes b(65535);
    const ssize_t n = recv(fd, b.data(), b.size(), MSG_DONTWAIT);
    b.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return b;
  }
};

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = sedge::testing::enter_network_namespace();
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_GE(sd_event_new(&loop_), 0);
    auto suite = parse_suite("aes128gcm16-prfsha256-ecp256", "aes128gcm16");
    ASSERT_TRUE(suite.ok()) << suite.error().message;
    suite_ = *suite;
    // The responder's tunnel: the PoP, accepting the site.
    TunnelSpec& t = responder_config_.tunnel;
    t.local_id_type = kIdFqdn;
    t.local_id = "pop.example.net";
    t.remote_id_type = kIdRfc822;
    t.remote_id = "site@example.com";
    t.psk = &psk_;
    t.local_ts = ts(10, 201, 0);
    t.remote_ts = ts(10, 99, 99);
    responder_config_.suite = suite_;
  }

  void TearDown() override {
    initiators_.clear();
    responder_.reset();
    if (loop_) sd_event_unref(loop_);
  }

  void start_responder(ResponderLimits limits = {}) {
    EngineOptions o;
    o.sockets.bind = {host(1)};
    o.sockets.ike_port = 0;
    o.sockets.natt_port = 0;
    o.limits = limits;
    auto e = Engine::open(loop_, o);
    ASSERT_TRUE(e.ok()) << e.error().message;
    responder_ = std::move(*e);
    responder_->observe([this](IkeSa& sa, const SaEvent& ev) { record(responder_seen_, sa, ev); });
    const SaConfig* only = &responder_config_;
    responder_->listen(
        responder_config_,
        [only](uint8_t type, const std::string& id) {
          return type == only->tunnel.remote_id_type && id == only->tunnel.remote_id ? only : nullptr;
        },
        SaEnvironment{&responder_kernel_, nullptr, 0});
  }

  // An initiator Engine at 127.0.0.<n> (the site), connecting to the responder at once.
  struct Initiator {
    std::unique_ptr<Engine> engine;
    std::map<uint64_t, Outcome> seen;  // by SPIi
    uint64_t spi_i = 0;
    const Outcome* outcome() const {
      auto it = seen.find(spi_i);
      return it == seen.end() ? nullptr : &it->second;
    }
    bool up() const { return outcome() && outcome()->up; }
    bool down() const { return outcome() && outcome()->down; }
    std::string why() const { return outcome() ? outcome()->why : "no outcome yet"; }
  };

  Initiator& connect(int n, const Secret* psk = nullptr) {
    auto in = std::make_unique<Initiator>();
    EngineOptions o;
    o.sockets.bind = {host(n)};
    o.sockets.ike_port = 0;
    o.sockets.natt_port = 0;
    auto e = Engine::open(loop_, o);
    EXPECT_TRUE(e.ok()) << e.error().message;
    in->engine = std::move(*e);
    Initiator* raw = in.get();
    in->engine->observe([raw](IkeSa& sa, const SaEvent& ev) { record(raw->seen, sa, ev); });
    SaConfig c;
    TunnelSpec& t = c.tunnel;
    t.local_id_type = kIdRfc822;
    t.local_id = "site@example.com";
    t.remote_id_type = kIdFqdn;
    t.remote_id = "pop.example.net";
    t.psk = psk ? psk : &psk_;
    t.local_ts = ts(10, 99, 99);
    t.remote_ts = ts(10, 201, 0);
    c.suite = suite_;
    c.retransmit.timeout = 500ms;
    IkeSa* sa = in->engine->initiate(c, SaEnvironment{&initiator_kernel_, nullptr, 0}, host(n),
                                     host(1, responder_->ike_port()));
    EXPECT_NE(sa, nullptr);
    if (sa) in->spi_i = sa->current()->spi_i;
    initiators_.push_back(std::move(in));
    return *initiators_.back();
  }

  // Runs the loop until `done` holds, calling `each` before every step; false at the deadline.
  bool run_until(const std::function<bool()>& done, const std::function<void()>& each = {},
                 std::chrono::seconds limit = kDeadline) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (each) each();
      if (sd_event_run(loop_, 10'000) < 0) return false;
    }
    return true;
  }
  // The next datagram the peer receives, the loop running meanwhile; empty at the deadline.
  Bytes await(const RawPeer& peer) {
    Bytes got;
    run_until([&] { return !(got = peer.try_receive()).empty(); });
    return got;
  }
  // Lets the engines handle what is pending, then whether the peer received nothing.
  bool nothing_for(const RawPeer& peer) {
    while (sd_event_run(loop_, 0) > 0) {
    }
    return peer.try_receive().empty();
  }

  // The responder's view of the initiator's IKE SA matches: same SPIs, CHILD_SA SPIs crossed,
  // and the keys of each direction in the responder's (recorded) kernel.
  void expect_matching_child(const Initiator& in) {
    const Outcome* mine = in.outcome();
    ASSERT_TRUE(mine && mine->up);
    auto it = responder_seen_.find(mine->spi_i);
    ASSERT_NE(it, responder_seen_.end()) << "no responder IKE SA for SPIi " << mine->spi_i;
    const Outcome& theirs = it->second;
    ASSERT_TRUE(theirs.up);
    EXPECT_EQ(theirs.spi_r, mine->spi_r);
    EXPECT_EQ(theirs.child_in, mine->child_out);
    EXPECT_EQ(theirs.child_out, mine->child_in);
    EXPECT_EQ(theirs.key_in, mine->key_out);
    EXPECT_EQ(theirs.key_out, mine->key_in);
    EXPECT_FALSE(mine->key_out.empty());
    auto in_sa = responder_kernel_.inbound.find(mine->child_out);
    ASSERT_NE(in_sa, responder_kernel_.inbound.end());
    EXPECT_EQ(in_sa->second, mine->key_out);
    auto out_sa = responder_kernel_.outbound.find(mine->child_in);
    ASSERT_NE(out_sa, responder_kernel_.outbound.end());
    EXPECT_EQ(out_sa->second, mine->key_in);
  }

  static std::string skip_reason_;
  sd_event* loop_ = nullptr;
  Suite suite_;
  Secret psk_{std::string_view("a pre-shared key of the site, 32b")};
  SaConfig responder_config_;
  RecordingKernel responder_kernel_{0xc0000001};
  RecordingKernel initiator_kernel_{0xa0000001};
  std::map<uint64_t, Outcome> responder_seen_;  // by SPIi
  std::unique_ptr<Engine> responder_;
  std::vector<std::unique_ptr<Initiator>> initiators_;
};
std::string EngineTest::skip_reason_;

TEST_F(EngineTest, FiftyConcurrentInitiatorsAllEstablish) {
  start_responder();  // the default COOKIE threshold (10): most of them are asked for one
  constexpr int kPeers = 50;
  for (int i = 0; i < kPeers; ++i) connect(10 + i);
  auto all_up = [&] {
    for (const auto& in : initiators_) {
      if (!in->up()) return false;
    }
    return true;
  };
  ASSERT_TRUE(run_until([&] { return all_up() || std::any_of(initiators_.begin(), initiators_.end(), [](auto& in) { return in->down(); }); }));
  for (size_t i = 0; i < initiators_.size(); ++i) {
    const Outcome* o = initiators_[i]->outcome();
    ASSERT_TRUE(o && o->up) << "initiator " << i << ": " << (o ? o->why : "no event");
  }
  EXPECT_EQ(responder_->size(), static_cast<size_t>(kPeers));
  EXPECT_EQ(responder_->half_open(), 0u);
  EXPECT_EQ(responder_kernel_.inbound.size(), static_cast<size_t>(kPeers));
  EXPECT_EQ(responder_kernel_.outbound.size(), static_cast<size_t>(kPeers));
  EXPECT_EQ(responder_kernel_.policies, kPeers);
  EXPECT_TRUE(responder_kernel_.problems.empty()) << responder_kernel_.problems.front();
  EXPECT_TRUE(initiator_kernel_.problems.empty()) << initiator_kernel_.problems.front();
  for (const auto& in : initiators_) expect_matching_child(*in);
}

TEST_F(EngineTest, CookieRequiredAndAnswered) {
  ResponderLimits limits;
  limits.cookie_threshold = 0;  // every IKE_SA_INIT must carry a COOKIE
  start_responder(limits);
  Initiator& in = connect(20);
  ASSERT_TRUE(run_until([&] { return in.up() || in.down(); }));
  ASSERT_TRUE(in.up()) << in.why();
  EXPECT_EQ(responder_->stats().cookies_sent, 1u);  // the second IKE_SA_INIT carried a valid one
  EXPECT_EQ(in.engine->stats().cookies_received, 1u);
  EXPECT_EQ(responder_->size(), 1u);
  EXPECT_EQ(responder_->half_open(), 0u);
  expect_matching_child(in);
}

TEST_F(EngineTest, CookieFromAnotherAddressOrSpiGetsANewCookie) {
  ResponderLimits limits;
  limits.cookie_threshold = 0;
  start_responder(limits);
  const uint16_t port = responder_->ike_port();
  RawPeer a(31), b(32);
  a.send(init_request(suite_, 0x55), port);
  const Bytes cookie = cookie_in(await(a));
  ASSERT_FALSE(cookie.empty());
  // Replayed from another address: a COOKIE for that address, no SA.
  b.send(init_request(suite_, 0x55, cookie), port);
  const Bytes for_b = await(b);
  ASSERT_FALSE(cookie_in(for_b).empty());
  EXPECT_NE(cookie_in(for_b), cookie);
  EXPECT_EQ(parse(for_b)->find(kKe), nullptr);
  // From the right address but for another SPI: no SA either.
  a.send(init_request(suite_, 0x56, cookie), port);
  const Bytes other_spi = await(a);
  ASSERT_FALSE(cookie_in(other_spi).empty());
  EXPECT_EQ(parse(other_spi)->find(kKe), nullptr);
  EXPECT_EQ(responder_->size(), 0u);
  // The right one: an SA.
  a.send(init_request(suite_, 0x55, cookie), port);
  auto ok = parse(await(a));
  ASSERT_TRUE(ok.ok());
  EXPECT_NE(ok->find(kKe), nullptr);
  EXPECT_NE(ok->header.spi_r, 0u);
  EXPECT_EQ(responder_->stats().cookies_sent, 3u);
  EXPECT_EQ(responder_->size(), 1u);
  EXPECT_EQ(responder_->half_open(), 1u);
}

// RFC 7296 2.6: COOKIEs carry the version of the secret they were made with; the secret
// changes every cookie_secret_lifetime, the previous one still accepted, older ones not.
TEST_F(EngineTest, CookieSecretRotates) {
  ResponderLimits limits;
  limits.cookie_threshold = 0;
  limits.cookie_secret_lifetime = 2s;
  start_responder(limits);
  const Time opened = responder_->now();  // not before the engine's first secret
  const uint16_t port = responder_->ike_port();
  RawPeer a(35);
  auto cookie_for = [&](uint64_t spi) {
    a.send(init_request(suite_, spi), port);
    return cookie_in(await(a));
  };
  auto answer = [&](uint64_t spi, const Bytes& cookie) {
    a.send(init_request(suite_, spi, cookie), port);
    return await(a);
  };
  const Bytes first = cookie_for(0xa1), second = cookie_for(0xa2);
  ASSERT_EQ(first.size(), 33u);  // the version, then HMAC-SHA-256
  EXPECT_EQ(first[0], second[0]);
  // In the next lifetime: the previous secret's COOKIE still makes an SA; new ones are of the new secret.
  ASSERT_TRUE(run_until([&] { return responder_->now() >= opened + limits.cookie_secret_lifetime + 300ms; }));
  auto made = parse(answer(0xa1, first));
  ASSERT_TRUE(made.ok());
  EXPECT_NE(made->find(kKe), nullptr) << "a COOKIE of the previous secret was refused";
  const Bytes newer = cookie_for(0xa3);
  ASSERT_EQ(newer.size(), 33u);
  EXPECT_NE(newer[0], first[0]);
  EXPECT_EQ(responder_->size(), 1u);
  // Two lifetimes on (nothing asked meanwhile): neither is good any more.
  ASSERT_TRUE(run_until([&] { return responder_->now() >= opened + 3 * limits.cookie_secret_lifetime + 300ms; }));
  for (const auto& [spi, old] : {std::pair{uint64_t{0xa2}, second}, std::pair{uint64_t{0xa3}, newer}}) {
    const Bytes reply = answer(spi, old);
    const Bytes fresh = cookie_in(reply);
    ASSERT_FALSE(fresh.empty()) << "an expired COOKIE made an SA";
    EXPECT_NE(fresh[0], old[0]);
    EXPECT_EQ(parse(reply)->find(kKe), nullptr);
    auto ok = parse(answer(spi, fresh));
    ASSERT_TRUE(ok.ok());
    EXPECT_NE(ok->find(kKe), nullptr);
  }
  EXPECT_EQ(responder_->size(), 3u);
}

TEST_F(EngineTest, RetransmittedInitGetsTheSameResponse) {
  start_responder();
  const uint16_t port = responder_->ike_port();
  RawPeer peer(30);
  const Bytes request = init_request(suite_, 0x1234);
  peer.send(request, port);
  const Bytes first = await(peer);
  ASSERT_FALSE(first.empty());
  auto m = parse(first);
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->header.spi_r, 0u);
  ASSERT_NE(m->find(kKe), nullptr);
  peer.send(request, port);
  EXPECT_EQ(await(peer), first);  // the same SPI, KE and nonce: no second SA, no second DH
  EXPECT_EQ(responder_->stats().retransmits_answered, 1u);
  EXPECT_EQ(responder_->size(), 1u);
  EXPECT_EQ(responder_->half_open(), 1u);
  // The same SPI from another address is another initiator.
  RawPeer other(33);
  other.send(request, port);
  auto second = parse(await(other));
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->header.spi_r, m->header.spi_r);
  EXPECT_EQ(responder_->size(), 2u);
}

TEST_F(EngineTest, WrongKeyIsRefusedAndForgotten) {
  start_responder();
  const Secret wrong(std::string_view("not the key"));
  Initiator& in = connect(40, &wrong);
  ASSERT_TRUE(run_until([&] { return in.down() || in.up(); }));
  const Outcome* outcome = in.outcome();
  ASSERT_TRUE(outcome != nullptr && outcome->down);
  EXPECT_NE(outcome->why.find("AUTHENTICATION_FAILED"), std::string::npos) << outcome->why;
  EXPECT_TRUE(run_until([&] { return responder_->size() == 0; }));
  EXPECT_EQ(responder_->half_open(), 0u);
  EXPECT_EQ(in.engine->size(), 0u);
  auto it = responder_seen_.find(in.spi_i);
  EXPECT_TRUE(it == responder_seen_.end() || !it->second.up);
  EXPECT_TRUE(responder_kernel_.inbound.empty());
  EXPECT_EQ(responder_kernel_.larval(), 0u);
  EXPECT_EQ(responder_kernel_.policies, 0);
  EXPECT_TRUE(initiator_kernel_.inbound.empty());
  EXPECT_EQ(initiator_kernel_.larval(), 0u);  // its ALLOCSPI was given back
}

TEST_F(EngineTest, PerSourceCapRefusesWhileOthersGetIn) {
  ResponderLimits limits;
  limits.cookie_threshold = 1000;
  limits.half_open_per_source = 3;
  start_responder(limits);
  const uint16_t port = responder_->ike_port();
  RawPeer p(70), same_address(70);
  std::vector<Bytes> requests, responses;
  for (uint64_t spi = 1; spi <= 3; ++spi) {
    requests.push_back(init_request(suite_, 0x7000 + spi));
    p.send(requests.back(), port);
    responses.push_back(await(p));
    ASSERT_NE(parse(responses.back())->find(kKe), nullptr);
  }
  EXPECT_EQ(responder_->half_open(), 3u);
  p.send(init_request(suite_, 0x7004), port);
  ASSERT_TRUE(run_until([&] { return responder_->stats().refused_half_open == 1; }));
  EXPECT_TRUE(nothing_for(p));
  // Another port of the same address is the same source.
  same_address.send(init_request(suite_, 0x7005), port);
  ASSERT_TRUE(run_until([&] { return responder_->stats().refused_half_open == 2; }));
  EXPECT_TRUE(nothing_for(same_address));
  EXPECT_EQ(responder_->half_open(), 3u);
  // A retransmission of a half-open SA's request is still answered.
  p.send(requests.front(), port);
  EXPECT_EQ(await(p), responses.front());
  // Another address gets in.
  Initiator& in = connect(71);
  ASSERT_TRUE(run_until([&] { return in.up() || in.down(); }));
  ASSERT_TRUE(in.up()) << in.why();
  expect_matching_child(in);
  EXPECT_EQ(responder_->stats().refused_half_open, 2u);
  EXPECT_EQ(responder_->half_open(), 3u);
}

TEST_F(EngineTest, TotalCapRefusesUntilHalfOpenSasExpire) {
  ResponderLimits limits;
  limits.cookie_threshold = 1000;
  limits.half_open_per_source = 2;
  limits.half_open_max = 4;
  limits.half_open_timeout = 1s;
  start_responder(limits);
  const uint16_t port = responder_->ike_port();
  RawPeer a(80), b(81), c(82);
  for (RawPeer* p : {&a, &b}) {
    for (uint64_t spi = 1; spi <= 2; ++spi) {
      p->send(init_request(suite_, 0x8000 + spi), port);
      ASSERT_NE(parse(await(*p))->find(kKe), nullptr);
    }
  }
  EXPECT_EQ(responder_->half_open(), 4u);
  c.send(init_request(suite_, 0x8100), port);  // under its own cap, over the total one
  ASSERT_TRUE(run_until([&] { return responder_->stats().refused_half_open == 1; }));
  EXPECT_TRUE(nothing_for(c));
  // A real initiator is refused too, until the four expire; its retransmission then gets in.
  Initiator& in = connect(83);
  ASSERT_TRUE(run_until([&] { return responder_->stats().refused_half_open >= 2 || in.up(); }));
  EXPECT_FALSE(in.up());
  ASSERT_TRUE(run_until([&] { return in.up() || in.down(); }));
  ASSERT_TRUE(in.up()) << in.why();
  expect_matching_child(in);
  EXPECT_EQ(responder_->stats().half_open_expired, 4u);
  EXPECT_EQ(responder_->size(), 1u);
  EXPECT_EQ(responder_->half_open(), 0u);
}

TEST_F(EngineTest, HalfOpenSasExpireAfterTheTimeout) {
  ResponderLimits limits;
  limits.half_open_timeout = 1s;
  start_responder(limits);
  const uint16_t port = responder_->ike_port();
  Initiator& in = connect(90);  // established in time: never expired
  ASSERT_TRUE(run_until([&] { return in.up() || in.down(); }));
  ASSERT_TRUE(in.up()) << in.why();
  RawPeer p(91);
  const Bytes request = init_request(suite_, 0x9001);
  p.send(request, port);
  auto first = parse(await(p));
  ASSERT_TRUE(first.ok());
  const Time started = responder_->now();
  EXPECT_EQ(responder_->half_open(), 1u);
  EXPECT_EQ(responder_->size(), 2u);
  ASSERT_TRUE(run_until([&] { return responder_->stats().half_open_expired == 1; }));
  EXPECT_GE(responder_->now() - started, 900ms);  // `started` may be one loop step late
  EXPECT_EQ(responder_->half_open(), 0u);
  EXPECT_EQ(responder_->size(), 1u);  // the established one stays
  // Forgotten: the same request now starts a new SA.
  p.send(request, port);
  auto again = parse(await(p));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->header.spi_r, first->header.spi_r);
  // And that one expires too, the established one staying.
  ASSERT_TRUE(run_until([&] { return responder_->stats().half_open_expired == 2; }));
  EXPECT_EQ(responder_->size(), 1u);
  EXPECT_TRUE(in.up() && !in.down());
}

TEST_F(EngineTest, MalformedFloodDoesNotStopService) {
  start_responder();
  constexpr int kInitiatorHost = 60;
  RawPeer junk(50);
  std::mt19937 rng(7);
  const Bytes valid = init_request(suite_, 0x77);
  uint64_t known_spi_r = 0;  // of the half-open SA the junk's valid request made
  uint64_t sent = 0;
  Initiator* in = nullptr;
  auto flood = [&] {
    for (Bytes r; !(r = junk.try_receive()).empty();) {
      if (auto m = parse(r); m && m->header.spi_i == 0x77 && m->header.spi_r) known_spi_r = m->header.spi_r;
    }
    for (int i = 0; i < 100; ++i) {
      Bytes b;
      switch (rng() % 7) {
        case 0:  // noise
          b.resize(rng() % 600);
          for (auto& x : b) x = static_cast<uint8_t>(rng());
          break;
        case 1:  // truncated
          b.assign(valid.begin(), valid.begin() + static_cast<long>(rng() % valid.size()));
          break;
        case 2:  // a byte changed anywhere, the header too
          b = valid;
          b[rng() % b.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
          break;
        case 3:  // IKE_AUTH for SPIs nobody has
          b = serialize({rng() | 1ull << 40, rng() | 1ull << 40, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0},
                        {{kSk, false, Bytes(64 + rng() % 64, 1), kIdi}});
          break;
        case 4:  // IKE_AUTH for a half-open SA, which does not decrypt
          b = serialize({0x77, known_spi_r ? known_spi_r : rng(), kSk, Exchange::ike_auth, kFlagInitiator, 1, 0},
                        {{kSk, false, Bytes(80, static_cast<uint8_t>(rng())), kIdi}});
          break;
        case 5:  // the non-ESP marker alone, with a scrap after it, or shorter still
          b = Bytes(rng() % 5, 0);
          if (rng() % 2) b.insert(b.end(), valid.begin(), valid.begin() + static_cast<long>(rng() % 28));
          break;
        default:  // the valid request now and then
          b = valid;
          break;
      }
      const unsigned to = rng() % 4;  // the responder's ports, and the initiator's once it runs
      if (to >= 2 && in) {
        junk.send(b, to == 2 ? in->engine->ike_port() : in->engine->natt_port(), kInitiatorHost);
      } else {
        junk.send(b, to % 2 ? responder_->natt_port() : responder_->ike_port());
      }
      ++sent;
    }
  };
  // The flood starts before the initiator and goes on until it is up and enough was sent.
  ASSERT_TRUE(run_until([&] { return sent >= 2000; }, flood));
  in = &connect(kInitiatorHost);
  ASSERT_TRUE(run_until([&] { return (in->up() || in->down()) && sent >= 20000; }, flood));
  ASSERT_TRUE(in->up()) << in->why();
  expect_matching_child(*in);
  EXPECT_GT(responder_->stats().dropped, 1000u);
  EXPECT_GT(in->engine->stats().dropped, 100u);
  EXPECT_LE(responder_->half_open(), ResponderLimits{}.half_open_per_source);
  // And it still serves: a second initiator after the flood.
  Initiator& after = connect(61);
  ASSERT_TRUE(run_until([&] { return after.up() || after.down(); }));
  ASSERT_TRUE(after.up()) << after.why();
  expect_matching_child(after);
}

}  // namespace
}  // namespace sedge::ike

// ike::Server on loopback in a private network namespace: many real initiators at once, the
// COOKIE path, retransmissions, refusals, and a malformed flood while an initiator connects.
#include "ike/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "ike/initiator.h"
#include "tests/support/ipv4.h"

namespace sedge::ike {
namespace {

using testing::ipv4_endpoint;

TrafficSelector ts(uint8_t a, uint8_t b, uint8_t c) { return {{a, b, c, 0}, {a, b, c, 255}}; }

// Records what the server asks of the kernel.
class RecordingHandler : public SaHandler {
 public:
  Result<uint32_t> allocate_spi(const sockaddr_in&) override { return next_spi_++; }
  Status install(const EstablishedSa& sa, const sockaddr_in&) override {
    std::lock_guard lock(mutex_);
    installed_[sa.child_spi_in] = {sa.spi_i, Bytes(sa.child_keys.initiator_to_responder.bytes().begin(),
                                                   sa.child_keys.initiator_to_responder.bytes().end())};
    return {};
  }
  void remove(const EstablishedSa& sa, const sockaddr_in&) override {
    std::lock_guard lock(mutex_);
    installed_.erase(sa.child_spi_in);
    ++removed_;
  }
  std::map<uint32_t, std::pair<uint64_t, Bytes>> installed() {
    std::lock_guard lock(mutex_);
    return installed_;
  }

 private:
  std::mutex mutex_;
  uint32_t next_spi_ = 0xc0000001;  // only the loop calls allocate_spi
  std::map<uint32_t, std::pair<uint64_t, Bytes>> installed_;
  int removed_ = 0;
};

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) {
      skip_reason_ = "needs root (a network namespace, ports 500 and 4500)";
    } else if (unshare(CLONE_NEWNET) != 0) {
      skip_reason_ = std::string("unshare(CLONE_NEWNET) failed: ") + strerror(errno);
    } else if (std::system("ip link set lo up") != 0) {
      skip_reason_ = "could not bring lo up";
    }
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    tunnel_.local_id_type = kIdFqdn;
    tunnel_.local_id = "pop.example.net";
    tunnel_.remote_id_type = kIdRfc822;
    tunnel_.remote_id = "site@example.com";
    tunnel_.psk = &psk_;
    tunnel_.local_ts = ts(10, 201, 0);
    tunnel_.remote_ts = ts(10, 99, 99);
    suite_.dh_group = 19;
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (loop_.joinable()) loop_.join();
    server_.reset();
  }
  void start(size_t cookie_threshold = 256) {
    ServerConfig c;
    c.local = ipv4_endpoint("127.0.0.1");
    c.suite = suite_;
    c.handler = &handler_;
    c.workers = 2;
    c.cookie_threshold = cookie_threshold;
    c.tunnel_for = [this](uint8_t type, const std::string& id) -> const TunnelSpec* {
      return type == tunnel_.remote_id_type && id == tunnel_.remote_id ? &tunnel_ : nullptr;
    };
    auto s = Server::create(std::move(c));
    ASSERT_TRUE(s.ok()) << s.error().message;
    server_ = std::move(*s);
    loop_ = std::thread([this] {
      auto st = server_->run();
      EXPECT_TRUE(st.ok()) << st.error().message;
    });
  }
  // An initiator at 127.0.0.<host>, as the site (the peer's view of tunnel_).
  InitiatorConfig initiator(int host, const Secret* psk = nullptr) {
    InitiatorConfig ic;
    const std::string ip = "127.0.0." + std::to_string(host);
    ic.local = ipv4_endpoint(ip.c_str());
    ic.remote = ipv4_endpoint("127.0.0.1");
    ic.tunnel.local_id_type = kIdRfc822;
    ic.tunnel.local_id = "site@example.com";
    ic.tunnel.remote_id_type = kIdFqdn;
    ic.tunnel.remote_id = "pop.example.net";
    ic.tunnel.psk = psk ? psk : &psk_;
    ic.tunnel.local_ts = ts(10, 99, 99);
    ic.tunnel.remote_ts = ts(10, 201, 0);
    ic.suite = suite_;
    ic.child_spi = 0xa0000000u + static_cast<uint32_t>(host);
    ic.first_timeout = std::chrono::milliseconds(500);
    ic.retransmissions = 4;
    return ic;
  }
  ServerStats wait_for(const std::function<bool(const ServerStats&)>& done) {
    for (int i = 0; i < 100; ++i) {
      const ServerStats s = server_->stats();
      if (done(s)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return server_->stats();
  }

  static std::string skip_reason_;
  Secret psk_{std::string_view("a pre-shared key of the site, 32b")};
  TunnelSpec tunnel_;
  Suite suite_;
  RecordingHandler handler_;
  std::unique_ptr<Server> server_;
  std::thread loop_;
};
std::string ServerTest::skip_reason_;

TEST_F(ServerTest, FiftyConcurrentInitiatorsAllEstablish) {
  start();
  constexpr int kPeers = 50;
  std::vector<std::optional<EstablishedSa>> sas(kPeers);
  std::vector<std::string> errors(kPeers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPeers; ++i) {
    threads.emplace_back([&, i] {
      Initiator in(initiator(10 + i));
      auto sa = in.establish();
      if (sa) {
        sas[static_cast<size_t>(i)].emplace(std::move(*sa));
      } else {
        errors[static_cast<size_t>(i)] = sa.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kPeers; ++i) ASSERT_TRUE(sas[static_cast<size_t>(i)].has_value()) << "initiator " << i << ": " << errors[static_cast<size_t>(i)];
  const ServerStats st = wait_for([](const ServerStats& s) { return s.setups == kPeers; });
  EXPECT_EQ(st.setups, static_cast<uint64_t>(kPeers));
  EXPECT_EQ(st.established, static_cast<size_t>(kPeers));
  EXPECT_EQ(st.half_open, 0u);
  // Each CHILD_SA the server installed is the one its initiator has: same SPI, same keys.
  auto installed = handler_.installed();
  ASSERT_EQ(installed.size(), static_cast<size_t>(kPeers));
  for (const auto& sa : sas) {
    auto it = installed.find(sa->child_spi_out);
    ASSERT_NE(it, installed.end());
    EXPECT_EQ(it->second.first, sa->spi_i);
    EXPECT_TRUE(std::equal(it->second.second.begin(), it->second.second.end(), sa->child_keys.initiator_to_responder.bytes().begin(),
                           sa->child_keys.initiator_to_responder.bytes().end()));
  }
}

TEST_F(ServerTest, CookieRequiredAndAnswered) {
  start(/*cookie_threshold=*/0);
  Initiator in(initiator(20));
  auto sa = in.establish();
  ASSERT_TRUE(sa.ok()) << sa.error().message;
  const ServerStats st = wait_for([](const ServerStats& s) { return s.setups == 1; });
  EXPECT_EQ(st.setups, 1u);
  EXPECT_EQ(st.cookies_sent, 1u);  // exactly one: the second IKE_SA_INIT carried a valid one
}

// A raw IKE_SA_INIT, as an initiator would send it, from a socket of our own.
Bytes init_request(const Suite& suite, uint64_t spi_i, const Bytes& cookie = {}) {
  auto dh = KeyExchange::generate(suite.dh_group);
  std::vector<Payload> p = {{kSa, false, encode_sa({{1, 1, {}, ike_transforms(suite)}})},
                            {kKe, false, encode_ke(suite.dh_group, dh->public_value())},
                            {kNonce, false, Bytes(32, 7)}};
  if (!cookie.empty()) p.insert(p.begin(), {kNotify, false, encode_notify({0, {}, kNotifyCookie, cookie})});
  return serialize({spi_i, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, p);
}

struct RawPeer {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  explicit RawPeer(const char* ip) {
    sockaddr_in a = ipv4_endpoint(ip, 0);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawPeer() { close(fd); }
  void send(const Bytes& b, uint16_t port = 500) const {
    sockaddr_in to = ipv4_endpoint("127.0.0.1", port);
    (void)sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  Bytes receive() const {
    Bytes b(65535);
    const ssize_t n = recv(fd, b.data(), b.size(), 0);
    b.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return b;
  }
};

TEST_F(ServerTest, RetransmittedInitGetsTheCachedResponse) {
  start();
  RawPeer peer("127.0.0.30");
  const Bytes request = init_request(suite_, 0x1234);
  peer.send(request);
  const Bytes first = peer.receive();
  ASSERT_FALSE(first.empty());
  auto m = parse(first);
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->header.spi_r, 0u);
  ASSERT_NE(m->find(kKe), nullptr);
  peer.send(request);
  EXPECT_EQ(peer.receive(), first);  // the same SPI, KE and nonce: no second DH
  const ServerStats st = wait_for([](const ServerStats& s) { return s.retransmits_answered == 1; });
  EXPECT_EQ(st.retransmits_answered, 1u);
  EXPECT_EQ(st.half_open, 1u);
}

TEST_F(ServerTest, CookieFromAnotherAddressOrSpiIsRefused) {
  start(0);
  RawPeer a("127.0.0.31"), b("127.0.0.32");
  a.send(init_request(suite_, 0x55));
  auto reply = parse(a.receive());
  ASSERT_TRUE(reply.ok());
  auto n = decode_notify(reply->payloads.at(0).body);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(n->type, kNotifyCookie);
  b.send(init_request(suite_, 0x55, n->data));  // another address: another COOKIE, no SA
  auto again = parse(b.receive());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->find(kKe), nullptr);
  a.send(init_request(suite_, 0x55, n->data));  // the right one: an SA
  auto ok = parse(a.receive());
  ASSERT_TRUE(ok.ok());
  EXPECT_NE(ok->find(kKe), nullptr);
  EXPECT_EQ(wait_for([](const ServerStats& s) { return s.cookies_sent == 2; }).cookies_sent, 2u);
}

TEST_F(ServerTest, WrongKeyIsRefusedAndForgotten) {
  start();
  const Secret wrong(std::string_view("not the key"));
  Initiator in(initiator(40, &wrong));
  auto sa = in.establish();
  ASSERT_FALSE(sa.ok());
  EXPECT_NE(sa.error().message.find("AUTHENTICATION_FAILED"), std::string::npos) << sa.error().message;
  const ServerStats st = wait_for([](const ServerStats& s) { return s.half_open == 0; });
  EXPECT_EQ(st.half_open, 0u);
  EXPECT_EQ(st.established, 0u);
  EXPECT_EQ(st.refused, 1u);
}

TEST_F(ServerTest, MalformedFloodDoesNotStopService) {
  start();
  std::atomic<bool> flooding{true};
  std::atomic<uint64_t> sent{0};
  std::thread flood([&] {
    RawPeer junk("127.0.0.50");
    std::mt19937 rng(7);
    const Bytes valid = init_request(suite_, 0x77);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (flooding && std::chrono::steady_clock::now() < until) {
      Bytes b;
      switch (rng() % 5) {
        case 0: b.resize(rng() % 600); for (auto& x : b) x = static_cast<uint8_t>(rng()); break;  // noise
        case 1: b.assign(valid.begin(), valid.begin() + static_cast<long>(rng() % valid.size())); break;  // truncated
        case 2: b = valid; b[static_cast<size_t>(28 + rng() % (valid.size() - 28))] ^= static_cast<uint8_t>(1 + rng() % 255); break;
        case 3: b = serialize({rng(), rng() | 1, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0}, {{kSk, false, Bytes(64, 1), kIdi}}); break;
        default: b = Bytes{0, 0, 0, 0}; b.insert(b.end(), valid.begin(), valid.begin() + 20); break;
      }
      junk.send(b, rng() % 2 ? 500 : 4500);
      ++sent;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Initiator in(initiator(60));
  auto sa = in.establish();
  flooding = false;
  flood.join();
  ASSERT_TRUE(sa.ok()) << sa.error().message;
  const ServerStats st = wait_for([](const ServerStats& s) { return s.setups == 1; });
  EXPECT_EQ(st.setups, 1u);
  EXPECT_GT(sent.load(), 1000u);
  EXPECT_GT(st.dropped, 100u);
}

}  // namespace
}  // namespace sedge::ike

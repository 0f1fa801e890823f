// The shared IKE sockets on a real sd-event loop over loopback, IPv4 and IPv6, on ports the
// kernel picks: what the engine is handed (data, from, to), what goes on the wire (the non-ESP
// marker of the NAT-T port, keepalives), what is never handed up, and bind errors.
#include "ike/socket.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace sedge::ike {

// Failures show "127.0.0.1[500]", not the bytes of the struct.
void PrintTo(const Address& a, std::ostream* os) {
  *os << a.to_string();
}

namespace {

constexpr uint64_t kStepUsec = 100'000;  // one sd_event_run
constexpr int kMaxSteps = 50;            // loopback delivers at once; this only bounds a failure
constexpr int kPlainWaitMs = 5000;

// An IKE-sized message whose first bytes look like an initiator SPI (never a zero marker).
Bytes message(size_t size, uint8_t seed) {
  Bytes b(size);
  for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(seed + i * 7 + 1);
  b[0] = 0x80;
  return b;
}

Bytes with_marker(const Bytes& m) {
  // Sized once: growing a 4-byte vector by insert trips GCC 12's -Warray-bounds at -O2.
  Bytes b(4 + m.size(), 0);
  std::copy(m.begin(), m.end(), b.begin() + 4);
  return b;
}

Address address(const char* ip, uint16_t port = 0) {
  auto a = Address::parse(ip, port);
  EXPECT_TRUE(a.has_value()) << ip;
  return a.value_or(Address{});
}

class Loop {
 public:
  Loop() { EXPECT_GE(sd_event_new(&loop_), 0); }
  ~Loop() { sd_event_unref(loop_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  sd_event* get() const { return loop_; }

  // Runs the loop until `done`, a bounded number of steps.
  bool run_until(const std::function<bool()>& done) {
    for (int i = 0; i < kMaxSteps && !done(); ++i) {
      if (sd_event_run(loop_, kStepUsec) < 0) return false;
    }
    return done();
  }
  // Dispatches what is ready now, without waiting.
  void run_ready() {
    while (sd_event_run(loop_, 0) > 0) {
    }
  }

 private:
  sd_event* loop_ = nullptr;
};

// One Sockets on `ip` with kernel-picked ports, keeping what it is handed.
struct Peer {
  Peer(sd_event* loop, const Address& at) : ip(at) {
    SocketOptions o;
    o.bind = {ip};
    o.ike_port = 0;
    o.natt_port = 0;
    auto s = Sockets::open(loop, o, [this](Datagram&& d) { got.push_back(std::move(d)); });
    if (s) {
      sockets = std::move(*s);
    } else {
      error = s.error().message;
    }
  }
  Address ike() const { return ip.with_port(sockets->ike_port()); }
  Address natt() const { return ip.with_port(sockets->natt_port()); }

  Address ip;
  std::unique_ptr<Sockets> sockets;
  std::vector<Datagram> got;
  std::string error;
};

// A plain UDP socket: what is really on the wire, and datagrams our sending code would not make.
class Plain {
 public:
  explicit Plain(const Address& ip) {
    fd_ = socket(ip.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_storage sa;
    const socklen_t len = ip.to_sockaddr(sa);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<const sockaddr*>(&sa), len) != 0) return;
    socklen_t got = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &got);
    address_ = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), got);
  }
  ~Plain() {
    if (fd_ >= 0) close(fd_);
  }
  Plain(const Plain&) = delete;
  Plain& operator=(const Plain&) = delete;

  bool ok() const { return address_.has_value(); }
  const Address& address() const { return *address_; }

  void send(const Bytes& data, const Address& to) const {
    sockaddr_storage sa;
    const socklen_t len = to.to_sockaddr(sa);
    EXPECT_EQ(sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&sa), len),
              static_cast<ssize_t>(data.size()));
  }

  // The next datagram and its sender, waiting a bounded time.
  std::optional<std::pair<Bytes, Address>> receive() const {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, kPlainWaitMs) != 1) return std::nullopt;
    Bytes buf(65535);
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    const ssize_t n =
        recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&sa), &len);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    auto from = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), len);
    if (!from) return std::nullopt;
    return std::pair{std::move(buf), *from};
  }

 private:
  int fd_ = -1;
  std::optional<Address> address_;
};

bool family_available(const Address& ip) {
  return Plain(ip).ok();
}

class SocketTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!family_available(ip_)) GTEST_SKIP() << "cannot bind " << GetParam() << " here";
    ASSERT_TRUE(a_.sockets) << a_.error;
    ASSERT_TRUE(b_.sockets) << b_.error;
    ASSERT_TRUE(plain_.ok());
  }
  bool b_receives(size_t n) {
    return loop_.run_until([&] { return b_.got.size() >= n; });
  }

  Address ip_ = address(GetParam());
  Loop loop_;
  Peer a_{loop_.get(), ip_};
  Peer b_{loop_.get(), ip_};
  Plain plain_{ip_};
};

TEST_P(SocketTest, KernelPicksDistinctPorts) {
  EXPECT_NE(a_.sockets->ike_port(), 0);
  EXPECT_NE(a_.sockets->natt_port(), 0);
  EXPECT_NE(a_.sockets->ike_port(), a_.sockets->natt_port());
}

TEST_P(SocketTest, IkePortDeliversTheMessageWithFromAndTo) {
  const Bytes m = message(80, 1);
  ASSERT_TRUE(a_.sockets->send(m, a_.ike(), b_.ike()));
  ASSERT_TRUE(b_receives(1));
  ASSERT_EQ(b_.got.size(), 1u);
  EXPECT_EQ(b_.got[0].data, m);
  EXPECT_EQ(b_.got[0].from, a_.ike());
  EXPECT_EQ(b_.got[0].to, b_.ike());

  // The reply goes from where the request came to, back to its sender.
  const Bytes reply = message(60, 2);
  ASSERT_TRUE(b_.sockets->send(reply, b_.got[0].to, b_.got[0].from));
  ASSERT_TRUE(loop_.run_until([&] { return !a_.got.empty(); }));
  EXPECT_EQ(a_.got[0].data, reply);
  EXPECT_EQ(a_.got[0].from, b_.ike());
  EXPECT_EQ(a_.got[0].to, a_.ike());
}

TEST_P(SocketTest, NattPortDeliversTheMessageWithoutItsMarker) {
  const Bytes m = message(120, 3);
  ASSERT_TRUE(a_.sockets->send(m, a_.natt(), b_.natt()));
  ASSERT_TRUE(b_receives(1));
  EXPECT_EQ(b_.got[0].data, m);
  EXPECT_EQ(b_.got[0].from, a_.natt());
  EXPECT_EQ(b_.got[0].to, b_.natt());
}

TEST_P(SocketTest, MarkerIsOnTheWireOfTheNattPortOnly) {
  const Bytes m = message(40, 4);
  ASSERT_TRUE(a_.sockets->send(m, a_.natt(), plain_.address()));
  auto natt = plain_.receive();
  ASSERT_TRUE(natt);
  EXPECT_EQ(natt->first, with_marker(m));
  EXPECT_EQ(natt->second, a_.natt());

  ASSERT_TRUE(a_.sockets->send(m, a_.ike(), plain_.address()));
  auto ike = plain_.receive();
  ASSERT_TRUE(ike);
  EXPECT_EQ(ike->first, m);
  EXPECT_EQ(ike->second, a_.ike());
}

TEST_P(SocketTest, MarkerFromAnotherStackIsStripped) {
  const Bytes m = message(44, 5);
  plain_.send(with_marker(m), b_.natt());
  ASSERT_TRUE(b_receives(1));
  EXPECT_EQ(b_.got[0].data, m);
  EXPECT_EQ(b_.got[0].from, plain_.address());
  EXPECT_EQ(b_.got[0].to, b_.natt());
}

TEST_P(SocketTest, KeepaliveIsOneFfByteAndNeverDelivered) {
  ASSERT_TRUE(a_.sockets->send_keepalive(a_.natt(), plain_.address()));
  auto wire = plain_.receive();
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->first, Bytes{0xff});
  EXPECT_EQ(wire->second, a_.natt());

  // Same socket pair, so the keepalive is read before the message that follows it.
  const Bytes m = message(32, 6);
  ASSERT_TRUE(a_.sockets->send_keepalive(a_.natt(), b_.natt()));
  ASSERT_TRUE(a_.sockets->send(m, a_.natt(), b_.natt()));
  ASSERT_TRUE(b_receives(1));
  loop_.run_ready();
  ASSERT_EQ(b_.got.size(), 1u);
  EXPECT_EQ(b_.got[0].data, m);
}

TEST_P(SocketTest, ShortKeepaliveAndEspDatagramsAreNotDelivered) {
  const Bytes header_sized = message(kHeaderSize, 7);
  plain_.send(message(kHeaderSize - 1, 8), b_.ike());
  plain_.send(Bytes{0xff}, b_.ike());
  plain_.send(Bytes{}, b_.ike());
  plain_.send(header_sized, b_.ike());

  plain_.send(with_marker(message(kHeaderSize - 1, 9)), b_.natt());
  plain_.send(Bytes{0xff}, b_.natt());
  plain_.send(Bytes{0, 0, 0}, b_.natt());
  plain_.send(message(64, 10), b_.natt());  // ESP: an SPI where the marker would be
  plain_.send(with_marker(header_sized), b_.natt());

  // Each socket reads in order, so once the last datagram of each is in, so are the others.
  ASSERT_TRUE(b_receives(2));
  loop_.run_ready();
  ASSERT_EQ(b_.got.size(), 2u);
  for (const Datagram& d : b_.got) {
    EXPECT_EQ(d.data, header_sized);
    EXPECT_EQ(d.from, plain_.address());
  }
  EXPECT_NE(b_.got[0].to, b_.got[1].to);
}

TEST_P(SocketTest, BindConflictNamesTheAddressAndPort) {
  const std::string in_use = std::strerror(EADDRINUSE);
  for (const bool natt : {false, true}) {
    SocketOptions o;
    o.bind = {ip_};
    o.ike_port = natt ? 0 : a_.sockets->ike_port();
    o.natt_port = natt ? a_.sockets->natt_port() : 0;
    auto s = Sockets::open(loop_.get(), o, [](Datagram&&) {});
    ASSERT_FALSE(s.ok());
    const Address taken = natt ? a_.natt() : a_.ike();
    EXPECT_EQ(s.error().message, "binding " + taken.to_string() + ": " + in_use);
    EXPECT_EQ(s.error().code, EADDRINUSE);
  }
}

TEST_P(SocketTest, ClosingReleasesThePorts) {
  SocketOptions o;
  o.bind = {ip_};
  o.ike_port = a_.sockets->ike_port();
  o.natt_port = a_.sockets->natt_port();
  a_.sockets.reset();
  loop_.run_ready();
  auto again = Sockets::open(loop_.get(), o, [](Datagram&&) {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)->ike_port(), o.ike_port);
  EXPECT_EQ((*again)->natt_port(), o.natt_port);
}

TEST_P(SocketTest, SendRefusesPortsNotOursAndMixedFamilies) {
  uint16_t foreign = 1;
  while (foreign == a_.sockets->ike_port() || foreign == a_.sockets->natt_port()) ++foreign;
  const Bytes m = message(40, 11);
  auto wrong_port = a_.sockets->send(m, a_.ip.with_port(foreign), b_.ike());
  ASSERT_FALSE(wrong_port.ok());
  EXPECT_EQ(wrong_port.error().code, EADDRNOTAVAIL);

  const Address other = address(ip_.ipv6() ? "127.0.0.1" : "::1", 500);
  auto mixed = a_.sockets->send(m, a_.ike(), other);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().code, EAFNOSUPPORT);

  // An address of the family we are not bound to has no socket either.
  auto unbound = a_.sockets->send(m, other.with_port(a_.sockets->ike_port()), other);
  ASSERT_FALSE(unbound.ok());
  EXPECT_EQ(unbound.error().code, EADDRNOTAVAIL);
}

INSTANTIATE_TEST_SUITE_P(Loopback, SocketTest, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& p) {
                           return std::string(p.param == std::string("::1") ? "IPv6" : "IPv4");
                         });

// Bound to the any addresses (the default), `to` is the address the peer sent to, and a reply
// from it leaves with that source address (IP_PKTINFO / IPV6_PKTINFO both ways).
class AnyAddressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!family_available(address("::1"))) GTEST_SKIP() << "no IPv6 here";
    SocketOptions o;
    o.ike_port = 0;
    o.natt_port = 0;
    auto s = Sockets::open(loop_.get(), o, [this](Datagram&& d) { got_.push_back(std::move(d)); });
    ASSERT_TRUE(s.ok()) << s.error().message;
    sockets_ = std::move(*s);
  }

  // From `plain` to `local` on one port, and the reply back; each as seen on the other side.
  void round_trip(const Plain& plain, const Address& local, bool natt) {
    got_.clear();
    const Address to = local.with_port(natt ? sockets_->natt_port() : sockets_->ike_port());
    const Bytes m = message(50, 12);
    plain.send(natt ? with_marker(m) : m, to);
    ASSERT_TRUE(loop_.run_until([&] { return !got_.empty(); }));
    EXPECT_EQ(got_[0].data, m);
    EXPECT_EQ(got_[0].from, plain.address());
    EXPECT_EQ(got_[0].to, to);

    const Bytes reply = message(30, 13);
    ASSERT_TRUE(sockets_->send(reply, got_[0].to, got_[0].from));
    auto wire = plain.receive();
    ASSERT_TRUE(wire);
    EXPECT_EQ(wire->first, natt ? with_marker(reply) : reply);
    EXPECT_EQ(wire->second, to);
  }

  Loop loop_;
  std::unique_ptr<Sockets> sockets_;
  std::vector<Datagram> got_;
};

TEST_F(AnyAddressTest, Ipv4ToAndReplySourceAreTheAddressSentTo) {
  Plain plain(address("127.0.0.1"));
  ASSERT_TRUE(plain.ok());
  // 127.0.0.0/8 is all ours on lo: the kernel's own source choice would be 127.0.0.1.
  round_trip(plain, address("127.0.0.3"), false);
  round_trip(plain, address("127.0.0.2"), true);
}

TEST_F(AnyAddressTest, Ipv6ToAndReplySourceAreTheAddressSentTo) {
  Plain plain(address("::1"));
  ASSERT_TRUE(plain.ok());
  round_trip(plain, address("::1"), false);
  round_trip(plain, address("::1"), true);
}

TEST_F(AnyAddressTest, KeepaliveLeavesFromTheGivenSource) {
  Plain plain(address("127.0.0.1"));
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(sockets_->send_keepalive(address("127.0.0.4"), plain.address()));
  auto wire = plain.receive();
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->first, Bytes{0xff});
  EXPECT_EQ(wire->second, address("127.0.0.4", sockets_->natt_port()));
}

TEST(SocketsOpen, NeedsALoopAndACallback) {
  Loop loop;
  EXPECT_FALSE(Sockets::open(nullptr, {}, [](Datagram&&) {}).ok());
  EXPECT_FALSE(Sockets::open(loop.get(), {}, nullptr).ok());
}

}  // namespace
}  // namespace sedge::ike

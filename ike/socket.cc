#include "ike/socket.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "common/log.h"

namespace sedge::ike {
namespace {

constexpr size_t kMarkerSize = 4;  // the non-ESP marker: four zero bytes where ESP has its SPI
constexpr uint8_t kMarker[kMarkerSize] = {};
constexpr uint8_t kKeepalive = 0xff;
// Room for a flood of IKE_SA_INIT, so legitimate requests are not dropped before we read them.
constexpr int kReceiveBuffer = 4 << 20;
// Failed reads in one drain before it waits for the next wakeup: ICMP reports are returned
// once each, so a longer run means the socket itself is in trouble.
constexpr int kMaxErrorsPerDrain = 16;
// Datagrams read per wake-up of a socket. Under a flood a socket never runs dry: reading it to
// the end would hold the loop there for as long as the flood lasts, the other socket (UDP 4500,
// where IKE_AUTH comes after IKE_SA_INIT) and the timers waiting. epoll reports the socket again
// at once (level-triggered), after the others had their turn.
constexpr int kMaxPerDrain = 64;

// Room for one IP_PKTINFO or IPV6_PKTINFO control message, aligned as a cmsghdr.
union Control {
  cmsghdr align;
  char buf[CMSG_SPACE(std::max(sizeof(in_pktinfo), sizeof(in6_pktinfo)))];
};

Error sys_error(const std::string& what, int err = errno) {
  return Error{what + ": " + std::strerror(err), err};
}

// Best effort: SO_RCVBUFFORCE goes past net.core.rmem_max with CAP_NET_ADMIN, SO_RCVBUF up to it.
void grow_receive_buffer(int fd) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  }
}

// The kernel then decapsulates ESP on this port and eats NAT keepalives; IKE still reaches us.
Status enable_esp_in_udp(int fd, const std::string& where) {
  const int encap = UDP_ENCAP_ESPINUDP;
  if (setsockopt(fd, IPPROTO_UDP, UDP_ENCAP, &encap, sizeof encap) == 0) return {};
  // Linux asks no capability for it, but a sandbox (seccomp, LSM) may refuse: IKE still works.
  if (errno == EPERM || errno == EACCES) {
    log::warning(sys_error("enabling ESP-in-UDP on " + where).message +
                 "; ESP through a NAT will not work");
    return {};
  }
  return sys_error("enabling ESP-in-UDP on " + where);
}

// SO_REUSEADDR is left off: on UDP it would let a second IKE daemon bind the same port and
// take part of our traffic instead of failing to start.
Status configure(int fd, const Address& local, bool natt) {
  const int one = 1;
  const std::string where = local.to_string();
  if (local.ipv6()) {
    // :: would otherwise take IPv4 as mapped addresses, and 0.0.0.0 could not bind next to it.
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      return sys_error("setting IPV6_V6ONLY on " + where);
    }
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) != 0) {
      return sys_error("setting IPV6_RECVPKTINFO on " + where);
    }
  } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0) {
    return sys_error("setting IP_PKTINFO on " + where);
  }
  grow_receive_buffer(fd);
  return natt ? enable_esp_in_udp(fd, where) : Status{};
}

Result<uint16_t> bound_port(int fd, const std::string& where) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return sys_error("reading the port of " + where);
  }
  const auto a = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), len);
  if (!a) return Error{"reading the port of " + where + ": not an IP socket", EAFNOSUPPORT};
  return a->port;
}

// The source address of one sendmsg, which matters on a socket bound to the any address.
void set_source(msghdr& msg, Control& control, const Address& from) {
  msg.msg_control = control.buf;
  msg.msg_controllen =
      from.ipv6() ? CMSG_SPACE(sizeof(in6_pktinfo)) : CMSG_SPACE(sizeof(in_pktinfo));
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (from.ipv6()) {
    in6_pktinfo info{};
    std::memcpy(&info.ipi6_addr, from.ip.data(), 16);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
  } else {
    in_pktinfo info{};
    std::memcpy(&info.ipi_spec_dst, from.ip.data(), 4);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
  }
}

// Where a datagram was sent to, from its IP_PKTINFO or IPV6_PKTINFO: on a socket bound to the
// any address, the one of our addresses the peer knows. The port is the socket's.
Address destination(msghdr& msg, const Address& local) {
  Address to = local;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (!to.ipv6() && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      std::memcpy(to.ip.data(), &info.ipi_addr, 4);
    } else if (to.ipv6() && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      std::memcpy(to.ip.data(), &info.ipi6_addr, 16);
    }
  }
  return to;
}

// What one read brought, if it is IKE: on the NAT-T port only after a zero marker (not a
// keepalive, nor ESP the kernel left to us), and never shorter than an IKE header.
std::optional<Datagram> ike_datagram(std::span<const uint8_t> wire, msghdr& msg,
                                     const Address& local, bool natt) {
  if (msg.msg_flags & MSG_TRUNC) return std::nullopt;
  if (natt) {
    if (wire.size() < kMarkerSize ||
        std::any_of(wire.begin(), wire.begin() + kMarkerSize, [](uint8_t b) { return b != 0; })) {
      return std::nullopt;
    }
    wire = wire.subspan(kMarkerSize);
  }
  if (wire.size() < kHeaderSize) return std::nullopt;
  const auto from =
      Address::from_sockaddr(static_cast<const sockaddr*>(msg.msg_name), msg.msg_namelen);
  if (!from) return std::nullopt;
  return Datagram{Bytes(wire.begin(), wire.end()), *from, destination(msg, local)};
}

}  // namespace

struct Sockets::Socket {
  Sockets* owner = nullptr;
  Address local;  // as bound, with the port the kernel gave
  bool natt = false;
  int fd = -1;
  sd_event_source* source = nullptr;

  Socket() = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    sd_event_source_unref(source);  // first: it takes the fd out of the loop's epoll set
    if (fd >= 0) close(fd);
  }
};

Sockets::Sockets(Receive receive, uint16_t ike, uint16_t natt)
    : receive_(std::move(receive)), ike_port_(ike), natt_port_(natt), buffer_(kMaxMessageSize) {}

Sockets::~Sockets() = default;  // each Socket takes its source off the loop, then closes its fd

Result<std::unique_ptr<Sockets>> Sockets::open(sd_event* loop, const SocketOptions& options,
                                               Receive receive) {
  if (!loop || !receive) {
    return Error{"the IKE sockets need an event loop and a receive callback", EINVAL};
  }
  std::vector<Address> binds = options.bind;
  if (binds.empty()) binds = {Address::any(AF_INET, 0), Address::any(AF_INET6, 0)};
  std::unique_ptr<Sockets> s(new Sockets(std::move(receive), options.ike_port, options.natt_port));
  for (const Address& a : binds) {
    for (const bool natt : {false, true}) {
      if (auto st = s->add(loop, a, natt); !st) return st.error();
    }
  }
  return s;
}

Status Sockets::add(sd_event* loop, const Address& bind_address, bool natt) {
  uint16_t& port = natt ? natt_port_ : ike_port_;
  auto s = std::make_unique<Socket>();
  s->owner = this;
  s->natt = natt;
  s->local = bind_address.with_port(port);
  const std::string where = s->local.to_string();
  s->fd = socket(s->local.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (s->fd < 0) return sys_error("creating a UDP socket for " + where);
  if (auto st = configure(s->fd, s->local, natt); !st) return st;
  sockaddr_storage sa;
  const socklen_t len = s->local.to_sockaddr(sa);
  if (bind(s->fd, reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
    return sys_error("binding " + where);
  }
  if (port == 0) {  // the kernel's pick, which the next bind addresses then share
    auto p = bound_port(s->fd, where);
    if (!p) return p.error();
    port = s->local.port = *p;
  }
  if (int r = sd_event_add_io(loop, &s->source, s->fd, EPOLLIN, on_readable, s.get()); r < 0) {
    return sys_error("watching " + s->local.to_string() + " on the event loop", -r);
  }
  sockets_.push_back(std::move(s));
  return {};
}

// The socket bound to from's address, else one bound to the any address of its family (from
// any: the first of its family).
const Sockets::Socket* Sockets::find(const Address& from, bool natt) const {
  const Socket* fallback = nullptr;
  for (const auto& s : sockets_) {
    if (s->natt != natt || s->local.family != from.family) continue;
    if (s->local.same_ip(from)) return s.get();
    if (!fallback && (s->local.is_any() || from.is_any())) fallback = s.get();
  }
  return fallback;
}

Status Sockets::send(std::span<const uint8_t> message, const Address& from, const Address& to) {
  const bool natt = from.port == natt_port_;
  if (!natt && from.port != ike_port_) {
    return Error{"sending from " + from.to_string() + ": not one of our IKE ports", EADDRNOTAVAIL};
  }
  const iovec parts[] = {{const_cast<uint8_t*>(kMarker), kMarkerSize},
                         {const_cast<uint8_t*>(message.data()), message.size()}};
  return transmit(natt, std::span<const iovec>(parts).subspan(natt ? 0 : 1), from, to);
}

Status Sockets::send_keepalive(const Address& from, const Address& to) {
  const iovec part{const_cast<uint8_t*>(&kKeepalive), 1};
  return transmit(true, {&part, 1}, from.with_port(natt_port_), to);
}

Status Sockets::transmit(bool natt, std::span<const iovec> parts, const Address& from,
                         const Address& to) const {
  const std::string what = "sending from " + from.to_string() + " to " + to.to_string();
  if (from.family != to.family) return Error{what + ": the address families differ", EAFNOSUPPORT};
  const Socket* s = find(from, natt);
  if (!s) return Error{what + ": no IKE socket is bound to that address", EADDRNOTAVAIL};
  sockaddr_storage peer;
  msghdr msg{};
  msg.msg_name = &peer;
  msg.msg_namelen = to.to_sockaddr(peer);
  msg.msg_iov = const_cast<iovec*>(parts.data());
  msg.msg_iovlen = parts.size();
  Control control{};
  if (!from.is_any()) set_source(msg, control, from);
  if (sendmsg(s->fd, &msg, 0) < 0) return sys_error(what);
  return {};
}

int Sockets::on_readable(sd_event_source*, int, uint32_t, void* socket) {
  const auto* s = static_cast<const Socket*>(socket);
  s->owner->drain(*s);
  return 0;  // a negative return would disable the source for good
}

void Sockets::drain(const Socket& s) {
  for (int errors = 0, taken = 0; taken < kMaxPerDrain; ++taken) {
    sockaddr_storage peer{};
    Control control{};
    iovec iov{buffer_.data(), buffer_.size()};
    msghdr msg{};
    msg.msg_name = &peer;
    msg.msg_namelen = sizeof peer;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    const ssize_t n = recvmsg(s.fd, &msg, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || ++errors == kMaxErrorsPerDrain) return;
      continue;  // such as ECONNREFUSED: an ICMP report about an earlier send, not this read
    }
    const std::span<const uint8_t> wire(buffer_.data(), static_cast<size_t>(n));
    if (auto d = ike_datagram(wire, msg, s.local, s.natt)) receive_(std::move(*d));
  }
}

}  // namespace sedge::ike

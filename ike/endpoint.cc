#include "ike/endpoint.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "common/log.h"
#include "ike/initiator.h"

namespace sedge::ike {

std::string to_string(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

Endpoint::~Endpoint() {
  if (fd_ >= 0) close(fd_);
}

Status Endpoint::open(sockaddr_in local, uint16_t port, bool encapsulating) {
  if (fd_ >= 0) close(fd_);
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Error::sys("creating the IKE socket");
  const int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (encapsulating) {
    const int encap = UDP_ENCAP_ESPINUDP;
    if (setsockopt(fd_, IPPROTO_UDP, UDP_ENCAP, &encap, sizeof encap) != 0) return Error::sys("enabling ESP-in-UDP on port 4500");
  }
  local.sin_port = htons(port);
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) return Error::sys("binding the IKE socket to " + to_string(local));
  marker_ = encapsulating;
  return {};
}

Status Endpoint::send_to(const Bytes& message, const sockaddr_in& peer) const {
  Bytes wire;
  if (marker_) wire.assign(4, 0);
  wire.insert(wire.end(), message.begin(), message.end());
  if (sendto(fd_, wire.data(), wire.size(), 0, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) < 0) {
    return Error::sys("sending to " + to_string(peer));
  }
  return {};
}

Status Endpoint::send_keepalive(const sockaddr_in& peer) const {
  const uint8_t keepalive = 0xff;
  if (sendto(fd_, &keepalive, 1, 0, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) < 0) {
    return Error::sys("sending a keepalive to " + to_string(peer));
  }
  return {};
}

Result<Bytes> Endpoint::receive(int timeout_ms, sockaddr_in& from) const {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return Bytes{};
  Bytes buf(kMaxMessageSize);
  socklen_t len = sizeof from;
  const ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
  if (n < 0) {
    if (errno == ECONNREFUSED) return Bytes{};
    return Error::sys("receiving an IKE message");
  }
  buf.resize(static_cast<size_t>(n));
  if (marker_) {
    if (buf.size() < 4 || buf[0] || buf[1] || buf[2] || buf[3]) return Bytes{};  // a keepalive
    buf.erase(buf.begin(), buf.begin() + 4);
  }
  return buf;
}

Status serve(const Endpoint& endpoint, EstablishedSa& sa, const sockaddr_in& peer, const ServeOptions& o) {
  using Clock = std::chrono::steady_clock;
  using std::chrono::seconds;
  const auto start = Clock::now();
  auto next_keepalive = start + o.keepalive;
  auto last_heard = start;
  std::optional<uint32_t> pending;  // our liveness request awaiting its response
  Clock::time_point sent_at{}, next_retransmit{};
  // Requests come encrypted with the other side's keys; responses go with ours.
  const Secret& in_key = sa.initiator ? sa.keys.sk_er : sa.keys.sk_ei;
  const Secret& out_key = sa.initiator ? sa.keys.sk_ei : sa.keys.sk_er;
  const uint8_t role = sa.initiator ? kFlagInitiator : 0;
  auto send_check = [&] {
    const Header h{sa.spi_i, sa.spi_r, kSk, Exchange::informational, role, *pending, 0};
    (void)endpoint.send_to(seal(out_key, h, kNoNext, {}, sa.iv_counter++), peer);
    next_retransmit = Clock::now() + seconds(2);
  };
  for (;;) {
    const auto now = Clock::now();
    if (o.duration.count() > 0 && now >= start + o.duration) return {};
    if (sa.behind_nat && now >= next_keepalive) {
      (void)endpoint.send_keepalive(peer);
      next_keepalive = now + o.keepalive;
    }
    if (o.dpd_interval.count() > 0) {
      if (!pending && now >= last_heard + o.dpd_interval) {
        pending = sa.next_message_id++;
        sent_at = now;
        send_check();
      } else if (pending && now >= sent_at + o.dpd_timeout) {
        return Error{"the peer " + to_string(peer) + " is dead: no answer to a liveness check for " +
                         std::to_string(o.dpd_timeout.count()) + " s",
                     ETIMEDOUT};
      } else if (pending && now >= next_retransmit) {
        send_check();
      }
    }
    auto wake = now + seconds(1);  // timers are checked at least once a second
    if (sa.behind_nat) wake = std::min(wake, next_keepalive);
    const int wait_ms = static_cast<int>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count()));
    sockaddr_in from{};
    auto got = endpoint.receive(wait_ms, from);
    if (!got) return got.error();
    if (got->empty()) continue;
    auto m = parse(*got);
    if (!m || m->header.spi_i != sa.spi_i) continue;
    auto inner = open(in_key, *m, *got);
    if (!inner) {
      log::warning("dropped a message that does not decrypt: " + inner.error().message);
      continue;
    }
    last_heard = Clock::now();
    if (m->header.flags & kFlagResponse) {
      if (pending && m->header.message_id == *pending) pending.reset();
      continue;
    }
    const bool delete_ike = std::any_of(inner->begin(), inner->end(), [](const Payload& pl) {
      return pl.type == kDelete && !pl.body.empty() && pl.body[0] == 1;
    });
    const Header rh{sa.spi_i, sa.spi_r, kSk, m->header.exchange, static_cast<uint8_t>(kFlagResponse | role), m->header.message_id, 0};
    (void)endpoint.send_to(seal(out_key, rh, kNoNext, {}, sa.iv_counter++), peer);
    log::info("answered the peer's INFORMATIONAL request", {{"IKE_MESSAGE_ID", std::to_string(m->header.message_id)}});
    if (delete_ike) return Error{"the peer deleted the IKE SA", ECONNRESET};
  }
}

}  // namespace sedge::ike

#include "ike/endpoint.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
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

ChildSa first_child(const EstablishedSa& sa) {
  const ChildKeys& k = sa.child_keys;
  const bool i = sa.initiator;
  ChildSa c;
  c.spi_in = sa.child_spi_in;
  c.spi_out = sa.child_spi_out;
  c.key_in = (i ? k.responder_to_initiator : k.initiator_to_responder).clone();
  c.key_out = (i ? k.initiator_to_responder : k.responder_to_initiator).clone();
  c.integ_in = (i ? k.integ_responder_to_initiator : k.integ_initiator_to_responder).clone();
  c.integ_out = (i ? k.integ_initiator_to_responder : k.integ_responder_to_initiator).clone();
  c.local_ts = sa.local_ts;
  c.remote_ts = sa.remote_ts;
  return c;
}

KernelLifetime kernel_lifetime(const ServeOptions& options) {
  const int64_t ms = options.child_lifetime.count();
  if (ms <= 0) return {};
  auto seconds_up = [](int64_t m) { return static_cast<uint64_t>((m + 999) / 1000); };
  const uint64_t soft = std::max<uint64_t>(
      seconds_up(std::llround(static_cast<double>(ms) * options.rekey_fraction)), 1);
  return {soft, std::max(seconds_up(ms + ms / 10), soft + 1)};
}

}  // namespace sedge::ike

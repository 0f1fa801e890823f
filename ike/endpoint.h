// The UDP side of IKE: port 500, or 4500 as an ESP-in-UDP socket (RFC 3948) where IKE
// messages carry a 4-byte zero non-ESP marker and the kernel decapsulates ESP itself.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <string>

#include "common/result.h"
#include "ike/crypto.h"
#include "ike/message.h"

namespace sedge::ike {

std::string to_string(const sockaddr_in& a);

class Endpoint {
 public:
  Endpoint() = default;
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  Status open(sockaddr_in local, uint16_t port, bool encapsulating);
  Status send_to(const Bytes& message, const sockaddr_in& peer) const;
  Status send_keepalive(const sockaddr_in& peer) const;  // one 0xFF byte (NAT keepalive)
  // One IKE message without its marker, and who sent it; empty on timeout, keepalives and ICMP
  // errors.
  Result<Bytes> receive(int timeout_ms, sockaddr_in& from) const;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool marker_ = false;
};

struct EstablishedSa;

// Serves the peer's requests on an established IKE SA (INFORMATIONAL liveness checks and
// deletes get an encrypted response; a NAT keepalive goes out every `keepalive` when behind a
// NAT) for `duration`, or forever when it is zero; returns an error when the IKE SA is deleted.
Status serve(const Endpoint& endpoint, EstablishedSa& sa, const sockaddr_in& peer, std::chrono::seconds duration,
             std::chrono::seconds keepalive);

}  // namespace sedge::ike

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

struct ServeOptions {
  std::chrono::seconds duration{0};      // 0: until the peer goes away
  std::chrono::seconds keepalive{20};    // NAT keepalives, when behind a NAT
  std::chrono::seconds dpd_interval{0};  // liveness check after this much silence (0: off)
  std::chrono::seconds dpd_timeout{30};  // the peer is dead after this long without an answer
};

// Runs an established IKE SA: the peer's requests (INFORMATIONAL liveness checks, deletes) get
// an encrypted response; NAT keepalives go out when behind a NAT; after dpd_interval of silence
// an empty INFORMATIONAL request checks the peer, retransmitted until dpd_timeout. Returns
// after `duration`, or an error when the peer deletes the IKE SA or is found dead.
Status serve(const Endpoint& endpoint, EstablishedSa& sa, const sockaddr_in& peer, const ServeOptions& options);

}  // namespace sedge::ike

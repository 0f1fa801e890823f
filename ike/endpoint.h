// The UDP side of IKE: port 500, or 4500 as an ESP-in-UDP socket (RFC 3948) where IKE
// messages carry a 4-byte zero non-ESP marker and the kernel decapsulates ESP itself.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <string>

#include "common/result.h"
#include "ike/crypto.h"
#include "ike/message.h"
#include "ike/rekey.h"

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

// One CHILD_SA (an ESP pair) from this side's point of view.
struct ChildSa {
  uint32_t spi_in = 0, spi_out = 0;
  Secret key_in, key_out;      // encryption (AES-GCM: key + salt, RFC 4106)
  Secret integ_in, integ_out;  // HMAC keys (empty with AES-GCM)
  TrafficSelector local_ts, remote_ts;
};

// What serve() asks of the kernel when CHILD_SAs are rekeyed; ike/ itself does no netlink.
// Make-before-break: a new pair's inbound SA goes in first, its outbound SA once the peer can
// receive on it, and only then is the old pair removed.
class ChildSaHandler {
 public:
  virtual ~ChildSaHandler() = default;
  virtual Result<uint32_t> allocate_spi() = 0;  // a new inbound SPI
  virtual Status install_inbound(const ChildSa& child) = 0;
  virtual Status install_outbound(const ChildSa& child) = 0;
  virtual void remove(const ChildSa& child) = 0;  // both SAs of the pair (an SPI of 0: none)
};

struct ServeOptions {
  std::chrono::seconds duration{0};      // 0: until the peer goes away
  std::chrono::seconds keepalive{20};    // NAT keepalives, when behind a NAT
  std::chrono::seconds dpd_interval{0};  // liveness check after this much silence (0: off)
  std::chrono::seconds dpd_timeout{30};  // the peer is dead after this long without an answer
  // Rekeying (RFC 7296 2.8). A lifetime is hard: this side rekeys at 90% of it (`rekey_fraction`)
  // less a random jitter (up to `rekey_jitter` of the lifetime), and gives the tunnel up if that has not
  // succeeded when it runs out. 0: this side does not rekey (it still answers the peer's rekeys).
  std::chrono::milliseconds child_lifetime{0};
  std::chrono::milliseconds ike_lifetime{0};
  double rekey_jitter = 0.1;
  double rekey_fraction = 0.9;  // of the lifetime, before the jitter
  Suite suite;             // of the rekeyed SAs (IKE and ESP)
  uint16_t pfs_group = 0;  // DH group for CHILD_SA rekeys (0: no PFS)
  ChildSaHandler* children = nullptr;  // without one, CHILD_SA rekeys are refused (NO_ADDITIONAL_SAS)
};

// Runs an established IKE SA: the peer's requests (INFORMATIONAL liveness checks and deletes,
// CREATE_CHILD_SA rekeys of the CHILD_SA or of the IKE SA, with collisions settled as RFC 7296
// 2.8.1 and 2.25 say) get an encrypted response; this side rekeys as its lifetimes say; NAT
// keepalives go out when behind a NAT; after dpd_interval of silence an empty INFORMATIONAL
// request checks the peer, retransmitted until dpd_timeout. Returns after `duration`, or an
// error when the peer deletes the IKE SA, is found dead, or a lifetime runs out; `sa` is then
// the current IKE SA and CHILD_SA (other CHILD_SAs removed through the handler).
Status serve(const Endpoint& endpoint, EstablishedSa& sa, const sockaddr_in& peer, const ServeOptions& options);

}  // namespace sedge::ike

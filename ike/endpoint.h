// The UDP side of IKE: port 500, or 4500 as an ESP-in-UDP socket (RFC 3948) where IKE
// messages carry a 4-byte zero non-ESP marker and the kernel decapsulates ESP itself.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

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
class KeyLog;

// One CHILD_SA (an ESP pair) from this side's point of view.
struct ChildSa {
  uint32_t index = 0;  // which CHILD_SA of the IKE SA: 0 is IKE_AUTH's, then one per
                       // CREATE_CHILD_SA; a rekey keeps it
  uint32_t spi_in = 0, spi_out = 0;
  Secret key_in, key_out;      // encryption (AES-GCM: key + salt, RFC 4106)
  Secret integ_in, integ_out;  // HMAC keys (empty with AES-GCM)
  TrafficSelector local_ts, remote_ts;
};
// The CHILD_SA that IKE_AUTH created, from this side's point of view.
ChildSa first_child(const EstablishedSa& sa);

// What serve() asks of the kernel for CHILD_SAs; ike/ itself does no netlink. The first CHILD_SA
// and every later one go in the same way: inbound SA, outbound SA, then the policies of its
// selectors (`index` tells the CHILD_SAs apart, e.g. by reqid). Rekeys are make-before-break: a
// new pair's inbound SA goes in first, its outbound SA once the peer can receive on it, and only
// then is the old pair removed; the policies stay.
class ChildSaHandler {
 public:
  virtual ~ChildSaHandler() = default;
  virtual Result<uint32_t> allocate_spi(
      const ChildSa& child) = 0;  // a new inbound SPI for a pair of `child.index`
  virtual Status install_inbound(const ChildSa& child) = 0;
  virtual Status install_outbound(const ChildSa& child) = 0;
  virtual Status install_policies(
      const ChildSa& child) = 0;  // once per CHILD_SA (not per rekeyed pair)
  virtual void remove_policies(const ChildSa& child) = 0;
  virtual void remove(const ChildSa& child) = 0;  // both SAs of the pair (an SPI of 0: none)
};

// A CHILD_SA's selectors: what this side protects and what it accepts from the peer.
using SelectorPair = std::pair<TrafficSelector, TrafficSelector>;  // (local, remote)

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
  // More CHILD_SAs (RFC 7296 1.3.1): this side creates one for each pair after IKE_AUTH, and
  // accepts the peer's, narrowed to one of its `local_ts` x `remote_ts` (TS_UNACCEPTABLE if none
  // fits), up to `max_children` CHILD_SAs in all (NO_ADDITIONAL_SAS beyond).
  std::vector<SelectorPair> create_children;
  std::vector<TrafficSelector> local_ts, remote_ts;
  size_t max_children = 8;
  KeyLog* key_log =
      nullptr;  // set: the keys of each rekeyed IKE SA are appended (KeyLogDirectory=)
};

// The kernel's time limits for the SAs of a CHILD_SA (as strongSwan sets them), so that a
// crashed agent leaves none behind for long: soft when this side rekeys at the latest
// (`rekey_fraction` of the lifetime; the jitter only makes it earlier), hard the lifetime plus a
// tenth. Both 0 (no limit) when this side does not rekey (child_lifetime 0).
struct KernelLifetime {
  uint64_t soft_seconds = 0, hard_seconds = 0;
};
KernelLifetime kernel_lifetime(const ServeOptions& options);

// Runs an established IKE SA: the peer's requests (INFORMATIONAL liveness checks and deletes,
// CREATE_CHILD_SA for new CHILD_SAs and rekeys of a CHILD_SA or of the IKE SA, with collisions
// settled as RFC 7296 2.8.1 and 2.25 say) get an encrypted response; this side creates the
// CHILD_SAs of `create_children` and rekeys as its lifetimes say; NAT
// keepalives go out when behind a NAT; after dpd_interval of silence an empty INFORMATIONAL
// request checks the peer, retransmitted until dpd_timeout. Returns after `duration`, or an
// error when the peer deletes the IKE SA, is found dead, or a lifetime runs out; `sa` is then
// the current IKE SA and its first CHILD_SA (other CHILD_SAs, and the policies of all but the
// first, removed through the handler).
Status serve(const Endpoint& endpoint, EstablishedSa& sa, const sockaddr_in& peer, const ServeOptions& options);

}  // namespace sedge::ike

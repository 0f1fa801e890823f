// A CHILD_SA (one ESP pair) as the engine hands it to the kernel, and the interface through which
// it does: ike/ itself does no netlink; the connector layer implements ChildSaHandler over the
// netlink layer, and tests implement it with a fake that records the calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>

#include "common/result.h"
#include "common/secret.h"
#include "ike/address.h"
#include "ike/crypto.h"
#include "ike/message.h"

namespace sedge::ike {

// One CHILD_SA's ESP pair from this side's point of view, with all the kernel needs to install it.
struct ChildSa {
  uint32_t index = 0;  // which CHILD_SA of the IKE SA: 0 is IKE_AUTH's, then one per new
                       // CHILD_SA; a rekey keeps it (the kernel adapter gives each its reqid)
  uint32_t spi_in = 0, spi_out = 0;
  Secret key_in, key_out;      // encryption (AES-GCM: key + salt, RFC 4106; empty for NULL)
  Secret integ_in, integ_out;  // HMAC keys (empty with AES-GCM)
  TrafficSelector local_ts, remote_ts;
  Address local, remote;     // the IKE SA's addresses; their ports are the UDP encapsulation's
  bool encapsulated = false;  // ESP in UDP (RFC 3948): a NAT was detected
  Suite suite;                // its ESP algorithms (esp_encr, esp_key_bits, esp_integ, esn)
  ChildSa shape() const;      // the same CHILD_SA without keys (index, SPIs, selectors, outer)
};

// A CHILD_SA's selectors: what this side protects and what it accepts from the peer.
using SelectorPair = std::pair<TrafficSelector, TrafficSelector>;  // (local, remote)

// What the engine asks of the kernel for CHILD_SAs. The first CHILD_SA and every later one go
// in the same way: inbound SA, outbound SA, then the policies of its selectors. Rekeys are
// make-before-break: a new pair's inbound SA goes in first, its outbound SA once the peer can
// receive on it, and only then is the old pair removed; the policies stay.
class ChildSaHandler {
 public:
  virtual ~ChildSaHandler() = default;
  // A new inbound SPI for a pair of `child.index` between `child.remote` and `child.local`.
  virtual Result<uint32_t> allocate_spi(const ChildSa& child) = 0;
  virtual Status install_inbound(const ChildSa& child) = 0;
  virtual Status install_outbound(const ChildSa& child) = 0;
  virtual Status install_policies(const ChildSa& child) = 0;  // once per CHILD_SA, not per pair
  virtual void remove_policies(const ChildSa& child) = 0;
  virtual void remove(const ChildSa& child) = 0;  // both SAs of the pair (an SPI of 0: none)
};

// The kernel's time limits for the SAs of a CHILD_SA (as strongSwan sets them), so that a
// crashed agent leaves none behind for long: soft when this side rekeys at the latest
// (`rekey_fraction` of the lifetime; the jitter only makes it earlier), hard the lifetime plus
// a tenth. Both 0 (no limit) when this side does not rekey (a lifetime of 0).
struct KernelLifetime {
  uint64_t soft_seconds = 0, hard_seconds = 0;
};
KernelLifetime kernel_lifetime(std::chrono::milliseconds child_lifetime, double rekey_fraction);

}  // namespace sedge::ike

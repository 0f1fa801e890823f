// The kernel side of CHILD_SAs: ike::ChildSaHandler over the netlink layer. The engine hands
// over a ChildSa (SPIs, keys, selectors, outer addresses, ESP suite); this turns it into XFRM
// SAs and policies. The builders are pure (unit-tested without a kernel); KernelChildren sends
// what they build through XfrmOps, which tests replace with a fake that records the calls.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "ike/child_sa.h"
#include "ike/keylog.h"
#include "netlink/address.h"
#include "netlink/xfrm.h"
#include "netlink/xfrm_client.h"

namespace sedge::connector {

// The XFRM requests KernelChildren makes. netlink::XfrmClient is a concrete class owning a
// socket; this is the seam where tests put a fake in its place.
class XfrmOps {
 public:
  virtual ~XfrmOps() = default;
  virtual Result<uint32_t> alloc_spi(const netlink::XfrmSpiRequest& request) = 0;
  virtual Status add_sa(const netlink::XfrmSa& sa) = 0;
  virtual Status update_sa(const netlink::XfrmSa& sa) = 0;
  virtual Status delete_sa(const netlink::XfrmSaId& id) = 0;
  virtual Status add_policy(const netlink::XfrmPolicy& policy) = 0;
  virtual Status delete_policy(const netlink::XfrmPolicyId& id) = 0;
};

// XfrmOps sent to the kernel.
class NetlinkXfrmOps final : public XfrmOps {
 public:
  explicit NetlinkXfrmOps(netlink::XfrmClient& client) : client_(client) {}
  Result<uint32_t> alloc_spi(const netlink::XfrmSpiRequest& request) override;
  Status add_sa(const netlink::XfrmSa& sa) override;
  Status update_sa(const netlink::XfrmSa& sa) override;
  Status delete_sa(const netlink::XfrmSaId& id) override;
  Status add_policy(const netlink::XfrmPolicy& policy) override;
  Status delete_policy(const netlink::XfrmPolicyId& id) override;

 private:
  netlink::XfrmClient& client_;
};

// The outer address without its port, as XFRM names SA and template endpoints.
netlink::IpAddress ip_of(const ike::Address& address);

// The smallest prefix that holds the whole selector range (the range itself when it is a
// prefix). XFRM selectors are prefixes, so a range that is not one is widened to it.
netlink::IpPrefix prefix_of(const ike::TrafficSelector& ts);

// One direction of a CHILD_SA as an XFRM SA (tunnel mode): inbound is remote -> local with
// spi_in and the _in keys, outbound the reverse. ESP algorithms as the kernel names them,
// UDP encapsulation on the IKE SA's ports when `encapsulated`, ESN, and the kernel lifetime.
netlink::XfrmSa esp_state(const ike::ChildSa& child, bool outbound, uint32_t reqid,
                          const ike::KernelLifetime& lifetime);

// The CHILD_SA's policies, out (local -> remote), in and fwd (remote -> local), each with one
// tunnel-mode ESP template of `reqid` between the outer addresses.
std::array<netlink::XfrmPolicy, 3> child_policies(const ike::ChildSa& child, uint32_t reqid);

// Every CHILD_SA of a tunnel with its own reqid (the tunnel's first, then one more per
// index) so that each policy takes its own SAs; rekeyed pairs keep their CHILD_SA's reqid and
// policies. The key log, when given, gets each SA's keys as it goes in (Wireshark's esp_sa).
class KernelChildren final : public ike::ChildSaHandler {
 public:
  KernelChildren(XfrmOps& xfrm, uint32_t reqid_base, ike::KernelLifetime lifetime,
                 ike::KeyLog* key_log = nullptr);
  // Over the kernel's netlink socket (an owned NetlinkXfrmOps).
  KernelChildren(netlink::XfrmClient& client, uint32_t reqid_base, ike::KernelLifetime lifetime,
                 ike::KeyLog* key_log = nullptr);

  uint32_t reqid(const ike::ChildSa& child) const { return reqid_base_ + child.index; }
  // A route-based tunnel's SAs and policies carry its VTI key as their mark (set before the
  // first CHILD_SA goes in).
  void set_mark(std::optional<netlink::XfrmMark> mark) { mark_ = mark; }

  Result<uint32_t> allocate_spi(const ike::ChildSa& child) override;
  Status install_inbound(const ike::ChildSa& child) override;
  Status install_outbound(const ike::ChildSa& child) override;
  Status install_policies(const ike::ChildSa& child) override;
  void remove_policies(const ike::ChildSa& child) override;
  void remove(const ike::ChildSa& child) override;

  // A CHILD_SA whole, as the first one goes in: inbound SA (it completes the larval SA
  // ALLOCSPI made), outbound SA, then the policies; stops at the first error.
  Status install(const ike::ChildSa& child);

 private:
  void log_keys(const ike::ChildSa& child, bool outbound);

  std::unique_ptr<XfrmOps> owned_;  // set by the XfrmClient constructor only
  XfrmOps& xfrm_;
  uint32_t reqid_base_;
  ike::KernelLifetime lifetime_;
  ike::KeyLog* key_log_;
  std::optional<netlink::XfrmMark> mark_;
  netlink::XfrmSa marked(netlink::XfrmSa sa) const;
  netlink::XfrmPolicy marked(netlink::XfrmPolicy p) const;
};

}  // namespace sedge::connector

#include "agent/connector/kernel_children.h"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <initializer_list>
#include <string>

#include "common/log.h"

namespace sedge::connector {
namespace {

// One direction of a CHILD_SA: packets from src to dst carry spi and use these keys.
struct Direction {
  const ike::Address& src;
  const ike::Address& dst;
  uint32_t spi;
  const Secret& key;
  const Secret& integ;
};

Direction direction(const ike::ChildSa& c, bool outbound) {
  if (outbound) return {c.local, c.remote, c.spi_out, c.key_out, c.integ_out};
  return {c.remote, c.local, c.spi_in, c.key_in, c.integ_in};
}

// Bit i (0: the most significant) of a big-endian address.
bool bit(const uint8_t* address, unsigned i) {
  return (address[i / 8] >> (7 - i % 8)) & 1;
}

// The byte at `index` of the netmask of a /length prefix.
uint8_t mask_byte(unsigned length, size_t index) {
  const unsigned bits =
      std::min(8u, length - std::min<unsigned>(length, static_cast<unsigned>(index * 8)));
  return static_cast<uint8_t>(bits ? 0xff << (8 - bits) : 0);
}

// The kernel's name of an HMAC-SHA2 integrity transform.
std::string kernel_integ(uint16_t integ) {
  switch (integ) {
    case ike::kIntegHmacSha384_192:
      return "hmac(sha384)";
    case ike::kIntegHmacSha512_256:
      return "hmac(sha512)";
    default:
      return "hmac(sha256)";
  }
}

// The negotiated ESP algorithms as the kernel names them: RFC 4106 AES-GCM-16 (the key ends in
// its 4-byte salt, the ICV is 128 bits); AES-CBC or ENCR_NULL with HMAC-SHA2 truncated as RFC
// 4868 says (half the hash).
void set_algorithms(netlink::XfrmSa& sa, const ike::Suite& suite, const Secret& key,
                    const Secret& integ) {
  if (suite.esp_aead()) {
    sa.aead = netlink::XfrmAead{"rfc4106(gcm(aes))", key.clone(), 128};
    return;
  }
  sa.crypt = netlink::XfrmCrypt{suite.esp_encr == ike::kEncrNull ? "ecb(cipher_null)" : "cbc(aes)",
                                key.clone()};
  sa.auth = netlink::XfrmAuth{kernel_integ(suite.esp_integ), integ.clone(),
                              static_cast<uint32_t>(ike::integ_icv_size(suite.esp_integ) * 8)};
}

bool has_ports(uint8_t protocol) {
  return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP;
}

// XfrmSelector holds one port per side, matched exactly or not at all (the netlink layer sends
// a mask of all ones or zero), so a single port goes in and any other range is widened to any
// port. Only TCP, UDP and SCTP have ports there: ICMP's type and code, which IKE carries in the
// port fields, are left out (the netlink layer refuses ports for other protocols).
uint16_t port_of(const ike::TrafficSelector& ts, uint8_t protocol) {
  return has_ports(protocol) && ts.start_port == ts.end_port ? ts.start_port : 0;
}

// One protocol per policy: the engine narrows both selectors to the same one; when only one of
// them names a protocol, that is what the pair has in common.
uint8_t protocol_of(const ike::ChildSa& c) {
  return c.local_ts.protocol ? c.local_ts.protocol : c.remote_ts.protocol;
}

netlink::XfrmSelector selector(const ike::TrafficSelector& src, const ike::TrafficSelector& dst,
                               uint8_t protocol) {
  netlink::XfrmSelector s;
  s.src = prefix_of(src);
  s.dst = prefix_of(dst);
  s.proto = protocol;
  s.sport = port_of(src, protocol);
  s.dport = port_of(dst, protocol);
  return s;
}

netlink::XfrmPolicy policy(netlink::XfrmDir dir, const netlink::XfrmSelector& sel,
                           const netlink::IpAddress& tsrc, const netlink::IpAddress& tdst,
                           uint32_t reqid) {
  netlink::XfrmPolicy p;
  p.selector = sel;
  p.dir = dir;
  netlink::XfrmTemplate t;
  t.src = tsrc;
  t.dst = tdst;
  t.reqid = reqid;
  p.templates.push_back(t);
  return p;
}

netlink::XfrmSaId sa_id(const ike::ChildSa& c, bool outbound) {
  const Direction d = direction(c, outbound);
  return {ip_of(d.dst), d.spi, netlink::XfrmProto::Esp, std::nullopt, ip_of(d.src)};
}

// Removal is best effort (the tunnel is going anyway), but anything left behind may steer
// traffic, so it is worth a line; an object the kernel no longer has (a hard-expired SA) is not.
void warn_unless_gone(const Status& st) {
  if (!st && st.error().code != ESRCH && st.error().code != ENOENT)
    log::warning(st.error().message);
}

// An inbound SA completes the larval SA ALLOCSPI made. The kernel drops that one when the peer
// takes longer than it waits (net.core.xfrm_acq_expires, 30 s: a slow peer installing its side
// before it answers IKE_AUTH); the SA is then added anew under the same SPI.
Status install_inbound_sa(XfrmOps& xfrm, const netlink::XfrmSa& sa) {
  auto st = xfrm.update_sa(sa);
  if (st.ok() || st.error().code != ESRCH) return st;
  log::info("the larval SA of SPI " + std::to_string(sa.spi) +
            " expired while the peer answered; adding the SA");
  return xfrm.add_sa(sa);
}

}  // namespace

Result<uint32_t> NetlinkXfrmOps::alloc_spi(const netlink::XfrmSpiRequest& request) {
  return client_.alloc_spi(request);
}
Status NetlinkXfrmOps::add_sa(const netlink::XfrmSa& sa) {
  return client_.add_sa(sa);
}
Status NetlinkXfrmOps::update_sa(const netlink::XfrmSa& sa) {
  return client_.update_sa(sa);
}
Status NetlinkXfrmOps::delete_sa(const netlink::XfrmSaId& id) {
  return client_.delete_sa(id);
}
Status NetlinkXfrmOps::add_policy(const netlink::XfrmPolicy& policy) {
  return client_.add_policy(policy);
}
Status NetlinkXfrmOps::delete_policy(const netlink::XfrmPolicyId& id) {
  return client_.delete_policy(id);
}

netlink::IpAddress ip_of(const ike::Address& address) {
  netlink::IpAddress a;
  a.family = address.family;
  const auto bytes = address.ip_bytes();
  std::copy(bytes.begin(), bytes.end(), a.bytes.begin());
  return a;
}

netlink::IpPrefix prefix_of(const ike::TrafficSelector& ts) {
  netlink::IpPrefix p;
  p.address.family = ts.ipv6() ? AF_INET6 : AF_INET;
  const auto bits = static_cast<unsigned>(ts.address_size() * 8);
  unsigned length = 0;
  while (length < bits && bit(ts.start, length) == bit(ts.end, length)) ++length;
  for (size_t i = 0; i < ts.address_size(); ++i)
    p.address.bytes[i] = ts.start[i] & mask_byte(length, i);
  p.length = static_cast<uint8_t>(length);
  return p;
}

netlink::XfrmSa esp_state(const ike::ChildSa& child, bool outbound, uint32_t reqid,
                          const ike::KernelLifetime& lifetime) {
  const Direction d = direction(child, outbound);
  netlink::XfrmSa sa;
  sa.src = ip_of(d.src);
  sa.dst = ip_of(d.dst);
  sa.spi = d.spi;
  sa.reqid = reqid;
  set_algorithms(sa, child.suite, d.key, d.integ);
  sa.esn = child.suite.esn;  // the netlink layer sends the replay-esn state with it
  sa.lifetime = netlink::XfrmLifetime::after_seconds(lifetime.soft_seconds, lifetime.hard_seconds);
  if (child.encapsulated) {  // ESP in UDP (RFC 3948), on the ports IKE floated to
    netlink::XfrmEncap encap;
    encap.sport = d.src.port;
    encap.dport = d.dst.port;
    sa.encap = encap;
  }
  // Without a selector the kernel gives a tunnel-mode SA one of the outer family and then
  // decapsulates only inner packets of that family; IPv4 in IPv6 (or the reverse) needs the
  // SA's selector family left unspecified, as strongSwan does.
  if (child.local_ts.ipv6() != d.src.ipv6()) sa.flags |= XFRM_STATE_AF_UNSPEC;
  return sa;
}

std::array<netlink::XfrmPolicy, 3> child_policies(const ike::ChildSa& child, uint32_t reqid) {
  const uint8_t protocol = protocol_of(child);
  const auto out = selector(child.local_ts, child.remote_ts, protocol);
  const auto in = selector(child.remote_ts, child.local_ts, protocol);
  const auto me = ip_of(child.local), them = ip_of(child.remote);
  return {policy(netlink::XfrmDir::Out, out, me, them, reqid),
          policy(netlink::XfrmDir::In, in, them, me, reqid),
          policy(netlink::XfrmDir::Fwd, in, them, me, reqid)};
}

KernelChildren::KernelChildren(XfrmOps& xfrm, uint32_t reqid_base, ike::KernelLifetime lifetime,
                               ike::KeyLog* key_log)
    : xfrm_(xfrm), reqid_base_(reqid_base), lifetime_(lifetime), key_log_(key_log) {}

KernelChildren::KernelChildren(netlink::XfrmClient& client, uint32_t reqid_base,
                               ike::KernelLifetime lifetime, ike::KeyLog* key_log)
    : owned_(std::make_unique<NetlinkXfrmOps>(client)),
      xfrm_(*owned_),
      reqid_base_(reqid_base),
      lifetime_(lifetime),
      key_log_(key_log) {}

Result<uint32_t> KernelChildren::allocate_spi(const ike::ChildSa& child) {
  netlink::XfrmSpiRequest req;
  req.src = ip_of(child.remote);
  req.dst = ip_of(child.local);
  req.reqid = reqid(child);
  req.mark = mark_;
  return xfrm_.alloc_spi(req);
}

Status KernelChildren::install_inbound(const ike::ChildSa& child) {
  log_keys(child, false);
  return install_inbound_sa(xfrm_, marked(esp_state(child, false, reqid(child), lifetime_)));
}

Status KernelChildren::install_outbound(const ike::ChildSa& child) {
  log_keys(child, true);
  return xfrm_.add_sa(marked(esp_state(child, true, reqid(child), lifetime_)));
}

Status KernelChildren::install_policies(const ike::ChildSa& child) {
  for (const auto& p : child_policies(child, reqid(child))) {
    if (auto st = xfrm_.add_policy(marked(p)); !st) return st;
  }
  return {};
}

void KernelChildren::remove_policies(const ike::ChildSa& child) {
  for (const auto& p : child_policies(child, reqid(child)))
    warn_unless_gone(xfrm_.delete_policy(marked(p).id()));
}

void KernelChildren::remove(const ike::ChildSa& child) {
  for (const bool outbound : {false, true}) {
    if (!direction(child, outbound).spi) continue;
    netlink::XfrmSaId id = sa_id(child, outbound);
    id.mark = mark_;
    warn_unless_gone(xfrm_.delete_sa(id));
  }
}

Status KernelChildren::install(const ike::ChildSa& child) {
  Status st = install_inbound(child);
  if (st) st = install_outbound(child);
  if (st) st = install_policies(child);
  return st;
}

netlink::XfrmSa KernelChildren::marked(netlink::XfrmSa sa) const {
  sa.mark = mark_;
  return sa;
}

netlink::XfrmPolicy KernelChildren::marked(netlink::XfrmPolicy p) const {
  p.mark = mark_;
  return p;
}

// A key log that cannot be written costs the capture its decryption, not the tunnel.
void KernelChildren::log_keys(const ike::ChildSa& child, bool outbound) {
  if (!key_log_) return;
  const Direction d = direction(child, outbound);
  if (auto st = key_log_->esp_sa(ip_of(d.src).to_string(), ip_of(d.dst).to_string(), d.spi,
                                 child.suite, d.key, d.integ);
      !st) {
    log::warning(st.error().message);
  }
}

}  // namespace sedge::connector

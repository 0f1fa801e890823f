// XFRM (IPsec SAs and policies) requests and the client that sends them to the kernel.
//
// The request types are plain values; xfrm_messages.h turns them into netlink bytes (pure,
// unit-tested), XfrmClient sends those bytes over a libmnl socket and maps every ACK back to
// the request that caused it. Errors name the object, e.g.
//   "adding SA spi 0xc1a2b3c4 10.0.0.1->10.0.0.2: File exists (EEXIST)".
#pragma once

#include <linux/xfrm.h>
#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "netlink/address.h"

namespace sedge::netlink {

inline constexpr uint64_t kXfrmInfinite = XFRM_INF;  // "no limit" in XfrmLifetime

enum class XfrmProto : uint8_t { Esp = IPPROTO_ESP, Ah = IPPROTO_AH };
enum class XfrmMode : uint8_t { Transport = XFRM_MODE_TRANSPORT, Tunnel = XFRM_MODE_TUNNEL };
enum class XfrmDir : uint8_t { In = XFRM_POLICY_IN, Out = XFRM_POLICY_OUT, Fwd = XFRM_POLICY_FWD };
enum class XfrmAction : uint8_t { Allow = XFRM_POLICY_ALLOW, Block = XFRM_POLICY_BLOCK };

// XFRMA_MARK: the SA/policy applies to packets whose skb mark & mask == value & mask.
// Route-based tunnels use the VTI's okey/ikey here.
struct XfrmMark {
  uint32_t value = 0;
  uint32_t mask = 0xffffffff;
  friend bool operator==(const XfrmMark&, const XfrmMark&) = default;
};

// Traffic selector. Both prefixes must be of one family. proto 0 = any; a port of 0 with
// mask 0 = any port.
struct XfrmSelector {
  IpPrefix src{};
  IpPrefix dst{};
  uint8_t proto = 0;
  uint16_t sport = 0;  // host byte order
  uint16_t dport = 0;
  int ifindex = 0;
  int family() const { return src.address.family; }
  // 0.0.0.0/0 <-> 0.0.0.0/0 (or ::/0) any protocol: route-based tunnels.
  static XfrmSelector any(int family) { return {IpPrefix::any(family), IpPrefix::any(family)}; }
  friend bool operator==(const XfrmSelector&, const XfrmSelector&) = default;
};

// Soft limits raise an expire event (rekey); hard limits delete the SA (and raise one).
struct XfrmLifetime {
  uint64_t soft_bytes = kXfrmInfinite;
  uint64_t hard_bytes = kXfrmInfinite;
  uint64_t soft_packets = kXfrmInfinite;
  uint64_t hard_packets = kXfrmInfinite;
  uint64_t soft_add_seconds = 0;  // 0 = no limit (kernel convention for time limits)
  uint64_t hard_add_seconds = 0;
  uint64_t soft_use_seconds = 0;
  uint64_t hard_use_seconds = 0;
  // Time limits only, from when the SA is added (0: none); bytes and packets unlimited.
  static XfrmLifetime after_seconds(uint64_t soft, uint64_t hard) {
    XfrmLifetime l;
    l.soft_add_seconds = soft;
    l.hard_add_seconds = hard;
    return l;
  }
  friend bool operator==(const XfrmLifetime&, const XfrmLifetime&) = default;
};

// Combined mode: "rfc4106(gcm(aes))" with key = AES key + 4-byte salt (20, 28 or 36 bytes),
// icv_bits 64, 96 or 128.
struct XfrmAead {
  std::string name = "rfc4106(gcm(aes))";
  Secret key{};
  uint32_t icv_bits = 128;
};
// Encryption: "cbc(aes)" (16/24/32-byte key) or "ecb(cipher_null)" (empty key).
struct XfrmCrypt {
  std::string name{};
  Secret key{};
};
// Integrity: "hmac(sha256)" (32-byte key, 128 bits), "hmac(sha384)" (48, 192),
// "hmac(sha512)" (64, 256), "hmac(sha1)" (20, 96). Sent as XFRMA_ALG_AUTH_TRUNC.
struct XfrmAuth {
  std::string name{};
  Secret key{};
  uint32_t trunc_bits = 0;  // 0 = the RFC 4868 default for the hash (half its length)
};

// NAT-T: UDP encapsulation of ESP (RFC 3948). Ports in host byte order.
struct XfrmEncap {
  uint16_t type = 2;  // UDP_ENCAP_ESPINUDP
  uint16_t sport = 4500;
  uint16_t dport = 4500;
  std::optional<IpAddress> original_address{};  // iproute2's "oa": an address before NAT
  friend bool operator==(const XfrmEncap&, const XfrmEncap&) = default;
};

// Names one SA: the kernel's key is (dst, spi, proto) plus the mark.
struct XfrmSaId {
  IpAddress dst{};
  uint32_t spi = 0;  // host byte order
  XfrmProto proto = XfrmProto::Esp;
  std::optional<XfrmMark> mark{};
  IpAddress src{};  // optional (only used in messages' descriptions and GETSA's XFRMA_SRCADDR)
};

struct XfrmSa {
  IpAddress src{};
  IpAddress dst{};
  uint32_t spi = 0;  // host byte order
  XfrmProto proto = XfrmProto::Esp;
  XfrmMode mode = XfrmMode::Tunnel;
  uint32_t reqid = 0;
  // Exactly one of: aead; or crypt (+ auth); "null encryption with authentication" is
  // crypt{"ecb(cipher_null)"} + auth.
  std::optional<XfrmAead> aead{};
  std::optional<XfrmCrypt> crypt{};
  std::optional<XfrmAuth> auth{};
  bool esn = false;
  uint32_t replay_window = 32;  // packets; > 32 (or esn) uses XFRMA_REPLAY_ESN_VAL
  XfrmLifetime lifetime{};
  std::optional<XfrmEncap> encap{};
  std::optional<XfrmMark> mark{};
  std::optional<uint32_t> if_id;  // XFRMA_IF_ID (xfrm interfaces)
  // The SA's selector; unset (family AF_UNSPEC) = any, of the SA's family (tunnel mode), or
  // src/32 -> dst/32 in transport mode as the kernel expects.
  XfrmSelector selector{};
  uint8_t flags = 0;  // XFRM_STATE_* extra flags (e.g. XFRM_STATE_AF_UNSPEC, ICMP)

  XfrmSa clone() const;  // keys are Secret, copies are explicit
  XfrmSaId id() const { return {dst, spi, proto, mark, src}; }
};

// GETSA / dump result: the SA as the kernel holds it, plus its counters.
struct XfrmSaState {
  XfrmSa sa{};
  uint64_t bytes = 0;
  uint64_t packets = 0;
  uint64_t add_time = 0;  // seconds since the epoch the SA was added
  uint64_t use_time = 0;  // first use, 0 = never
  uint32_t replay_window_failures = 0;  // stats.replay_window
  uint32_t replay_failures = 0;         // stats.replay
  uint32_t integrity_failures = 0;      // stats.integrity_failed
  uint64_t oseq = 0;                    // outbound sequence number (ESN: 64 bits)
  uint64_t seq = 0;                     // highest inbound sequence number seen
};

// XFRM_MSG_ALLOCSPI: the kernel picks a free SPI in [min, max] and creates a larval SA
// (dst, spi, proto) that UPDSA completes.
struct XfrmSpiRequest {
  IpAddress src{};
  IpAddress dst{};
  XfrmProto proto = XfrmProto::Esp;
  XfrmMode mode = XfrmMode::Tunnel;
  uint32_t reqid = 0;
  uint32_t min = 0xc0000000;  // see ownership.h kSpiFirst/kSpiLast
  uint32_t max = 0xcfffffff;
  std::optional<XfrmMark> mark{};
};

// One template of a policy: how matching traffic must be protected. Tunnel mode needs
// src/dst (the tunnel endpoints); transport leaves them unset.
struct XfrmTemplate {
  IpAddress src{};
  IpAddress dst{};
  XfrmProto proto = XfrmProto::Esp;
  XfrmMode mode = XfrmMode::Tunnel;
  uint32_t reqid = 0;
  uint32_t spi = 0;        // 0 = any
  bool optional = false;   // iproute2 "level use" (vs. required)
  friend bool operator==(const XfrmTemplate&, const XfrmTemplate&) = default;
};

// Names one policy: the kernel's key is (selector, dir, mark, if_id) (or index).
struct XfrmPolicyId {
  XfrmSelector selector{};
  XfrmDir dir = XfrmDir::Out;
  std::optional<XfrmMark> mark{};
  std::optional<uint32_t> if_id{};
  uint32_t index = 0;  // when non-zero, identifies the policy alone
};

struct XfrmPolicy {
  XfrmSelector selector{};
  XfrmDir dir = XfrmDir::Out;
  uint32_t priority = 0;  // lower = preferred
  XfrmAction action = XfrmAction::Allow;
  std::optional<XfrmMark> mark{};
  std::optional<uint32_t> if_id{};
  std::vector<XfrmTemplate> templates{};  // empty with Allow = bypass policy
  XfrmLifetime lifetime{};
  // 0 on add lets the kernel choose; sedge gives policy_index(slot, dir) (ownership.h) so it
  // can delete by index later. Filled in by dumps.
  uint32_t index = 0;

  XfrmPolicyId id() const { return {selector, dir, mark, if_id, 0}; }
  // Names it by index when it has one (the fast delete), by selector otherwise.
  XfrmPolicyId id_by_index() const { return {selector, dir, mark, if_id, index}; }
  friend bool operator==(const XfrmPolicy&, const XfrmPolicy&) = default;
};

// Which policies the kernel hashes (exact lookup) instead of keeping in its ordered inexact
// list: those whose destination prefix is at least lbits long and source prefix at least rbits
// (for "out"; swapped for "in"). Inserting an inexact policy walks every other inexact one,
// so with thousands of tunnels, thresholds matching sedge's selectors make installs O(1).
// (strongSwan exposes the same as spdh_thresh.) Kernel defaults: 32/32 and 128/128.
struct XfrmPolicyHashThresholds {
  uint8_t v4_lbits = 32;
  uint8_t v4_rbits = 32;
  uint8_t v6_lbits = 128;
  uint8_t v6_rbits = 128;
};

// ---- Kernel events (XFRMNLGRP_EXPIRE, ACQUIRE, MAPPING, MIGRATE) ----

struct XfrmExpireEvent {  // XFRM_MSG_EXPIRE
  XfrmSaId sa{};
  uint32_t reqid = 0;
  bool hard = false;  // soft: rekey now; hard: the kernel deleted the SA
};
struct XfrmAcquireEvent {  // XFRM_MSG_ACQUIRE: traffic hit a policy with no SA
  IpAddress src{};
  IpAddress dst{};
  XfrmSelector selector{};
  XfrmDir dir = XfrmDir::Out;
  uint32_t policy_index = 0;
  uint32_t reqid = 0;  // of the first template
  uint32_t seq = 0;    // kernel's acquire sequence, echoed in the SA's ALLOCSPI/UPDSA
};
struct XfrmMappingEvent {  // XFRM_MSG_MAPPING: the NAT changed the peer's address/port
  XfrmSaId sa{};
  uint32_t reqid = 0;
  IpAddress old_address{};
  uint16_t old_port = 0;
  IpAddress new_address{};
  uint16_t new_port = 0;
};
struct XfrmMigrateEvent {  // XFRM_MSG_MIGRATE
  XfrmPolicyId policy{};
  IpAddress old_src, old_dst, new_src, new_dst{};
  uint32_t reqid = 0;
};
struct XfrmPolicyExpireEvent {  // XFRM_MSG_POLEXPIRE
  XfrmPolicyId policy{};
  bool hard = false;
};
// The socket's buffer overflowed (ENOBUFS): events were lost; the caller must resync
// (dump SAs) rather than trust its view.
struct XfrmEventsLost {};

using XfrmEvent = std::variant<XfrmExpireEvent, XfrmAcquireEvent, XfrmMappingEvent,
                               XfrmMigrateEvent, XfrmPolicyExpireEvent, XfrmEventsLost>;

}  // namespace sedge::netlink

// What makes a kernel object sedge's own. Everything sedge installs carries one of these
// markers, so a restart after a crash can list the kernel's objects and adopt or remove
// exactly those (see reconcile.h), never touching anything another program installed.
#pragma once

#include <cstdint>
#include <string_view>

namespace sedge::netlink {

// Route protocol number written on every route sedge installs. iproute2 names it through
// /etc/iproute2/rt_protos.d/sedge.conf ("83 sedge"), shipped by the daemon package.
// 83 is unused by linux/rtnetlink.h and by iproute2's own rt_protos.
inline constexpr uint8_t kRouteProtocol = 83;
inline constexpr std::string_view kRouteProtocolName = "sedge";

// One reserved range for XFRM reqids and route table ids (the design ties a path's reqid to
// its route table). Values outside it are never touched.
inline constexpr uint32_t kReqidFirst = 0x5ed00000;
inline constexpr uint32_t kReqidLast = 0x5ed0ffff;
inline constexpr uint32_t kTableFirst = kReqidFirst;
inline constexpr uint32_t kTableLast = kReqidLast;

// SPIs the kernel allocates for sedge's inbound SAs (XFRM_MSG_ALLOCSPI min/max).
inline constexpr uint32_t kSpiFirst = 0xc0000000;
inline constexpr uint32_t kSpiLast = 0xcfffffff;

// ip rule priorities sedge uses (below the main table's 32766, above local's 0).
inline constexpr uint32_t kRulePriorityFirst = 10000;
inline constexpr uint32_t kRulePriorityLast = 10999;

// XFRM policy indexes sedge chooses itself (the kernel keeps an index given on add). Deleting
// by index is a hash lookup, by selector a list walk: ~30x faster for 20 000 policies. The
// index's low 3 bits must be the direction, as the kernel requires.
inline constexpr uint32_t kPolicyIndexFirst = 0x7ed00000;
inline constexpr uint32_t kPolicySlots = 1u << 21;  // indexes up to 0x7fcffffa
inline constexpr uint32_t kPolicyIndexLast = kPolicyIndexFirst + (kPolicySlots << 3) - 1;
// slot < kPolicySlots (e.g. tunnel number * 4 + policy number); dir: XFRM_POLICY_IN/OUT/FWD.
constexpr uint32_t policy_index(uint32_t slot, uint8_t dir) {
  return kPolicyIndexFirst + (slot << 3) + dir;
}

// XFRM policies are recognised by their index in that range or by their templates' reqid; a
// policy with neither is never touched (see reconcile.h).

// Every network device sedge creates: "sec-<tunnel>" (at most 15 characters, IFNAMSIZ-1).
inline constexpr std::string_view kDevicePrefix = "sec-";

constexpr bool is_sedge_reqid(uint32_t reqid) { return reqid >= kReqidFirst && reqid <= kReqidLast; }
constexpr bool is_sedge_table(uint32_t table) { return table >= kTableFirst && table <= kTableLast; }
constexpr bool is_sedge_spi(uint32_t spi) { return spi >= kSpiFirst && spi <= kSpiLast; }
constexpr bool is_sedge_rule_priority(uint32_t p) {
  return p >= kRulePriorityFirst && p <= kRulePriorityLast;
}
constexpr bool is_sedge_device(std::string_view name) { return name.starts_with(kDevicePrefix); }
constexpr bool is_sedge_policy_index(uint32_t index) {
  return index >= kPolicyIndexFirst && index <= kPolicyIndexLast;
}

}  // namespace sedge::netlink

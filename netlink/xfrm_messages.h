// Pure builders and parsers of XFRM netlink messages: no sockets, no kernel. Each builder
// validates the request (key lengths, algorithm names, families) and returns the exact bytes
// the kernel's xfrm_user expects, or an error naming the object. Sequence number 0 and port
// id 0 are left for the sender to fill in.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "netlink/request.h"
#include "netlink/xfrm.h"

namespace sedge::netlink {

Result<Request> build_add_sa(const XfrmSa& sa);      // XFRM_MSG_NEWSA
Result<Request> build_update_sa(const XfrmSa& sa);   // XFRM_MSG_UPDSA
Result<Request> build_delete_sa(const XfrmSaId& id); // XFRM_MSG_DELSA
Result<Request> build_get_sa(const XfrmSaId& id);    // XFRM_MSG_GETSA
Result<Request> build_alloc_spi(const XfrmSpiRequest& request);  // XFRM_MSG_ALLOCSPI
Result<Request> build_add_policy(const XfrmPolicy& policy);      // XFRM_MSG_NEWPOLICY
Result<Request> build_update_policy(const XfrmPolicy& policy);   // XFRM_MSG_UPDPOLICY
Result<Request> build_delete_policy(const XfrmPolicyId& id);     // XFRM_MSG_DELPOLICY
Result<Request> build_get_policy(const XfrmPolicyId& id);        // XFRM_MSG_GETPOLICY
Result<Request> build_set_policy_hash_thresholds(const XfrmPolicyHashThresholds& t);  // NEWSPDINFO
Request build_dump_sas();       // XFRM_MSG_GETSA | NLM_F_DUMP
Request build_dump_policies();  // XFRM_MSG_GETPOLICY | NLM_F_DUMP

// Validation alone (what the builders check), for config checks before any IKE exchange.
Status validate_sa(const XfrmSa& sa);
Status validate_policy(const XfrmPolicy& policy);

// Parsers of one netlink message (struct nlmsghdr first) from the kernel. They check every
// length; a malformed message is an error, never a crash (fuzzed: tests/fuzz/netlink).
Result<XfrmSaState> parse_sa(std::span<const uint8_t> message);      // NEWSA/UPDSA/GETSA reply
Result<XfrmPolicy> parse_policy(std::span<const uint8_t> message);   // NEWPOLICY/GETPOLICY reply
Result<uint32_t> parse_alloc_spi_reply(std::span<const uint8_t> message);  // -> SPI
Result<XfrmEvent> parse_event(std::span<const uint8_t> message);     // multicast messages

// Describes objects the way errors and logs name them.
std::string describe(const XfrmSaId& id);       // "SA spi 0xc1a2b3c4 10.0.0.1->10.0.0.2"
std::string describe(const XfrmPolicyId& id);   // "policy out 10.1.0.0/16->10.2.0.0/16 mark 0x2a/0xffffffff"

}  // namespace sedge::netlink

// The start-up pass: list what the kernel holds that is sedge's own (ownership.h), adopt what
// the configuration still wants, remove the rest. After a kill -9 and a restart this leaves
// exactly one set of objects: no leak, no duplicate.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.h"
#include "netlink/route.h"
#include "netlink/xfrm.h"
#include "netlink/xfrm_client.h"

namespace sedge::netlink {

// What the caller (agent, from configuration and its state) wants to keep. Objects are
// matched by identity: SA by (dst, spi, proto, mark); policy by (selector, dir, mark);
// link by name; route by (table, dst, type); rule by (family, priority, fwmark, mask, table).
struct KeepSet {
  std::vector<XfrmSaId> sas{};
  std::vector<XfrmPolicyId> policies{};
  std::vector<std::string> links{};
  std::vector<Route> routes{};
  std::vector<Rule> rules{};
};

struct ReconcileReport {
  size_t sas_adopted = 0, sas_removed = 0;
  size_t policies_adopted = 0, policies_removed = 0;
  size_t links_adopted = 0, links_removed = 0;
  size_t routes_adopted = 0, routes_removed = 0;
  size_t rules_adopted = 0, rules_removed = 0;
  std::vector<Error> errors{};  // removals that failed (each names its object)
};

// Owned = SA or policy whose reqid (policy: any template's reqid) is in the reserved range;
// link named kDevicePrefix*; route with protocol kRouteProtocol; rule with a priority in the
// reserved range. Nothing else is looked at.
Result<ReconcileReport> reconcile(XfrmClient& xfrm, RouteClient& routes, const KeepSet& keep);

}  // namespace sedge::netlink

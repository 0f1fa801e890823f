#include "netlink/reconcile.h"

#include <algorithm>

#include "common/log.h"
#include "netlink/ownership.h"
#include "netlink/xfrm_messages.h"

namespace sedge::netlink {
namespace {

bool same_sa(const XfrmSaId& a, const XfrmSaId& b) {
  return a.dst == b.dst && a.spi == b.spi && a.proto == b.proto && a.mark == b.mark;
}

bool same_policy(const XfrmPolicyId& a, const XfrmPolicyId& b) {
  return a.selector == b.selector && a.dir == b.dir && a.mark == b.mark && a.if_id == b.if_id;
}

bool same_route(const Route& a, const Route& b) {
  return a.table == b.table && a.dst == b.dst && a.type == b.type && a.metric == b.metric;
}

bool owned(const XfrmPolicy& p) {
  return is_sedge_policy_index(p.index) ||
         std::any_of(p.templates.begin(), p.templates.end(),
                     [](const XfrmTemplate& t) { return is_sedge_reqid(t.reqid); });
}

template <typename T, typename Same>
bool wanted(const std::vector<T>& keep, const T& x, Same same) {
  return std::any_of(keep.begin(), keep.end(), [&](const T& k) { return same(k, x); });
}

void collect(const BatchResult& r, std::vector<Error>& errors, size_t& removed) {
  for (const auto& s : r.results) {
    if (s.ok()) {
      ++removed;
    } else if (s.error().code != ENOENT) {  // already gone (e.g. expired meanwhile) is fine
      errors.push_back(s.error());
    } else {
      ++removed;
    }
  }
}

}  // namespace

Result<ReconcileReport> reconcile(XfrmClient& xfrm, RouteClient& routes, const KeepSet& keep) {
  ReconcileReport report;

  // Policies before SAs, so no traffic is sent to a policy whose SA just disappeared.
  auto policies = xfrm.dump_policies();
  if (!policies) return policies.error().context("reconciling XFRM policies");
  XfrmBatch remove_policies;
  for (const auto& p : *policies) {
    if (!owned(p)) continue;
    if (wanted(keep.policies, p.id(), same_policy)) {
      ++report.policies_adopted;
    } else if (auto s = remove_policies.delete_policy(p.id_by_index()); !s) {  // by index: fast
      report.errors.push_back(s.error());
    }
  }
  collect(xfrm.submit(remove_policies), report.errors, report.policies_removed);

  auto sas = xfrm.dump_sas();
  if (!sas) return sas.error().context("reconciling XFRM SAs");
  XfrmBatch remove_sas;
  for (const auto& st : *sas) {
    if (!is_sedge_reqid(st.sa.reqid)) continue;
    if (wanted(keep.sas, st.sa.id(), same_sa)) {
      ++report.sas_adopted;
    } else if (auto s = remove_sas.delete_sa(st.sa.id()); !s) {
      report.errors.push_back(s.error());
    }
  }
  collect(xfrm.submit(remove_sas), report.errors, report.sas_removed);

  auto rules = routes.list_rules();
  if (!rules) return rules.error().context("reconciling rules");
  for (const auto& r : *rules) {
    if (!is_sedge_rule_priority(r.priority)) continue;
    if (wanted(keep.rules, r, [](const Rule& a, const Rule& b) { return a == b; })) {
      ++report.rules_adopted;
    } else if (auto s = routes.delete_rule(r); s || s.error().code == ENOENT) {
      ++report.rules_removed;
    } else {
      report.errors.push_back(s.error());
    }
  }

  auto route_list = routes.list_routes(kRouteProtocol);
  if (!route_list) return route_list.error().context("reconciling routes");
  for (const auto& r : *route_list) {
    if (wanted(keep.routes, r, same_route)) {
      ++report.routes_adopted;
    } else if (auto s = routes.delete_route(r); s || s.error().code == ENOENT) {
      ++report.routes_removed;
    } else {
      report.errors.push_back(s.error());
    }
  }

  auto links = routes.list_links();
  if (!links) return links.error().context("reconciling devices");
  for (const auto& l : *links) {
    if (!is_sedge_device(l.name)) continue;
    if (std::find(keep.links.begin(), keep.links.end(), l.name) != keep.links.end()) {
      ++report.links_adopted;
    } else if (auto s = routes.delete_link(l.name); s || s.error().code == ENOENT) {
      ++report.links_removed;
    } else {
      report.errors.push_back(s.error());
    }
  }

  for (const auto& e : report.errors) log::warning("reconcile: " + e.message);
  return report;
}

}  // namespace sedge::netlink

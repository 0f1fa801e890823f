#include "agent/steering/paths.h"

#include <sys/socket.h>

#include "netlink/ownership.h"

namespace sedge::steering {

// Steering tables sit in the upper half of sedge's table range (the lower half is the
// connectors'); rules after the first 100 priorities, which are reserved for other uses.
uint32_t path_table(uint32_t path_id) { return netlink::kTableFirst + 0x8000u + path_id; }
uint32_t path_rule_priority(uint32_t path_id) { return netlink::kRulePriorityFirst + 100u + path_id; }

Status install_path(netlink::RouteClient& rc, uint32_t id, const PathRoute& path) {
  netlink::Route route;
  route.dst = netlink::IpPrefix::any(AF_INET);
  route.table = path_table(id);
  route.device = path.device;
  route.gateway = path.gateway;
  if (auto st = rc.replace_route(route); !st) return st;
  netlink::Rule rule;
  rule.priority = path_rule_priority(id);
  rule.fwmark = SEDGE_STEER_PATH_MARK(id);
  rule.fwmask = SEDGE_STEER_MARK_MASK;
  rule.table = path_table(id);
  if (auto st = rc.add_rule(rule); !st && st.error().code != EEXIST) return st;
  return {};
}

Status remove_path(netlink::RouteClient& rc, uint32_t id) {
  netlink::Rule rule;
  rule.priority = path_rule_priority(id);
  rule.fwmark = SEDGE_STEER_PATH_MARK(id);
  rule.fwmask = SEDGE_STEER_MARK_MASK;
  rule.table = path_table(id);
  if (auto st = rc.delete_rule(rule); !st && st.error().code != ENOENT && st.error().code != ESRCH) return st;
  // The table's routes: the kernel removed them with their device, or they go now.
  auto routes = rc.list_routes();
  if (!routes) return routes.error();
  for (const auto& r : *routes) {
    if (r.table != path_table(id)) continue;
    if (auto st = rc.delete_route(r); !st && st.error().code != ESRCH && st.error().code != ENOENT) return st;
  }
  return {};
}

Status install_paths(netlink::RouteClient& rc, const Compiled& compiled, const std::map<std::string, PathRoute>& routes,
                     bool skip_missing) {
  for (uint32_t id = 1; id < compiled.path_names.size(); ++id) {
    const std::string& name = compiled.path_names[id];
    auto it = routes.find(name);
    if (it == routes.end()) {
      if (skip_missing) continue;
      return Error{"steering path " + name + " has no device to route into", ENOENT};
    }
    if (auto st = install_path(rc, id, it->second); !st) return st.error().context("steering path " + name);
  }
  return {};
}

}  // namespace sedge::steering

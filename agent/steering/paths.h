// Routing for steering paths: each path id gets `ip rule fwmark MARK/MASK lookup TABLE` and a
// default route in TABLE out of the path's device (a VTI, a GRE tunnel, or a WAN with its
// gateway for breakout paths), all through the netlink layer with sedge's protocol.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "agent/steering/compiler.h"
#include "netlink/route.h"

namespace sedge::steering {

struct PathRoute {
  std::string device;
  std::optional<netlink::IpAddress> gateway;  // breakout through a WAN router
};

// Sedge's tables and rule priorities for path ids (inside the netlink layer's ranges).
uint32_t path_table(uint32_t path_id);
uint32_t path_rule_priority(uint32_t path_id);

// Installs (or replaces) the rule and default route of every compiled path that `routes`
// names; a compiled path with no route is an error naming it, unless `skip_missing` (the
// daemon: a tunnel whose device is not there yet gets its route when it comes up).
Status install_paths(netlink::RouteClient& rc, const Compiled& compiled,
                     const std::map<std::string, PathRoute>& routes, bool skip_missing = false);
// The rule and default route of one path (id from the compiled set); remove_path takes them
// away again (what is already gone is not an error).
Status install_path(netlink::RouteClient& rc, uint32_t path_id, const PathRoute& route);
Status remove_path(netlink::RouteClient& rc, uint32_t path_id);

}  // namespace sedge::steering

// Links (VTI, VTI6, GRE, dummy), routes and policy rules over libnl-route-3.
// Every object sedge creates is marked as its own (ownership.h): devices are named "sec-*",
// routes carry protocol kRouteProtocol in a table of the reserved range, rules use a priority
// of the reserved range.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "netlink/address.h"
#include "netlink/ownership.h"

namespace sedge::netlink {

// VTI (IPv4 endpoints) or VTI6 (IPv6 endpoints), chosen by the family of local/remote.
// Packets sent into it get skb mark okey, so the XFRM out policy/SA with mark okey match;
// ESP arriving with mark ikey is delivered to it. The design uses ikey == okey.
struct VtiLink {
  std::string name{};  // "sec-<tunnel>", at most 15 characters
  IpAddress local{};
  IpAddress remote{};
  uint32_t ikey = 0;
  uint32_t okey = 0;
  std::string underlay{};  // optional: device the tunnel's packets leave by ("" = routing)
  uint32_t mtu = 0;      // 0 = kernel default
  // Reverse-path filtering (loose here; Debian's all.rp_filter=2 forces it anyway) drops what
  // an IPv4 VTI without an address decrypts. Give it one: the tunnel's inner address, or a
  // link-local 169.254.x.y/32 of the path.
  std::optional<IpPrefix> address{};
};

// GRE (IPv4) tunnel for GRE SEC connectors.
struct GreLink {
  std::string name{};
  IpAddress local{};
  IpAddress remote{};
  std::optional<uint32_t> ikey{};
  std::optional<uint32_t> okey{};
  uint8_t ttl = 64;
  uint32_t mtu = 0;
};

struct LinkInfo {
  std::string name{};
  int ifindex = 0;
  std::string kind{};  // "vti", "vti6", "gre", "dummy", ... ("" when not a typed link)
  bool up = false;
  uint32_t ikey = 0;  // VTI/GRE keys when the kind has them
  uint32_t okey = 0;
};

enum class RouteType : uint8_t { Unicast = 1, Blackhole = 6, Unreachable = 7 };

struct Route {
  IpPrefix dst{};                     // 0.0.0.0/0 for a path's default route
  uint32_t table = 0;               // kTableFirst..kTableLast for sedge's own tables
  std::string device{};               // "" for blackhole/unreachable
  std::optional<IpAddress> gateway{};
  std::optional<IpAddress> prefsrc{};
  uint32_t metric = 0;
  RouteType type = RouteType::Unicast;
  uint8_t protocol = kRouteProtocol;
  friend bool operator==(const Route&, const Route&) = default;
};

// "ip rule add fwmark M/MASK lookup TABLE priority P".
struct Rule {
  int family = AF_INET;
  uint32_t priority = 0;  // kRulePriorityFirst..kRulePriorityLast
  uint32_t fwmark = 0;
  uint32_t fwmask = 0xffffffff;
  uint32_t table = 0;
  friend bool operator==(const Rule&, const Rule&) = default;
};

class RouteClient {
 public:
  // Opens NETLINK_ROUTE (libnl-route-3). Needs CAP_NET_ADMIN for changes.
  static Result<RouteClient> open();
  RouteClient(RouteClient&&) noexcept;
  RouteClient& operator=(RouteClient&&) noexcept;
  ~RouteClient();

  // Creates the device, sets disable_policy=1 and rp_filter=2 (loose) on it, brings it up.
  // If anything after the creation fails, the device is deleted again.
  Status add_vti(const VtiLink& link);
  Status add_gre(const GreLink& link);
  Status add_dummy(const std::string& name);
  // A veth pair, both ends up (tests and lab topologies; kernels without the dummy driver).
  Status add_veth(const std::string& name, const std::string& peer);
  Status delete_link(const std::string& name);
  Status set_up(const std::string& name, bool up = true);
  Result<int> link_index(const std::string& name);
  Result<std::vector<LinkInfo>> list_links();
  // Adds an address to a device (e.g. for tests, or the VTI's inner address).
  Status add_address(const std::string& device, const IpPrefix& address);

  Status add_route(const Route& route);      // fails with EEXIST if present
  Status replace_route(const Route& route);  // creates or replaces
  Status delete_route(const Route& route);
  // Routes of every table, filtered by protocol (0 = all) and family (AF_UNSPEC = both).
  Result<std::vector<Route>> list_routes(uint8_t protocol = kRouteProtocol,
                                         int family = AF_UNSPEC);

  Status add_rule(const Rule& rule);
  Status delete_rule(const Rule& rule);
  Result<std::vector<Rule>> list_rules(int family = AF_UNSPEC);

 private:
  struct Impl;
  explicit RouteClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sedge::netlink

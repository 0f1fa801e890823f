#include "netlink/route.h"

#include <arpa/inet.h>
#include <net/if.h>  // before the linux/ headers libnl pulls in
#include <linux/fib_rules.h>
#include <linux/if_tunnel.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/ip6vti.h>
#include <netlink/route/link/ipgre.h>
#include <netlink/route/link/ipvti.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

#include <cstring>
#include <fstream>

#include "netlink/netlink_socket.h"

namespace sedge::netlink {
namespace {

// libnl's objects are reference counted; these hold one reference each.
template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using RulePtr = std::unique_ptr<rtnl_rule, Deleter<rtnl_rule, rtnl_rule_put>>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;

// libnl reports its own error numbers; the operator wants the errno names the kernel used.
int nl_to_errno(int nlerr) {
  switch (nlerr < 0 ? -nlerr : nlerr) {
    case NLE_EXIST: return EEXIST;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_PERM: return EPERM;
    case NLE_NODEV: return ENODEV;
    case NLE_INVAL: return EINVAL;
    case NLE_NOMEM: return ENOMEM;
    case NLE_BUSY: return EBUSY;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_NOADDR: return EADDRNOTAVAIL;
    case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
    case NLE_RANGE: return ERANGE;
    case NLE_AGAIN: return EAGAIN;
    case NLE_NOACCESS: return EACCES;
    case NLE_MSGSIZE: return EMSGSIZE;
    case NLE_PROTO_MISMATCH: return EPROTONOSUPPORT;
    default: return EIO;
  }
}

Error nl_error(const std::string& what, int nlerr) {
  int err = nl_to_errno(nlerr);
  std::string msg = what + ": " + (err == EIO ? std::string(nl_geterror(nlerr)) + " (EIO)"
                                              : errno_text(err));
  if (err == EPERM) msg += "; sedge needs CAP_NET_ADMIN";
  return Error{msg, err};
}

AddrPtr to_nl(const IpAddress& a, int prefix = -1) {
  AddrPtr p(nl_addr_build(a.family, a.bytes.data(), a.size()));
  if (p && prefix >= 0) nl_addr_set_prefixlen(p.get(), prefix);
  return p;
}

IpAddress from_nl(const nl_addr* a) {
  IpAddress out;
  if (!a) return out;
  int family = nl_addr_get_family(a);
  if ((family != AF_INET && family != AF_INET6)) return out;
  out.family = family;
  if (nl_addr_get_len(a) != out.size()) return IpAddress::any(family);
  std::memcpy(out.bytes.data(), nl_addr_get_binary_addr(a), out.size());
  return out;
}

uint32_t v4(const IpAddress& a) {
  uint32_t n;
  std::memcpy(&n, a.bytes.data(), 4);
  return n;  // network order, as libnl's ipvti/ipgre setters expect
}

in6_addr v6(const IpAddress& a) {
  in6_addr n;
  std::memcpy(&n, a.bytes.data(), 16);
  return n;
}

std::string describe(const Route& r) {
  std::string s = "route ";
  if (r.type == RouteType::Blackhole) s += "blackhole ";
  if (r.type == RouteType::Unreachable) s += "unreachable ";
  s += r.dst.to_string();
  if (r.gateway) s += " via " + r.gateway->to_string();
  if (!r.device.empty()) s += " dev " + r.device;
  return s + " table " + std::to_string(r.table);
}

std::string describe(const Rule& r) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "rule %s priority %u fwmark 0x%x/0x%x lookup %u",
                r.family == AF_INET6 ? "-6" : "-4", r.priority, r.fwmark, r.fwmask, r.table);
  return buf;
}

Status check_name(const std::string& name, const char* what) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos ||
      name == "." || name == "..") {
    return Error{std::string(what) + " '" + name + "': not a valid device name (1-15 characters)",
                 EINVAL};
  }
  return {};
}

Status write_sysctl(const std::string& path, const char* value) {
  std::ofstream f(path);
  if (!f) return Error::sys("opening " + path);
  f << value;
  f.flush();
  if (!f) return Error::sys("writing " + path);
  return {};
}

}  // namespace

struct RouteClient::Impl {
  nl_sock* sock = nullptr;
  ~Impl() {
    if (sock) nl_socket_free(sock);
  }

  Result<int> index_of(const std::string& name, const std::string& what) {
    int index = static_cast<int>(if_nametoindex(name.c_str()));
    // if_nametoindex works per network namespace of the calling thread, like our socket.
    if (index == 0) return Error{what + ": device " + name + " not found (ENODEV)", ENODEV};
    return index;
  }

  Status add_link(rtnl_link* link, const std::string& what) {
    int err = rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0) return nl_error(what, err);
    return {};
  }

  Result<RoutePtr> build_route(const Route& r, const std::string& what) {
    if (!r.dst.address.is_set()) return Error{what + ": destination is required", EINVAL};
    if (r.table == 0) return Error{what + ": table 0 is not a table", EINVAL};
    RoutePtr route(rtnl_route_alloc());
    int family = r.dst.address.family;
    rtnl_route_set_family(route.get(), static_cast<uint8_t>(family));
    rtnl_route_set_table(route.get(), r.table);
    rtnl_route_set_protocol(route.get(), r.protocol);
    rtnl_route_set_type(route.get(), static_cast<uint8_t>(r.type));
    rtnl_route_set_priority(route.get(), r.metric);
    AddrPtr dst = to_nl(r.dst.address, r.dst.length);
    rtnl_route_set_dst(route.get(), dst.get());
    if (r.prefsrc) {
      AddrPtr src = to_nl(*r.prefsrc);
      rtnl_route_set_pref_src(route.get(), src.get());
    }
    if (r.type == RouteType::Unicast) {
      if (r.device.empty() && !r.gateway) {
        return Error{what + ": a unicast route needs a device or a gateway", EINVAL};
      }
      rtnl_nexthop* nh = rtnl_route_nh_alloc();
      if (!r.device.empty()) {
        auto index = index_of(r.device, what);
        if (!index) {
          rtnl_route_nh_free(nh);
          return index.error();
        }
        rtnl_route_nh_set_ifindex(nh, *index);
      }
      if (r.gateway) {
        if (r.gateway->family != family) {
          rtnl_route_nh_free(nh);
          return Error{what + ": gateway of another family", EINVAL};
        }
        AddrPtr gw = to_nl(*r.gateway);
        rtnl_route_nh_set_gateway(nh, gw.get());
      }
      rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh now
    }
    return route;
  }

  RulePtr build_rule(const Rule& r) {
    RulePtr rule(rtnl_rule_alloc());
    rtnl_rule_set_family(rule.get(), r.family);
    rtnl_rule_set_prio(rule.get(), r.priority);
    rtnl_rule_set_mark(rule.get(), r.fwmark);
    rtnl_rule_set_mask(rule.get(), r.fwmask);
    rtnl_rule_set_table(rule.get(), r.table);
    rtnl_rule_set_action(rule.get(), FR_ACT_TO_TBL);
    rtnl_rule_set_protocol(rule.get(), kRouteProtocol);
    return rule;
  }
};

RouteClient::RouteClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RouteClient::RouteClient(RouteClient&&) noexcept = default;
RouteClient& RouteClient::operator=(RouteClient&&) noexcept = default;
RouteClient::~RouteClient() = default;

Result<RouteClient> RouteClient::open() {
  auto impl = std::make_unique<Impl>();
  impl->sock = nl_socket_alloc();
  if (!impl->sock) return Error{"opening the route netlink socket: out of memory", ENOMEM};
  int err = nl_connect(impl->sock, NETLINK_ROUTE);
  if (err < 0) return nl_error("opening the route netlink socket", err);
  return RouteClient(std::move(impl));
}

Status RouteClient::add_vti(const VtiLink& l) {
  std::string what = "adding VTI " + l.name + " " + l.local.to_string() + "->" +
                     l.remote.to_string() + " key " + std::to_string(l.okey);
  if (auto s = check_name(l.name, "VTI"); !s) return s.error().context(what);
  if (!l.local.is_set() || !l.remote.is_set() || l.local.family != l.remote.family) {
    return Error{what + ": local and remote addresses of one family are required", EINVAL};
  }
  bool six = l.local.is_v6();
  LinkPtr link(six ? rtnl_link_ip6vti_alloc() : rtnl_link_ipvti_alloc());
  if (!link) return Error{what + ": out of memory", ENOMEM};
  rtnl_link_set_name(link.get(), l.name.c_str());
  if (l.mtu) rtnl_link_set_mtu(link.get(), l.mtu);
  uint32_t underlay = 0;
  if (!l.underlay.empty()) {
    auto index = impl_->index_of(l.underlay, what);
    if (!index) return index.error();
    underlay = static_cast<uint32_t>(*index);
  }
  // Keys travel in network byte order (as iproute2 sends them); the kernel sets the skb mark
  // to the key's host value, which is what the XFRM mark matches.
  if (six) {
    in6_addr local = v6(l.local), remote = v6(l.remote);
    rtnl_link_ip6vti_set_local(link.get(), &local);
    rtnl_link_ip6vti_set_remote(link.get(), &remote);
    rtnl_link_ip6vti_set_ikey(link.get(), htonl(l.ikey));
    rtnl_link_ip6vti_set_okey(link.get(), htonl(l.okey));
    if (underlay) rtnl_link_ip6vti_set_link(link.get(), underlay);
  } else {
    rtnl_link_ipvti_set_local(link.get(), v4(l.local));
    rtnl_link_ipvti_set_remote(link.get(), v4(l.remote));
    rtnl_link_ipvti_set_ikey(link.get(), htonl(l.ikey));
    rtnl_link_ipvti_set_okey(link.get(), htonl(l.okey));
    if (underlay) rtnl_link_ipvti_set_link(link.get(), underlay);
  }
  if (auto s = impl_->add_link(link.get(), what); !s) return s;
  // The VTI decrypts by itself: no policy check on it, and loose reverse-path filtering as
  // replies may come back over another path.
  std::string conf = std::string("/proc/sys/net/") + (six ? "ipv6" : "ipv4") + "/conf/" + l.name;
  Status s = write_sysctl(conf + "/disable_policy", "1");
  if (s && !six) s = write_sysctl(conf + "/rp_filter", "2");
  if (s && l.address) s = add_address(l.name, *l.address);
  if (s) s = set_up(l.name);
  if (!s) {
    (void)delete_link(l.name);  // nothing half-installed
    return s.error().context(what);
  }
  return {};
}

Status RouteClient::add_gre(const GreLink& l) {
  std::string what = "adding GRE " + l.name + " " + l.local.to_string() + "->" +
                     l.remote.to_string();
  if (auto s = check_name(l.name, "GRE"); !s) return s.error().context(what);
  if (l.local.family != AF_INET || l.remote.family != AF_INET) {
    return Error{what + ": GRE needs IPv4 local and remote addresses", EINVAL};
  }
  LinkPtr link(rtnl_link_ipgre_alloc());
  rtnl_link_set_name(link.get(), l.name.c_str());
  if (l.mtu) rtnl_link_set_mtu(link.get(), l.mtu);
  rtnl_link_ipgre_set_local(link.get(), v4(l.local));
  rtnl_link_ipgre_set_remote(link.get(), v4(l.remote));
  rtnl_link_ipgre_set_ttl(link.get(), l.ttl);
  if (l.ikey) {
    rtnl_link_ipgre_set_iflags(link.get(), GRE_KEY);
    rtnl_link_ipgre_set_ikey(link.get(), htonl(*l.ikey));
  }
  if (l.okey) {
    rtnl_link_ipgre_set_oflags(link.get(), GRE_KEY);
    rtnl_link_ipgre_set_okey(link.get(), htonl(*l.okey));
  }
  if (auto s = impl_->add_link(link.get(), what); !s) return s;
  if (auto s = set_up(l.name); !s) {
    (void)delete_link(l.name);
    return s.error().context(what);
  }
  return {};
}

Status RouteClient::add_dummy(const std::string& name) {
  std::string what = "adding dummy device " + name;
  if (auto s = check_name(name, "dummy"); !s) return s.error().context(what);
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  if (int err = rtnl_link_set_type(link.get(), "dummy"); err < 0) return nl_error(what, err);
  if (auto s = impl_->add_link(link.get(), what); !s) return s;
  if (auto s = set_up(name); !s) {
    (void)delete_link(name);
    return s.error().context(what);
  }
  return {};
}

Status RouteClient::add_veth(const std::string& name, const std::string& peer_name) {
  std::string what = "adding veth pair " + name + "/" + peer_name;
  if (auto s = check_name(name, "veth"); !s) return s.error().context(what);
  if (auto s = check_name(peer_name, "veth peer"); !s) return s.error().context(what);
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return Error{what + ": out of memory", ENOMEM};
  rtnl_link_set_name(link.get(), name.c_str());
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));  // a new reference
  rtnl_link_set_name(peer.get(), peer_name.c_str());
  if (auto s = impl_->add_link(link.get(), what); !s) return s;
  Status s = set_up(name);
  if (s) s = set_up(peer_name);
  if (!s) {
    (void)delete_link(name);
    return s.error().context(what);
  }
  return {};
}

Status RouteClient::delete_link(const std::string& name) {
  std::string what = "deleting device " + name;
  if (auto s = check_name(name, "device"); !s) return s.error().context(what);
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(impl_->sock, link.get());
  if (err < 0) return nl_error(what, err);
  return {};
}

Status RouteClient::set_up(const std::string& name, bool up) {
  std::string what = std::string(up ? "bringing up " : "bringing down ") + name;
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(impl_->sock, 0, name.c_str(), &raw);
  LinkPtr link(raw);
  if (err < 0) return nl_error(what, err);
  LinkPtr change(rtnl_link_alloc());
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  err = rtnl_link_change(impl_->sock, link.get(), change.get(), 0);
  if (err < 0) return nl_error(what, err);
  return {};
}

Result<int> RouteClient::link_index(const std::string& name) {
  return impl_->index_of(name, "looking up device " + name);
}

Result<std::vector<LinkInfo>> RouteClient::list_links() {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(impl_->sock, AF_UNSPEC, &raw);
  CachePtr cache(raw);
  if (err < 0) return nl_error("listing devices", err);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* link = reinterpret_cast<rtnl_link*>(o);
    LinkInfo info;
    const char* name = rtnl_link_get_name(link);
    info.name = name ? name : "";
    info.ifindex = rtnl_link_get_ifindex(link);
    const char* type = rtnl_link_get_type(link);
    info.kind = type ? type : "";
    info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
    if (info.kind == "vti") {
      info.ikey = ntohl(rtnl_link_ipvti_get_ikey(link));
      info.okey = ntohl(rtnl_link_ipvti_get_okey(link));
    } else if (info.kind == "vti6") {
      uint32_t k = 0;
      if (rtnl_link_ip6vti_get_ikey(link, &k) == 0) info.ikey = ntohl(k);
      if (rtnl_link_ip6vti_get_okey(link, &k) == 0) info.okey = ntohl(k);
    }
    out.push_back(std::move(info));
  }
  return out;
}

Status RouteClient::add_address(const std::string& device, const IpPrefix& address) {
  std::string what = "adding address " + address.to_string() + " to " + device;
  auto index = impl_->index_of(device, what);
  if (!index) return index.error();
  RtAddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), *index);
  AddrPtr local = to_nl(address.address, address.length);
  rtnl_addr_set_local(addr.get(), local.get());
  int err = rtnl_addr_add(impl_->sock, addr.get(), 0);
  if (err < 0) return nl_error(what, err);
  return {};
}

Status RouteClient::add_route(const Route& r) {
  std::string what = "adding " + describe(r);
  auto route = impl_->build_route(r, what);
  if (!route) return route.error();
  int err = rtnl_route_add(impl_->sock, route->get(), NLM_F_EXCL);
  if (err < 0) return nl_error(what, err);
  return {};
}

Status RouteClient::replace_route(const Route& r) {
  std::string what = "replacing " + describe(r);
  auto route = impl_->build_route(r, what);
  if (!route) return route.error();
  int err = rtnl_route_add(impl_->sock, route->get(), NLM_F_REPLACE);
  if (err < 0) return nl_error(what, err);
  return {};
}

Status RouteClient::delete_route(const Route& r) {
  std::string what = "deleting " + describe(r);
  // A route is named by table, destination, type and metric; the device may already be gone.
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(r.dst.address.family));
  rtnl_route_set_table(route.get(), r.table);
  rtnl_route_set_protocol(route.get(), r.protocol);
  rtnl_route_set_type(route.get(), static_cast<uint8_t>(r.type));
  rtnl_route_set_priority(route.get(), r.metric);
  rtnl_route_set_scope(route.get(), RT_SCOPE_NOWHERE);
  AddrPtr dst = to_nl(r.dst.address, r.dst.length);
  rtnl_route_set_dst(route.get(), dst.get());
  int err = rtnl_route_delete(impl_->sock, route.get(), 0);
  if (err < 0) return nl_error(what, err);
  return {};
}

Result<std::vector<Route>> RouteClient::list_routes(uint8_t protocol, int family) {
  nl_cache* raw = nullptr;
  int err = rtnl_route_alloc_cache(impl_->sock, family, 0, &raw);
  CachePtr cache(raw);
  if (err < 0) return nl_error("listing routes", err);
  std::vector<Route> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* route = reinterpret_cast<rtnl_route*>(o);
    if (protocol && rtnl_route_get_protocol(route) != protocol) continue;
    Route r;
    r.table = rtnl_route_get_table(route);
    r.protocol = rtnl_route_get_protocol(route);
    r.type = static_cast<RouteType>(rtnl_route_get_type(route));
    r.metric = rtnl_route_get_priority(route);
    nl_addr* dst = rtnl_route_get_dst(route);
    r.dst.address = from_nl(dst);
    if (!r.dst.address.is_set()) r.dst.address = IpAddress::any(rtnl_route_get_family(route));
    r.dst.length = dst ? static_cast<uint8_t>(nl_addr_get_prefixlen(dst)) : 0;
    if (nl_addr* src = rtnl_route_get_pref_src(route)) r.prefsrc = from_nl(src);
    if (rtnl_route_get_nnexthops(route) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(route, 0);
      char name[IF_NAMESIZE] = {};
      int index = rtnl_route_nh_get_ifindex(nh);
      if (index > 0 && if_indextoname(static_cast<unsigned>(index), name)) r.device = name;
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) r.gateway = from_nl(gw);
    }
    out.push_back(std::move(r));
  }
  return out;
}

Status RouteClient::add_rule(const Rule& r) {
  std::string what = "adding " + describe(r);
  if (r.family != AF_INET && r.family != AF_INET6) return Error{what + ": bad family", EINVAL};
  if (r.table == 0) return Error{what + ": table 0 is not a table", EINVAL};
  RulePtr rule = impl_->build_rule(r);
  int err = rtnl_rule_add(impl_->sock, rule.get(), NLM_F_EXCL);
  if (err < 0) return nl_error(what, err);
  return {};
}

Status RouteClient::delete_rule(const Rule& r) {
  std::string what = "deleting " + describe(r);
  RulePtr rule = impl_->build_rule(r);
  int err = rtnl_rule_delete(impl_->sock, rule.get(), 0);
  if (err < 0) return nl_error(what, err);
  return {};
}

Result<std::vector<Rule>> RouteClient::list_rules(int family) {
  nl_cache* raw = nullptr;
  int err = rtnl_rule_alloc_cache(impl_->sock, family, &raw);
  CachePtr cache(raw);
  if (err < 0) return nl_error("listing rules", err);
  std::vector<Rule> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* rule = reinterpret_cast<rtnl_rule*>(o);
    Rule r;
    r.family = rtnl_rule_get_family(rule);
    r.priority = rtnl_rule_get_prio(rule);
    r.fwmark = rtnl_rule_get_mark(rule);
    r.fwmask = rtnl_rule_get_mask(rule);
    r.table = rtnl_rule_get_table(rule);
    out.push_back(r);
  }
  return out;
}

}  // namespace sedge::netlink

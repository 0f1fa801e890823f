#include "agent/connector/manager.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <netdb.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "agent/connector/tunnel_config.h"
#include "common/log.h"
#include "common/message_ids.h"
#include "netlink/ownership.h"

namespace sedge::connector {
namespace {

constexpr uint32_t kReqidsPerTunnel = 16;  // CHILD_SAs of one tunnel: reqid base + index
constexpr auto kFirstBackoff = std::chrono::seconds(5);
constexpr auto kLastBackoff = std::chrono::seconds(60);

uint64_t realtime_usec() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// The remote of a tunnel: an address, or a name resolved now (re-resolved at every retry).
Result<ike::Address> resolve(const std::string& remote) {
  if (auto a = ike::Address::parse(remote, ike::kIkePort)) return *a;
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (int r = getaddrinfo(remote.c_str(), nullptr, &hints, &found); r != 0) {
    return Error{"resolving Remote=" + remote + ": " + gai_strerror(r), EHOSTUNREACH};
  }
  auto a = ike::Address::from_sockaddr(found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (!a) return Error{"resolving Remote=" + remote + ": no IPv4 or IPv6 address", EHOSTUNREACH};
  return a->with_port(ike::kIkePort);
}

ike::TrafficSelector all_addresses(sa_family_t family) {
  ike::TrafficSelector ts;
  ts.type = family == AF_INET6 ? ike::kTsIpv6AddrRange : ike::kTsIpv4AddrRange;
  std::fill_n(ts.end, ts.address_size(), uint8_t{0xff});
  return ts;
}

// What makes two configurations of a tunnel the same for its IKE SA (the key aside).
std::string fingerprint(const config::Config& c, const config::Tunnel& t) {
  std::string f = t.connector + "|" + config::to_string(t.role) + "|" + t.wan + "|" + t.remote + "|" + c.local_id_for(t).str() + "|" +
                  (t.remote_id ? t.remote_id->str() : "") + "|" + config::to_string(t.routing) + "|" +
                  std::to_string(t.ike_lifetime_sec) + "|" + std::to_string(t.child_lifetime_sec) + "|" +
                  std::to_string(t.dpd_interval_sec) + "|" + std::to_string(t.dpd_timeout_sec) + "|" +
                  std::to_string(t.retransmit_timeout_sec) + "|" + std::to_string(t.retransmit_tries) + "|" +
                  config::to_string(c.auth_method_for(t)) + "|" + c.certificate_for(t) + "|" + c.ca_path_for(t);
  for (const auto& p : t.ike_proposals) f += "|i:" + p;
  for (const auto& p : t.esp_proposals) f += "|e:" + p;
  for (const auto& p : t.local_ts) f += "|l:" + p.str();
  for (const auto& p : t.remote_ts) f += "|r:" + p.str();
  if (auto w = c.interfaces.find(t.wan); w != c.interfaces.end()) f += "|" + w->second.device + "|" + w->second.gateway;
  return f;
}

}  // namespace

const char* to_string(RunState s) {
  switch (s) {
    case RunState::down: return "down";
    case RunState::connecting: return "connecting";
    case RunState::up: return "up";
    case RunState::backoff: return "backoff";
  }
  return "down";
}

std::string device_name(const std::string& tunnel, uint32_t key) {
  const std::string full = std::string(netlink::kDevicePrefix) + tunnel;
  if (full.size() < IFNAMSIZ) return full;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%x", key & 0xffff);
  return full.substr(0, IFNAMSIZ - 1 - std::strlen(suffix)) + suffix;
}

Result<ike::Address> NetlinkLinkOps::address_of(const std::string& device, sa_family_t family) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return Error::sys("listing the addresses of " + device);
  std::optional<ike::Address> found;
  for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != family || device != i->ifa_name) continue;
    found = ike::Address::from_sockaddr(i->ifa_addr, family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  }
  freeifaddrs(list);
  if (!found) return Error{"the WAN device " + device + " has no " + (family == AF_INET6 ? "IPv6" : "IPv4") + " address", EADDRNOTAVAIL};
  return *found;
}

// ---- One tunnel ----

class Manager::Runner {
 public:
  Runner(Manager& m, const config::Config& c, const config::Tunnel& t, uint32_t key)
      : m_(m), name_(t.name), connector_(t.connector), role_(config::to_string(t.role)), routing_(t.routing),
        remote_name_(t.remote), key_(key), fingerprint_(fingerprint(c, t)), psk_(c.psk_for(t).clone()),
        sa_(load(c, t.name, config_error_)),
        kernel_(m.xfrm_, netlink::kReqidFirst + key * kReqidsPerTunnel, ike::kernel_lifetime(sa_.child_lifetime, sa_.rekey_fraction),
                nullptr) {
    if (auto w = c.interfaces.find(t.wan); w != c.interfaces.end()) {
      wan_device_ = w->second.device;
      wan_gateway_ = w->second.gateway;
    }
    sa_.tunnel.psk = &psk_;
  }
  ~Runner() { stop(); }

  bool same(const config::Config& c, const config::Tunnel& t) const {
    return fingerprint_ == fingerprint(c, t) && constant_time_equal(psk_.bytes(), c.psk_for(t).bytes());
  }
  bool owns(const ike::IkeSa* sa) const { return sa && sa == ike_; }
  uint32_t key() const { return key_; }

  void start() {
    cancel_timer();
    if (!config_error_.empty()) return set(RunState::down, config_error_);
    if (auto st = prepare(); !st) return fail(st.error());
    set(RunState::connecting, "");
    ike_ = m_.engine_->initiate(sa_, {&kernel_, nullptr, 0}, local_, remote_);
  }

  // The IKE SA is deleted (or forgotten) and the tunnel's own kernel objects removed.
  void stop() {
    cancel_timer();
    if (ike_) {
      // The Delete goes out once; the CHILD_SAs leave the kernel now, and the engine forgets
      // the IKE SA (its kernel adapter is this runner's). One not established yet fails in
      // close() itself: its down event clears ike_ (stopping_: no retry) and the engine has
      // destroyed it.
      stopping_ = true;
      m_.engine_->close(ike_);
      stopping_ = false;
      if (ike_) {
        for (const ike::Child* c : ike_->children()) {
          kernel_.remove(c->sa.shape());
          if (c->live()) kernel_.remove_policies(c->sa.shape());
        }
        m_.engine_->close(ike_, true);
        ike_ = nullptr;
      }
    }
    remove_kernel_objects();
    set(RunState::down, "");
  }

  void admin_down() {
    admin_down_ = true;
    stop();
  }
  void admin_up() {
    admin_down_ = false;
    wait_ = kFirstBackoff;
    if (!ike_) start();
  }

  void on_event(ike::IkeSa& sa, const ike::SaEvent& e) {
    switch (e.kind) {
      case ike::SaEventKind::up:
        wait_ = kFirstBackoff;
        log::notice(log::kTunnelUp, "tunnel " + name_ + " up: " + e.text, {{"TUNNEL", name_}, {"CONNECTOR", connector_}});
        set(RunState::up, "");
        break;
      case ike::SaEventKind::down:
        ike_ = nullptr;
        (void)sa;
        if (!stopping_) fail(Error{e.text, 0});
        break;
      default:
        if (e.kind == ike::SaEventKind::child_rekeyed) ++child_rekeys_;
        if (e.kind == ike::SaEventKind::ike_rekeyed) ++ike_rekeys_;
        log::info("tunnel " + name_ + ": " + e.text, {{"TUNNEL", name_}});
        notify();
        break;
    }
  }

  TunnelView view() const {
    TunnelView v;
    v.name = name_;
    v.connector = connector_;
    v.role = role_;
    v.routing = config::to_string(routing_);
    v.state = state_;
    v.since_usec = since_;
    v.last_error = last_error_;
    v.local = local_.ip_string();
    v.remote = remote_.family ? remote_.ip_string() : remote_name_;
    v.device = routing_ == config::Routing::route_based ? device_name(name_, key_) : "";
    v.key = key_;
    v.reqid = netlink::kReqidFirst + key_ * kReqidsPerTunnel;
    v.ike_suite = sa_.suite.ike_name();
    v.esp_suite = sa_.suite.esp_name();
    v.child_rekeys = child_rekeys_;
    v.ike_rekeys = ike_rekeys_;
    const ike::IkeSa* sa = ike_;
    if (sa && sa->current()) {
      v.spi_i = sa->current()->spi_i;
      v.spi_r = sa->current()->spi_r;
      v.behind_nat = sa->encapsulated();
      for (const ike::Child* c : sa->children()) {
        if (!c->live()) continue;
        v.children.push_back({c->sa.index, c->sa.spi_in, c->sa.spi_out, prefix_of(c->sa.local_ts).to_string(),
                              prefix_of(c->sa.remote_ts).to_string()});
      }
    }
    return v;
  }

 private:
  static ike::SaConfig load(const config::Config& c, const std::string& name, std::string& error) {
    auto sa = sa_config(c, name);
    if (sa) return std::move(*sa);
    error = sa.error().message;
    return {};
  }

  // Addresses, selectors and the kernel objects the IKE SA does not own.
  Status prepare() {
    auto remote = resolve(remote_name_);
    if (!remote) return remote.error();
    remote_ = *remote;
    auto local = wan_device_.empty() ? ike::Engine::source_for(remote_) : m_.links_.address_of(wan_device_, remote_.family);
    if (!local) return local.error();
    local_ = local->with_port(0);
    if (!wan_gateway_.empty()) {
      if (auto st = route_to_peer(); !st) return st;
    }
    if (routing_ != config::Routing::route_based) return {};
    const auto all = all_addresses(remote_.family);
    sa_.tunnel.local_ts = sa_.tunnel.remote_ts = all;
    sa_.local_ts = sa_.remote_ts = {all};
    kernel_.set_mark(netlink::XfrmMark{key_, 0xffffffff});
    return add_vti();
  }

  // So that each tunnel really leaves by its own WAN: the peer's host route through it.
  Status route_to_peer() {
    auto gw = netlink::IpAddress::parse(wan_gateway_);
    if (!gw) return gw.error().context("Gateway= of " + wan_device_);
    netlink::Route r;
    r.dst = {ip_of(remote_), static_cast<uint8_t>(remote_.ipv6() ? 128 : 32)};
    r.table = RT_TABLE_MAIN;
    r.device = wan_device_;
    r.gateway = *gw;
    if (auto st = m_.links_.replace_route(r); !st) return st.error().context("the route to " + remote_.ip_string());
    peer_route_ = r;
    return {};
  }

  Status add_vti() {
    netlink::VtiLink l;
    l.name = device_name(name_, key_);
    l.local = ip_of(local_);
    l.remote = ip_of(remote_);
    l.ikey = l.okey = key_;
    if (!remote_.ipv6()) {
      l.address = netlink::IpPrefix{netlink::IpAddress::v4(0xa9fe0000u | (key_ & 0xffff)), 32};  // 169.254.x.y: rp_filter
    }
    (void)m_.links_.delete_link(l.name);  // a leftover of ours, with other endpoints
    if (auto st = m_.links_.add_vti(l); !st) return st.error().context("creating " + l.name);
    vti_ = l.name;
    return {};
  }

  void remove_kernel_objects() {
    if (!vti_.empty()) (void)m_.links_.delete_link(vti_);
    vti_.clear();
    if (peer_route_) (void)m_.links_.delete_route(*peer_route_);
    peer_route_.reset();
  }

  void fail(const Error& e) {
    if (admin_down_) return set(RunState::down, e.message);
    log::warning(log::kTunnelDown, "tunnel " + name_ + ": " + e.message + "; retrying in " + std::to_string(wait_.count()) + " s",
                 {{"TUNNEL", name_}, {"CONNECTOR", connector_}});
    set(RunState::backoff, e.message);
    arm(wait_);
    wait_ = std::min(wait_ * 2, kLastBackoff);
  }

  void arm(std::chrono::seconds delay) {
    m_.retries_->schedule(this, delay, [this] { start(); });
  }

  void cancel_timer() { m_.retries_->cancel(this); }

  void set(RunState s, std::string error) {
    if (s == state_ && error == last_error_) return;
    state_ = s;
    since_ = realtime_usec();
    if (!error.empty() || s == RunState::up) last_error_ = std::move(error);
    notify();
  }
  void notify() {
    if (m_.observer_) m_.observer_(view());
  }

  Manager& m_;
  std::string name_, connector_, role_;
  config::Routing routing_;
  std::string remote_name_, wan_device_, wan_gateway_;
  uint32_t key_;
  std::string fingerprint_;
  Secret psk_;
  std::string config_error_;
  ike::SaConfig sa_;
  KernelChildren kernel_;
  ike::IkeSa* ike_ = nullptr;
  ike::Address local_, remote_;
  std::optional<netlink::Route> peer_route_;
  std::string vti_;
  RunState state_ = RunState::down;
  uint64_t since_ = realtime_usec();
  std::string last_error_;
  uint64_t child_rekeys_ = 0, ike_rekeys_ = 0;
  std::chrono::seconds wait_ = kFirstBackoff;
  bool admin_down_ = false;
  bool stopping_ = false;  // stop() is closing the IKE SA
};

// ---- The manager ----

SdEventRetries::~SdEventRetries() {
  for (auto& [key, p] : pending_) sd_event_source_disable_unref(p->source);
}

void SdEventRetries::schedule(const void* key, std::chrono::seconds delay, std::function<void()> fire) {
  cancel(key);
  auto p = std::make_unique<Pending>(Pending{this, key, nullptr, std::move(fire)});
  const uint64_t usec = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(delay).count());
  const int r = sd_event_add_time_relative(
      loop_, &p->source, CLOCK_MONOTONIC, usec, 0,
      [](sd_event_source*, uint64_t, void* data) {
        auto* pending = static_cast<Pending*>(data);
        SdEventRetries* self = pending->self;
        auto node = self->pending_.extract(pending->key);  // fire may schedule again
        sd_event_source_unref(node.mapped()->source);
        node.mapped()->fire();
        return 0;
      },
      p.get());
  if (r < 0) {
    log::error("cannot arm a retry timer: " + std::string(std::strerror(-r)));
    return;
  }
  pending_[key] = std::move(p);
}

void SdEventRetries::cancel(const void* key) {
  auto it = pending_.find(key);
  if (it == pending_.end()) return;
  sd_event_source_disable_unref(it->second->source);
  pending_.erase(it);
}

Manager::Manager(sd_event* loop, std::unique_ptr<ike::Engine> engine, XfrmOps& xfrm, LinkOps& links,
                 std::unique_ptr<Retries> retries)
    : retries_(retries ? std::move(retries) : std::make_unique<SdEventRetries>(loop)),
      engine_(std::move(engine)),
      xfrm_(xfrm),
      links_(links) {
  engine_->observe([this](ike::IkeSa& sa, const ike::SaEvent& e) { on_event(sa, e); });
}

// Nothing is reported while the runners go: the observer may read the map being cleared.
Manager::~Manager() {
  observer_ = nullptr;
  runners_.clear();
}

void Manager::on_event(ike::IkeSa& sa, const ike::SaEvent& e) {
  for (auto& [name, r] : runners_) {
    if (r->owns(&sa)) return r->on_event(sa, e);
  }
}

uint32_t Manager::allocate_key() {
  for (uint32_t k = 1;; ++k) {
    const bool used = std::any_of(runners_.begin(), runners_.end(), [k](const auto& r) { return r.second->key() == k; });
    if (!used) return k;
  }
}

void Manager::apply(const config::Config& c) {
  // Removed, no longer referenced, or changed: stopped (a changed one starts again below).
  for (auto it = runners_.begin(); it != runners_.end();) {
    auto t = c.tunnels.find(it->first);
    if (t != c.tunnels.end() && t->second.referenced && it->second->same(c, t->second)) {
      ++it;
      continue;
    }
    log::info("tunnel " + it->first + (t == c.tunnels.end() || !t->second.referenced ? ": removed" : ": changed, restarting"),
              {{"TUNNEL", it->first}});
    it = runners_.erase(it);
  }
  for (const auto& [name, t] : c.tunnels) {
    if (!t.referenced || runners_.count(name)) continue;
    auto r = std::make_unique<Runner>(*this, c, t, allocate_key());
    Runner* raw = r.get();
    runners_.emplace(name, std::move(r));
    raw->start();
  }
}

Status Manager::up(const std::string& tunnel) {
  auto it = runners_.find(tunnel);
  if (it == runners_.end()) return Error{"no running tunnel " + tunnel + " (not configured, or no profile refers to it)", ENOENT};
  it->second->admin_up();
  return {};
}

Status Manager::down(const std::string& tunnel) {
  auto it = runners_.find(tunnel);
  if (it == runners_.end()) return Error{"no running tunnel " + tunnel, ENOENT};
  it->second->admin_down();
  return {};
}

void Manager::shutdown() {
  observer_ = nullptr;
  for (auto& [name, r] : runners_) r->stop();
  runners_.clear();
}

std::vector<TunnelView> Manager::tunnels() const {
  std::vector<TunnelView> out;
  for (const auto& [name, r] : runners_) out.push_back(r->view());
  return out;
}

}  // namespace sedge::connector

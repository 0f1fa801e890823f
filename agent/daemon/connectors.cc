#include "agent/daemon/connectors.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "common/hex.h"
#include "common/log.h"
#include "netlink/reconcile.h"

namespace sedge::agent {

Result<std::unique_ptr<Connectors>> Connectors::open(sd_event* loop, const ike::EngineOptions& options) {
  std::unique_ptr<Connectors> c(new Connectors());
  auto xfrm = netlink::XfrmClient::open();
  if (!xfrm) return xfrm.error().context("opening the XFRM netlink socket");
  c->xfrm_ = std::make_unique<netlink::XfrmClient>(std::move(*xfrm));
  auto routes = netlink::RouteClient::open();
  if (!routes) return routes.error().context("opening the route netlink socket");
  c->routes_ = std::make_unique<netlink::RouteClient>(std::move(*routes));
  auto report = netlink::reconcile(*c->xfrm_, *c->routes_, {});
  if (!report) return report.error().context("removing what a previous run left");
  if (report->sas_removed + report->policies_removed + report->links_removed + report->routes_removed + report->rules_removed > 0) {
    log::notice("removed what a previous run left: " + std::to_string(report->sas_removed) + " SAs, " +
                std::to_string(report->policies_removed) + " policies, " + std::to_string(report->links_removed) + " links, " +
                std::to_string(report->routes_removed) + " routes, " + std::to_string(report->rules_removed) + " rules");
  }
  for (const auto& e : report->errors) log::warning(e.message);
  auto engine = ike::Engine::open(loop, options);
  if (!engine) return engine.error().context("opening the IKE sockets");
  c->xfrm_ops_ = std::make_unique<connector::NetlinkXfrmOps>(*c->xfrm_);
  c->link_ops_ = std::make_unique<connector::NetlinkLinkOps>(*c->routes_);
  c->manager_ = std::make_unique<connector::Manager>(loop, std::move(*engine), *c->xfrm_ops_, *c->link_ops_);
  auto steering = steering::Service::open(*c->routes_, bpf::SteerProgram::kDefaultPinDir);
  if (steering) {
    c->steering_ = std::move(*steering);
    const auto on_timer = [](sd_event_source*, uint64_t, void* self) -> int {
      auto* me = static_cast<Connectors*>(self);
      me->steering_->tick(me->steering_now());
      me->arm_steering_timer();
      return 0;
    };
    if (int r = sd_event_add_time(loop, &c->steering_timer_, CLOCK_MONOTONIC, UINT64_MAX, ike::kTimerAccuracyUsec, on_timer, c.get()); r < 0) {
      log::error(std::string("no steering: adding its timer: ") + std::strerror(-r));
      c->steering_.reset();
    } else {
      sd_event_source_set_enabled(c->steering_timer_, SD_EVENT_OFF);
    }
  } else {
    log::error("no steering: " + steering.error().message);
  }
  return c;
}

std::optional<steering::PathRoute> Connectors::route_of(const std::string& path) const {
  if (auto b = breakouts_.find(path); b != breakouts_.end()) return b->second;
  for (const auto& v : manager_->tunnels()) {
    if (v.name == path && !v.device.empty()) return steering::PathRoute{v.device, std::nullopt};
  }
  return std::nullopt;
}

void Connectors::apply(const config::Config& config) {
  manager_->apply(config);
  if (!steering_) return;
  breakouts_.clear();
  for (const auto& [name, i] : config.interfaces) {
    if (i.role != config::InterfaceRole::wan) continue;
    steering::PathRoute r{i.device, std::nullopt};
    if (auto gw = netlink::IpAddress::parse(i.gateway); !i.gateway.empty() && gw) r.gateway = *gw;
    breakouts_["breakout:" + name] = r;
  }
  auto resolve = [this](const std::string& path) { return route_of(path); };
  if (auto st = steering_->apply(config, resolve, steering_now()); !st) {
    log::error("steering not applied: " + st.error().message);
    return;
  }
  for (const auto& v : manager_->tunnels()) steering_->set_path_up(v.name, v.state == connector::RunState::up, resolve, steering_now());
  arm_steering_timer();
}

void Connectors::on_tunnel(const connector::TunnelView& v) {
  if (!steering_) return;
  steering_->set_path_up(v.name, v.state == connector::RunState::up, [this](const std::string& p) { return route_of(p); },
                         steering_now());
  arm_steering_timer();
}

steering::Time Connectors::steering_now() const {
  uint64_t usec = 0;
  if (steering_timer_) sd_event_now(sd_event_source_get_event(steering_timer_), CLOCK_MONOTONIC, &usec);
  return steering::Time{} + std::chrono::microseconds(usec);
}

void Connectors::arm_steering_timer() {
  if (!steering_timer_) return;
  const auto next = steering_->next_timer();
  if (!next) {
    sd_event_source_set_enabled(steering_timer_, SD_EVENT_OFF);
    return;
  }
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(next->time_since_epoch()).count();
  sd_event_source_set_time(steering_timer_, static_cast<uint64_t>(std::max<int64_t>(usec, 1)));
  sd_event_source_set_enabled(steering_timer_, SD_EVENT_ONESHOT);
}

nlohmann::json Connectors::describe_steering() const { return steering_ ? steering_->describe() : nlohmann::json(nullptr); }

Connectors::~Connectors() {
  if (manager_) manager_->shutdown();
  if (steering_timer_) steering_timer_ = sd_event_source_disable_unref(steering_timer_);
  if (steering_) steering_->shutdown();
}

SaStats kernel_sa_stats() {
  SaStats sas;
  auto x = netlink::XfrmClient::open();
  if (!x) return sas;
  auto all = x->dump_sas();
  if (!all) return sas;
  for (const auto& s : *all) {
    SaCounters& c = sas[hex32(s.sa.spi)];
    c.bytes += s.bytes;
    c.packets += s.packets;
  }
  return sas;
}

nlohmann::json to_json(const connector::TunnelView& v) {
  nlohmann::json children = nlohmann::json::array();
  for (const auto& c : v.children) {
    children.push_back({{"index", c.index}, {"spi_in", hex32(c.spi_in)}, {"spi_out", hex32(c.spi_out)},
                        {"local_ts", c.local_ts}, {"remote_ts", c.remote_ts}});
  }
  nlohmann::json out = {{"state", connector::to_string(v.state)}, {"since_usec", v.since_usec}, {"last_error", v.last_error},
                        {"local", v.local}, {"remote_address", v.remote}, {"device", v.device}, {"key", v.key},
                        {"reqid", v.reqid}, {"ike_suite", v.ike_suite}, {"esp_suite", v.esp_suite},
                        {"behind_nat", v.behind_nat}, {"children", children}, {"child_rekeys", v.child_rekeys},
                        {"ike_rekeys", v.ike_rekeys}};
  if (v.spi_i) out["ike_spi"] = hex64(v.spi_i) + "_i " + hex64(v.spi_r) + "_r";
  return out;
}

nlohmann::json Connectors::describe_tunnel(const std::string& name) const {
  for (const auto& v : manager_->tunnels()) {
    if (v.name == name) return to_json(v);
  }
  return nullptr;
}

}  // namespace sedge::agent

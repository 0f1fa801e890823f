#include "agent/daemon/connectors.h"

#include <cstdio>

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
  return c;
}

Connectors::~Connectors() {
  if (manager_) manager_->shutdown();
}

namespace {
std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}
std::string hex32(uint32_t v) {
  char b[11];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}
}  // namespace

nlohmann::json to_json(const connector::TunnelView& v) {
  nlohmann::json children = nlohmann::json::array();
  for (const auto& c : v.children) {
    children.push_back({{"index", c.index}, {"spi_in", hex32(c.spi_in)}, {"spi_out", hex32(c.spi_out)},
                        {"local_ts", c.local_ts}, {"remote_ts", c.remote_ts}});
  }
  nlohmann::json out = {{"state", connector::to_string(v.state)}, {"since_usec", v.since_usec}, {"last_error", v.last_error},
                        {"local", v.local}, {"remote_address", v.remote}, {"device", v.device}, {"key", v.key},
                        {"reqid", v.reqid}, {"ike_suite", v.ike_suite}, {"esp_suite", v.esp_suite},
                        {"behind_nat", v.behind_nat}, {"children", children}};
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

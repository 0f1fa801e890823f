// The daemon's connectors: the kernel clients, the IKE engine and the connector manager, made
// at start-up after the reconcile pass has removed what a previous run left behind (nothing is
// adopted: IKE SAs do not survive a restart, so their CHILD_SAs and policies go too).
#pragma once

#include <systemd/sd-event.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "agent/config/config.h"
#include "agent/connector/manager.h"
#include "agent/daemon/metrics.h"
#include "agent/steering/service.h"
#include "netlink/route.h"
#include "netlink/xfrm_client.h"

namespace sedge::agent {

class Connectors {
 public:
  static Result<std::unique_ptr<Connectors>> open(sd_event* loop, const ike::EngineOptions& options);
  ~Connectors();
  connector::Manager& manager() { return *manager_; }
  // The tunnels and the steering to what `config` says (the steering is skipped, and said so,
  // when the classifier could not be loaded).
  void apply(const config::Config& config);
  // A tunnel's state changed: its path's health follows.
  void on_tunnel(const connector::TunnelView& tunnel);
  nlohmann::json describe_steering() const;
  // The live state of a tunnel for Describe (null when it does not run).
  nlohmann::json describe_tunnel(const std::string& name) const;

 private:
  Connectors() = default;
  std::unique_ptr<netlink::XfrmClient> xfrm_;
  std::unique_ptr<netlink::RouteClient> routes_;
  std::unique_ptr<connector::NetlinkXfrmOps> xfrm_ops_;
  std::unique_ptr<connector::NetlinkLinkOps> link_ops_;
  std::unique_ptr<connector::Manager> manager_;
  std::unique_ptr<steering::Service> steering_;
  std::map<std::string, steering::PathRoute> breakouts_;  // breakout:<wan> -> the WAN's device and gateway
  std::optional<steering::PathRoute> route_of(const std::string& path) const;
  // CLOCK_MONOTONIC, armed for the steering's next preempt (steering::Service::next_timer).
  sd_event_source* steering_timer_ = nullptr;
  steering::Time steering_now() const;
  void arm_steering_timer();
};

// The kernel's ESP SA counters by SPI, from one XFRM dump (empty when the kernel refuses it).
SaStats kernel_sa_stats();

// A tunnel's live state as JSON (Describe, sedgectl).
nlohmann::json to_json(const connector::TunnelView& v);

}  // namespace sedge::agent

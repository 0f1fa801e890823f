// The Secure Edge connectors of the configuration, run by sedged on its event loop: one runner
// per tunnel that a steering profile or a remote network refers to, each driving an IKE SA of
// the process's engine (ike/engine.h) through down -> connecting -> up, and backoff after a
// failure (5 s doubling to a minute; never a busy loop, never an exit). A route-based tunnel
// gets its VTI (sec-<tunnel>, keys = the tunnel's mark) and 0.0.0.0/0 selectors with policies
// bound to the mark; a policy-based one its configured selectors. A tunnel with Wan= leaves from
// that WAN's address, with a host route to the peer through the WAN's gateway.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/connector/kernel_children.h"
#include "ike/engine.h"
#include "netlink/route.h"

namespace sedge::connector {

enum class RunState : uint8_t { down, connecting, up, backoff };
const char* to_string(RunState state);

struct ChildView {
  uint32_t index = 0;
  uint32_t spi_in = 0, spi_out = 0;
  std::string local_ts, remote_ts;
};

// A tunnel's live state, for D-Bus and sedgectl.
struct TunnelView {
  std::string name, connector, role, routing;
  RunState state = RunState::down;
  uint64_t since_usec = 0;  // CLOCK_REALTIME of the last change
  std::string last_error;
  std::string local, remote, device;
  uint32_t key = 0;  // route-based: the VTI's ikey/okey and the SAs' and policies' mark
  uint32_t reqid = 0;
  uint64_t spi_i = 0, spi_r = 0;
  std::string ike_suite, esp_suite;
  bool behind_nat = false;
  std::vector<ChildView> children;
  uint64_t child_rekeys = 0, ike_rekeys = 0;  // since the tunnel was created (metrics)
};

// The kernel objects of a tunnel besides its CHILD_SAs; the netlink layer in sedged, a fake in
// the unit tests.
class LinkOps {
 public:
  virtual ~LinkOps() = default;
  virtual Status add_vti(const netlink::VtiLink& link) = 0;
  virtual Status delete_link(const std::string& name) = 0;
  virtual Status replace_route(const netlink::Route& route) = 0;
  virtual Status delete_route(const netlink::Route& route) = 0;
  // The first address of `family` on a device (a WAN's source address).
  virtual Result<ike::Address> address_of(const std::string& device, sa_family_t family) = 0;
};

// LinkOps over netlink::RouteClient and getifaddrs.
class NetlinkLinkOps final : public LinkOps {
 public:
  explicit NetlinkLinkOps(netlink::RouteClient& routes) : routes_(routes) {}
  Status add_vti(const netlink::VtiLink& link) override { return routes_.add_vti(link); }
  Status delete_link(const std::string& name) override { return routes_.delete_link(name); }
  Status replace_route(const netlink::Route& route) override { return routes_.replace_route(route); }
  Status delete_route(const netlink::Route& route) override { return routes_.delete_route(route); }
  Result<ike::Address> address_of(const std::string& device, sa_family_t family) override;

 private:
  netlink::RouteClient& routes_;
};

// When the runners retry: one pending call per runner, replaced or cancelled by the next. sd-event's
// monotonic clock in sedged, a fake one in the unit tests.
class Retries {
 public:
  virtual ~Retries() = default;
  // Calls `fire` once after `delay`, unless cancelled; `key` names the caller (one per runner).
  virtual void schedule(const void* key, std::chrono::seconds delay, std::function<void()> fire) = 0;
  virtual void cancel(const void* key) = 0;
};

// Retries on an sd-event loop (CLOCK_MONOTONIC).
class SdEventRetries final : public Retries {
 public:
  explicit SdEventRetries(sd_event* loop) : loop_(loop) {}
  ~SdEventRetries() override;
  SdEventRetries(const SdEventRetries&) = delete;
  SdEventRetries& operator=(const SdEventRetries&) = delete;
  void schedule(const void* key, std::chrono::seconds delay, std::function<void()> fire) override;
  void cancel(const void* key) override;

 private:
  struct Pending {
    SdEventRetries* self;
    const void* key;
    sd_event_source* source;
    std::function<void()> fire;
  };
  sd_event* loop_;
  std::map<const void*, std::unique_ptr<Pending>> pending_;
};

// A route-based tunnel's device name: sec-<tunnel> when it fits IFNAMSIZ, else the tunnel name
// cut short with its key in hex, so two long names never meet.
std::string device_name(const std::string& tunnel, uint32_t key);

class Manager {
 public:
  using Observer = std::function<void(const TunnelView& tunnel)>;

  // `retries`: when failed tunnels try again (default: on `loop`'s monotonic clock).
  Manager(sd_event* loop, std::unique_ptr<ike::Engine> engine, XfrmOps& xfrm, LinkOps& links,
          std::unique_ptr<Retries> retries = nullptr);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Brings the running tunnels to what `config` says: added tunnels start, removed ones stop
  // (IKE SA deleted, kernel objects removed), changed ones restart; an untouched one keeps its
  // IKE SA and CHILD_SAs (same SPIs) and its traffic. Only tunnels a steering profile or a
  // remote network refers to run. A tunnel that cannot start is logged and retried.
  void apply(const config::Config& config);
  // Operator actions: bring a configured tunnel up now (ends its backoff), or down until the
  // next up or reload.
  Status up(const std::string& tunnel);
  Status down(const std::string& tunnel);
  // Deletes every IKE SA and removes every kernel object (the daemon stops).
  void shutdown();

  std::vector<TunnelView> tunnels() const;
  void observe(Observer observer) { observer_ = std::move(observer); }
  ike::Engine& engine() { return *engine_; }

  class Runner;

 private:
  void on_event(ike::IkeSa& sa, const ike::SaEvent& event);
  uint32_t allocate_key();

  std::unique_ptr<Retries> retries_;
  std::unique_ptr<ike::Engine> engine_;
  XfrmOps& xfrm_;
  LinkOps& links_;
  std::map<std::string, std::unique_ptr<Runner>> runners_;
  Observer observer_;
  friend class Runner;
};

}  // namespace sedge::connector

// sedged: the event loop (sd-event), its systemd protocol (notify, watchdog, reload, stop)
// and the D-Bus API org.sedge.Agent1.
#pragma once

#include "agent/daemon/connectors.h"

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <memory>
#include <string>

#include "agent/config/config.h"
#include "agent/daemon/bus_api.h"
#include "agent/daemon/check.h"
#include "agent/daemon/onboarding_task.h"
#include "agent/daemon/state.h"
#include "agent/daemon/tunnel_objects.h"
#include "common/result.h"

namespace sedge::agent {

class Daemon {
 public:
  struct Options {
    config::Sources sources;
    BusKind bus = BusKind::system;
  };

  // Loads the configuration (a file that cannot be read or parsed is fatal at start; rejected
  // objects are logged and the rest runs), connects to the bus and claims the name.
  static Result<std::unique_ptr<Daemon>> create(Options options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until SIGTERM/SIGINT; returns the process exit status.
  int run();

  // Re-reads the configuration. A new configuration that fails to load, or rejects any object,
  // is refused as a whole and the running one stays: a reload never loses working tunnels.
  Result<std::string> reload();

  const AgentState& state() const { return state_; }

 private:
  explicit Daemon(Options options);
  Status attach_signals();
  Status attach_bus();
  void notify_status() const;

  static int on_sighup(sd_event_source*, const struct signalfd_siginfo*, void* self);
  static int on_sigterm(sd_event_source*, const struct signalfd_siginfo*, void* self);
  static int method_describe(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_reload(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_tunnel_up(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_tunnel_down(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_onboard(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_onboarding_status(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_metrics(sd_bus_message* m, void* self, sd_bus_error* err);
  static int tunnel_action(sd_bus_message* m, void* self, sd_bus_error* err, bool up);
  static int property_version(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* self, sd_bus_error*);
  static int property_status(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* self, sd_bus_error*);
  static int property_loaded_at(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* self, sd_bus_error*);
  static int connector_find(sd_bus*, const char* path, const char*, void* self, void** found, sd_bus_error*);
  static int connector_enumerate(sd_bus*, const char*, void* self, char*** nodes, sd_bus_error*);
  static int connector_describe(sd_bus_message* m, void* self, sd_bus_error* err);

  Options options_;
  EventPtr loop_;
  BusPtr bus_;
  SlotPtr object_slot_, connector_slot_, enumerator_slot_, manager_slot_;
  AgentState state_;
  std::unique_ptr<OnboardingTask> onboarding_;  // when [Onboarding] names a conductor
  std::unique_ptr<Connectors> connectors_;      // null when the kernel or the IKE ports are refused
  std::unique_ptr<TunnelObjects> tunnel_objects_;  // the running tunnels on D-Bus, with connectors_
  void open_connectors();
  void apply_onboarding();
  nlohmann::json describe() const;
  // Where onboarding stands: [Onboarding]'s conductor, the worker's state and the onboarding on
  // record (OnboardingStatus, `sedgectl onboard status`); null without [Onboarding].
  nlohmann::json onboarding_status() const;
  // The Prometheus text of Describe and the kernel's SA counters (Metrics, `sedgectl metrics`).
  std::string metrics() const;
};

}  // namespace sedge::agent

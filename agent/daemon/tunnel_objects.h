// org.sedge.Tunnel1: one D-Bus object per running tunnel, /org/sedge/Agent1/tunnel/<name> (the
// name path-encoded), with the tunnel's live state as properties, PropertiesChanged on every
// transition (Bytes and Packets, the kernel's counters of its CHILD_SAs in both directions, are
// read when asked for and not signalled), and the methods Describe (its state as JSON, as in the
// daemon's Describe), Up and Down (who may call them is the D-Bus policy's decision, as for the
// daemon's TunnelUp/Down).
#pragma once

#include <systemd/sd-bus.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agent/connector/manager.h"
#include "agent/daemon/bus_api.h"
#include "agent/daemon/metrics.h"
#include "common/result.h"

namespace sedge::agent {

inline constexpr const char* kTunnelInterface = "org.sedge.Tunnel1";
inline constexpr const char* kTunnelPrefix = "/org/sedge/Agent1/tunnel";

std::string tunnel_path(const std::string& name);

class TunnelObjects {
 public:
  // Serves the tunnels of `manager` on `bus` until destroyed; both must outlive it.
  // `sa_stats` reads the kernel's SA counters (Bytes and Packets are read when asked for).
  static Result<std::unique_ptr<TunnelObjects>> attach(sd_bus* bus, connector::Manager& manager,
                                                       std::function<SaStats()> sa_stats);
  // A tunnel changed: PropertiesChanged (and InterfacesAdded the first time it is seen).
  void changed(const connector::TunnelView& tunnel);

 private:
  TunnelObjects(sd_bus* bus, connector::Manager& manager, std::function<SaStats()> sa_stats)
      : bus_(bus), manager_(manager), sa_stats_(std::move(sa_stats)) {}
  std::optional<connector::TunnelView> find(sd_bus_message* m) const;

  static int object_find(sd_bus*, const char* path, const char*, void* self, void** found,
                         sd_bus_error*);
  static int enumerate(sd_bus*, const char*, void* self, char*** nodes, sd_bus_error*);
  static int property(sd_bus*, const char* path, const char*, const char* name,
                      sd_bus_message* reply, void* self, sd_bus_error* err);
  static int counters(sd_bus*, const char* path, const char*, const char* name,
                      sd_bus_message* reply, void* self, sd_bus_error* err);
  static int children(sd_bus*, const char* path, const char*, const char*, sd_bus_message* reply,
                      void* self, sd_bus_error* err);
  static int method_describe(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_up(sd_bus_message* m, void* self, sd_bus_error* err);
  static int method_down(sd_bus_message* m, void* self, sd_bus_error* err);

  sd_bus* bus_;
  connector::Manager& manager_;
  std::function<SaStats()> sa_stats_;
  SlotPtr vtable_slot_, enumerator_slot_;
  std::set<std::string> announced_;
};

}  // namespace sedge::agent

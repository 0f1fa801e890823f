// org.sedge.Agent1's names and the sd-bus/sd-event owners, shared by sedged and its clients
// (sedgectl) without the daemon itself.
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <memory>

namespace sedge::agent {

inline constexpr const char* kBusName = "org.sedge.Agent1";
inline constexpr const char* kObjectPath = "/org/sedge/Agent1";
inline constexpr const char* kInterface = "org.sedge.Agent1";
inline constexpr const char* kConnectorInterface = "org.sedge.Connector1";
inline constexpr const char* kConnectorPrefix = "/org/sedge/Agent1/connector";

enum class BusKind { system, user };

struct EventDeleter {
  void operator()(sd_event* e) const { sd_event_unref(e); }
};
struct BusDeleter {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct SlotDeleter {
  void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};
using EventPtr = std::unique_ptr<sd_event, EventDeleter>;
using BusPtr = std::unique_ptr<sd_bus, BusDeleter>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotDeleter>;

}  // namespace sedge::agent

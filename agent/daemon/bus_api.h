// org.sedge.Agent1's names and the sd-bus/sd-event owners, shared by sedged and its clients
// (sedgectl) without the daemon itself.
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace sedge::agent {

inline constexpr const char* kBusName = "org.sedge.Agent1";
inline constexpr const char* kObjectPath = "/org/sedge/Agent1";
inline constexpr const char* kInterface = "org.sedge.Agent1";
inline constexpr const char* kConnectorInterface = "org.sedge.Connector1";
inline constexpr const char* kConnectorPrefix = "/org/sedge/Agent1/connector";

enum class BusKind { system, user };

// The object path of `name` under `prefix` (sd-bus's escaping: "site1-primary" becomes
// "site1_2dprimary"), and back ("" when `path` is not under `prefix`).
inline std::string object_path(const char* prefix, const std::string& name) {
  char* path = nullptr;
  if (sd_bus_path_encode(prefix, name.c_str(), &path) < 0) return {};
  std::string out(path);
  free(path);
  return out;
}
inline std::string object_name(const char* prefix, const char* path) {
  char* name = nullptr;
  if (sd_bus_path_decode(path, prefix, &name) <= 0) return {};
  std::string out(name);
  free(name);
  return out;
}

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

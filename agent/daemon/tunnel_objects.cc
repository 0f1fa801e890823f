#include "agent/daemon/tunnel_objects.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "agent/daemon/connectors.h"
#include "common/hex.h"

namespace sedge::agent {
namespace {

std::optional<connector::TunnelView> view_of(const connector::Manager& manager,
                                             const std::string& name) {
  for (auto& v : manager.tunnels()) {
    if (v.name == name) return v;
  }
  return std::nullopt;
}

std::string name_of(const char* path) {
  return object_name(kTunnelPrefix, path);
}

// The string properties, by name.
std::string text_property(const connector::TunnelView& v, std::string_view name) {
  if (name == "Name") return v.name;
  if (name == "Connector") return v.connector;
  if (name == "Role") return v.role;
  if (name == "State") return connector::to_string(v.state);
  if (name == "LastError") return v.last_error;
  if (name == "Local") return v.local;
  if (name == "Remote") return v.remote;
  if (name == "Device") return v.device;
  if (name == "IkeSuite") return v.ike_suite;
  if (name == "EspSuite") return v.esp_suite;
  if (name == "IkeSpi") return v.spi_i ? hex64(v.spi_i) + "_i " + hex64(v.spi_r) + "_r" : "";
  return {};
}

}  // namespace

std::string tunnel_path(const std::string& name) {
  return object_path(kTunnelPrefix, name);
}

Result<std::unique_ptr<TunnelObjects>> TunnelObjects::attach(sd_bus* bus,
                                                             connector::Manager& manager,
                                                             std::function<SaStats()> sa_stats) {
  static const sd_bus_vtable kTunnel[] = {
      SD_BUS_VTABLE_START(0),
      SD_BUS_PROPERTY("Name", "s", property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
      SD_BUS_PROPERTY("Connector", "s", property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
      SD_BUS_PROPERTY("Role", "s", property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
      SD_BUS_PROPERTY("State", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("Since", "t", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("LastError", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("Local", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("Remote", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("Device", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("IkeSpi", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("IkeSuite", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("EspSuite", "s", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("Rekeys", "(tt)", property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      // (SPI in, SPI out, local selector, remote selector) of each CHILD_SA in the kernel.
      SD_BUS_PROPERTY("Children", "a(uuss)", children, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("Bytes", "t", counters, 0, 0),
      SD_BUS_PROPERTY("Packets", "t", counters, 0, 0),
      SD_BUS_METHOD("Describe", "", "s", method_describe, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD("Up", "", "", method_up, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD("Down", "", "", method_down, SD_BUS_VTABLE_UNPRIVILEGED), SD_BUS_VTABLE_END};
  std::unique_ptr<TunnelObjects> t(new TunnelObjects(bus, manager, std::move(sa_stats)));
  sd_bus_slot* slot = nullptr;
  if (int r = sd_bus_add_fallback_vtable(bus, &slot, kTunnelPrefix, kTunnelInterface, kTunnel,
                                         object_find, t.get());
      r < 0) {
    return Error{std::string("adding the tunnel objects: ") + std::strerror(-r), -r};
  }
  t->vtable_slot_.reset(slot);
  if (int r = sd_bus_add_node_enumerator(bus, &slot, kTunnelPrefix, enumerate, t.get()); r < 0) {
    return Error{std::string("adding the tunnel enumerator: ") + std::strerror(-r), -r};
  }
  t->enumerator_slot_.reset(slot);
  return t;
}

void TunnelObjects::changed(const connector::TunnelView& v) {
  const std::string path = tunnel_path(v.name);
  if (announced_.insert(v.name).second) {
    sd_bus_emit_object_added(bus_, path.c_str());
    return;
  }
  sd_bus_emit_properties_changed(bus_, path.c_str(), kTunnelInterface, "State", "Since",
                                 "LastError", "Local", "Remote", "Device", "IkeSpi", "IkeSuite",
                                 "EspSuite", "Rekeys", "Children", nullptr);
}

std::optional<connector::TunnelView> TunnelObjects::find(sd_bus_message* m) const {
  return view_of(manager_, name_of(sd_bus_message_get_path(m)));
}

// The fallback vtable serves every path under the prefix; only running tunnels answer.
int TunnelObjects::object_find(sd_bus*, const char* path, const char*, void* self, void** found,
                               sd_bus_error*) {
  auto* t = static_cast<TunnelObjects*>(self);
  if (!view_of(t->manager_, name_of(path))) return 0;
  *found = self;
  return 1;
}

int TunnelObjects::enumerate(sd_bus*, const char*, void* self, char*** nodes, sd_bus_error*) {
  const auto tunnels = static_cast<TunnelObjects*>(self)->manager_.tunnels();
  char** list = static_cast<char**>(calloc(tunnels.size() + 1, sizeof(char*)));
  if (!list) return -ENOMEM;
  size_t i = 0;
  for (const auto& v : tunnels) list[i++] = strdup(tunnel_path(v.name).c_str());
  *nodes = list;
  return 1;
}

int TunnelObjects::property(sd_bus*, const char* path, const char*, const char* name,
                            sd_bus_message* reply, void* self, sd_bus_error* err) {
  const auto v = view_of(static_cast<TunnelObjects*>(self)->manager_, name_of(path));
  if (!v) return sd_bus_error_set(err, SD_BUS_ERROR_UNKNOWN_OBJECT, "no such tunnel");
  if (std::strcmp(name, "Since") == 0) return sd_bus_message_append(reply, "t", v->since_usec);
  if (std::strcmp(name, "Rekeys") == 0)
    return sd_bus_message_append(reply, "(tt)", v->ike_rekeys, v->child_rekeys);
  return sd_bus_message_append(reply, "s", text_property(*v, name).c_str());
}

int TunnelObjects::counters(sd_bus*, const char* path, const char*, const char* name,
                            sd_bus_message* reply, void* self, sd_bus_error* err) {
  auto* t = static_cast<TunnelObjects*>(self);
  const auto v = view_of(t->manager_, name_of(path));
  if (!v) return sd_bus_error_set(err, SD_BUS_ERROR_UNKNOWN_OBJECT, "no such tunnel");
  const SaStats sas = t->sa_stats_();
  uint64_t total = 0;
  for (const auto& c : v->children) {
    for (uint32_t spi : {c.spi_in, c.spi_out}) {
      auto it = sas.find(hex32(spi));
      if (it != sas.end())
        total += std::strcmp(name, "Bytes") == 0 ? it->second.bytes : it->second.packets;
    }
  }
  return sd_bus_message_append(reply, "t", total);
}

int TunnelObjects::children(sd_bus*, const char* path, const char*, const char*,
                            sd_bus_message* reply, void* self, sd_bus_error* err) {
  const auto v = view_of(static_cast<TunnelObjects*>(self)->manager_, name_of(path));
  if (!v) return sd_bus_error_set(err, SD_BUS_ERROR_UNKNOWN_OBJECT, "no such tunnel");
  int r = sd_bus_message_open_container(reply, 'a', "(uuss)");
  for (const auto& c : v->children) {
    if (r >= 0)
      r = sd_bus_message_append(reply, "(uuss)", c.spi_in, c.spi_out, c.local_ts.c_str(),
                                c.remote_ts.c_str());
  }
  return r < 0 ? r : sd_bus_message_close_container(reply);
}

int TunnelObjects::method_describe(sd_bus_message* m, void* self, sd_bus_error* err) {
  const auto v = static_cast<TunnelObjects*>(self)->find(m);
  if (!v) return sd_bus_error_set(err, SD_BUS_ERROR_UNKNOWN_OBJECT, "no such tunnel");
  nlohmann::json j = to_json(*v);
  j["name"] = v->name;
  j["connector"] = v->connector;
  j["role"] = v->role;
  return sd_bus_reply_method_return(m, "s", j.dump().c_str());
}

int TunnelObjects::method_up(sd_bus_message* m, void* self, sd_bus_error* err) {
  auto* t = static_cast<TunnelObjects*>(self);
  if (auto st = t->manager_.up(name_of(sd_bus_message_get_path(m))); !st) {
    return sd_bus_error_set(err, SD_BUS_ERROR_UNKNOWN_OBJECT, st.error().message.c_str());
  }
  return sd_bus_reply_method_return(m, "");
}

int TunnelObjects::method_down(sd_bus_message* m, void* self, sd_bus_error* err) {
  auto* t = static_cast<TunnelObjects*>(self);
  if (auto st = t->manager_.down(name_of(sd_bus_message_get_path(m))); !st) {
    return sd_bus_error_set(err, SD_BUS_ERROR_UNKNOWN_OBJECT, st.error().message.c_str());
  }
  return sd_bus_reply_method_return(m, "");
}

}  // namespace sedge::agent

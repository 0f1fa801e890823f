#include "agent/ctl/render.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <utility>

namespace sedge::ctl {
namespace {

// Describe comes from a daemon that may be older or newer than this sedgectl: a missing or
// differently typed field renders as empty rather than failing.
std::string str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  return it->dump();
}

uint64_t num(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() > 0)
    return static_cast<uint64_t>(it->get<int64_t>());
  return 0;
}

bool flag(const json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

const json& list(const json& j, const char* key) {
  static const json empty = json::array();
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : empty;
}

std::string dash(std::string s) {
  return s.empty() ? "-" : s;
}

std::string join(const json& array, const char* separator) {
  std::string out;
  for (const auto& v : array) {
    if (!out.empty()) out += separator;
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string pad(const std::string& s, size_t width, Table::Align align) {
  const size_t w = display_width(s);
  if (w >= width) return s;
  return align == Table::Align::right ? std::string(width - w, ' ') + s
                                      : s + std::string(width - w, ' ');
}

// Key: value lines, the keys aligned right on the longest (as networkctl status shows them).
std::string format_fields(const std::vector<std::pair<std::string, std::string>>& fields,
                          const std::string& indent) {
  size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, display_width(k));
  std::string out;
  for (const auto& [k, v] : fields)
    out += indent + pad(k, width, Table::Align::right) + ": " + v + "\n";
  return out;
}

// The configured remote (an address or an FQDN) and, when it differs, the address in use.
std::string remote_of(const json& t) {
  const std::string configured = str(t, "remote"), address = str(t, "remote_address");
  if (configured.empty()) return dash(address);
  if (address.empty() || address == configured) return configured;
  return configured + " (" + address + ")";
}

std::string since_of(const json& t, uint64_t now_usec) {
  return relative_time(num(t, "since_usec"), now_usec);
}

std::string time_ms(uint64_t usec) {
  if (usec == 0) return "-";
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03u", static_cast<unsigned>((usec / 1000u) % 1000u));
  return absolute_time(usec) + ms;
}

template <typename F>
void each_tunnel(const json& describe, F&& f) {
  for (const auto& c : list(describe, "connectors")) {
    for (const auto& t : list(c, "tunnels")) f(c, t);
  }
}

std::string tunnel_details(const json& t, const std::string& connector, uint64_t now_usec) {
  std::vector<std::pair<std::string, std::string>> f;
  f.emplace_back("Connector", dash(connector));
  f.emplace_back("Role", dash(str(t, "role")));
  f.emplace_back("Routing", dash(str(t, "routing")));
  f.emplace_back("State", dash(str(t, "state")));
  const uint64_t since = num(t, "since_usec");
  f.emplace_back("Since",
                 since ? absolute_time(since) + " (" + relative_time(since, now_usec) + ")" : "-");
  f.emplace_back("Last error", dash(str(t, "last_error")));
  std::string local = dash(str(t, "local"));
  if (!str(t, "wan").empty()) local += " (WAN " + str(t, "wan") + ")";
  f.emplace_back("Local", local);
  f.emplace_back("Remote", remote_of(t));
  f.emplace_back("Local ID", dash(str(t, "local_id")));
  f.emplace_back("Remote ID", dash(str(t, "remote_id")));
  std::string device = dash(str(t, "device"));
  std::vector<std::string> ids;
  if (num(t, "key")) ids.push_back("key " + std::to_string(num(t, "key")));
  if (num(t, "reqid")) ids.push_back("reqid " + std::to_string(num(t, "reqid")));
  for (size_t i = 0; i < ids.size(); ++i)
    device += (i == 0 ? " (" : ", ") + ids[i] + (i + 1 == ids.size() ? ")" : "");
  f.emplace_back("Device", device);
  const std::string spi = str(t, "ike_spi");
  f.emplace_back("IKE SPIs", spi.empty() ? "none (no IKE SA)" : spi);
  f.emplace_back("IKE suite", dash(str(t, "ike_suite")));
  f.emplace_back("ESP suite", dash(str(t, "esp_suite")));
  if (!spi.empty())
    f.emplace_back("NAT", flag(t, "behind_nat") ? "behind NAT (UDP encapsulation)" : "no");
  const json& children = list(t, "children");
  f.emplace_back("CHILD_SAs", children.empty() ? "none" : std::to_string(children.size()));
  std::string out = "Tunnel " + str(t, "name") + "\n" + format_fields(f, "  ");
  if (!children.empty()) {
    Table table{
        {"INDEX", "SPI IN", "SPI OUT", "LOCAL TS", "REMOTE TS"}, {Table::Align::right}, {}, "    "};
    for (const auto& c : children) {
      table.rows.push_back({std::to_string(num(c, "index")), dash(str(c, "spi_in")),
                            dash(str(c, "spi_out")), dash(str(c, "local_ts")),
                            dash(str(c, "remote_ts"))});
    }
    out += format_table(table);
  }
  return out;
}

// Every tunnel by name, in Describe's order, its object with its connector's name added.
std::vector<std::pair<std::string, json>> tunnels_by_name(const json& describe) {
  std::vector<std::pair<std::string, json>> out;
  each_tunnel(describe, [&](const json& c, const json& t) {
    json tj = t;
    tj["connector"] = str(c, "name");
    out.emplace_back(str(t, "name"), std::move(tj));
  });
  return out;
}

}  // namespace

size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0u) != 0x80u;
  return n;
}

std::string format_table(const Table& table) {
  size_t columns = table.header.size();
  for (const auto& r : table.rows) columns = std::max(columns, r.size());
  std::vector<size_t> width(columns, 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
  };
  measure(table.header);
  for (const auto& r : table.rows) measure(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string out = table.indent;
    for (size_t i = 0; i < columns; ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      const auto align = i < table.align.size() ? table.align[i] : Table::Align::left;
      const bool last = i + 1 == columns;
      out += last && align == Table::Align::left ? cell : pad(cell, width[i], align);
      if (!last) out += "  ";
    }
    while (out.size() > table.indent.size() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out;
  if (!table.header.empty()) out += line(table.header);
  for (const auto& r : table.rows) out += line(r);
  return out;
}

std::string relative_time(uint64_t since_usec, uint64_t now_usec) {
  if (since_usec == 0) return "-";
  if (since_usec >= now_usec) return "just now";
  const uint64_t s = (now_usec - since_usec) / 1000000u;
  char b[32];
  if (s == 0) return "just now";
  if (s < 60) {
    std::snprintf(b, sizeof b, "%llus ago", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(b, sizeof b, "%llum%02llus ago", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(b, sizeof b, "%lluh%02llum ago", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  } else {
    std::snprintf(b, sizeof b, "%llud%02lluh ago", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  }
  return b;
}

std::string absolute_time(uint64_t usec) {
  if (usec == 0) return "-";
  const time_t t = static_cast<time_t>(usec / 1000000u);
  struct tm tm {};
  if (!localtime_r(&t, &tm)) return "-";
  char b[32];
  if (std::strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm) == 0) return "-";
  return b;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (v >= 1024.0 && unit + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++unit;
  }
  char b[32];
  std::snprintf(b, sizeof b, "%.1f %s", v, kUnits[unit]);
  return b;
}

json tunnels_json(const json& describe) {
  json out = json::array();
  for (auto& [name, t] : tunnels_by_name(describe)) out.push_back(std::move(t));
  return out;
}

json find_json(const json& describe, const std::string& name) {
  for (const auto& c : list(describe, "connectors")) {
    if (str(c, "name") == name) return c;
  }
  for (auto& [n, t] : tunnels_by_name(describe)) {
    if (n == name) return std::move(t);
  }
  return nullptr;
}

json sas_json(const json& describe) {
  static const char* const kFields[] = {"name",    "connector",      "state",     "since_usec",
                                        "local",   "remote_address", "local_id",  "remote_id",
                                        "ike_spi", "ike_suite",      "esp_suite", "behind_nat",
                                        "reqid",   "children"};
  json out = json::array();
  for (const auto& [name, t] : tunnels_by_name(describe)) {
    if (str(t, "ike_spi").empty()) continue;
    json sa = json::object();
    for (const char* f : kFields) {
      if (t.contains(f)) sa[f] = t[f];
    }
    out.push_back(std::move(sa));
  }
  return out;
}

json steering_json(const json& describe) {
  if (!describe.is_object() || !describe.contains("steering")) return nullptr;
  return describe["steering"];
}

std::string render_list(const json& describe, uint64_t now_usec) {
  Table table{{"NAME", "CONNECTOR", "ROLE", "STATE", "SINCE", "REMOTE"}, {}, {}, ""};
  each_tunnel(describe, [&](const json& c, const json& t) {
    table.rows.push_back({dash(str(t, "name")), dash(str(c, "name")), dash(str(t, "role")),
                          dash(str(t, "state")), since_of(t, now_usec), remote_of(t)});
  });
  return format_table(table);
}

std::string render_status(const json& d, uint64_t now_usec) {
  std::string out = "sedged: " + str(d, "status") + "\n";
  const json& cfg = d.is_object() && d.contains("config") ? d["config"] : json::object();
  out += "config: " + std::to_string(list(cfg, "files").size()) + " files";
  if (!str(cfg, "last_reload_error").empty())
    out += "; last reload refused: " + str(cfg, "last_reload_error");
  out += "\n\n";

  Table tunnels{
      {"CONNECTOR", "TUNNEL", "ROLE", "REMOTE", "STATE", "SINCE", "REMOTE ID"}, {}, {}, ""};
  each_tunnel(d, [&](const json& c, const json& t) {
    tunnels.rows.push_back({dash(str(c, "name")), dash(str(t, "name")), dash(str(t, "role")),
                            remote_of(t), dash(str(t, "state")), since_of(t, now_usec),
                            dash(str(t, "remote_id"))});
  });
  out += format_table(tunnels);

  if (d.is_object() && d.contains("onboarding") && d["onboarding"].contains("auth_state")) {
    const json& o = d["onboarding"];
    out += "\nonboarding: " + str(o, "auth_state") + " (conductor " + str(o, "conductor") +
           "), management channel " + str(o, "channel");
    if (!str(o, "detail").empty()) out += ": " + str(o, "detail");
    out += "\n";
  }

  const json steering = steering_json(d);
  // A profile's paths: the steering's when it runs (a connector there is its tunnels), else
  // the configured targets.
  bool marked = false;
  auto paths_of = [&](const std::string& profile) {
    std::string paths;
    for (const auto& prof : list(steering, "profiles")) {
      if (str(prof, "name") != profile) continue;
      for (const auto& path : list(prof, "paths")) {
        const std::string name = str(path, "name");
        const bool is_active = !name.empty() && name == str(prof, "active");
        marked |= is_active;
        paths += (paths.empty() ? "" : " -> ") + name + (is_active ? "*" : "");
      }
      return paths;
    }
    for (const auto& prof : list(d, "steering_profiles")) {
      if (str(prof, "name") != profile) continue;
      for (const auto& path : list(prof, "paths"))
        paths += (paths.empty() ? "" : " -> ") + str(path, "target");
    }
    return paths;
  };
  Table policies{{"ORDER", "POLICY", "ACTION", "PROFILE (PATHS)"}, {Table::Align::right}, {}, ""};
  for (const auto& p : list(d, "policies")) {
    const std::string profile = str(p, "profile");
    const std::string paths = profile.empty() ? "" : paths_of(profile);
    policies.rows.push_back(
        {str(p, "order"), dash(str(p, "name")), dash(str(p, "action")),
         profile + (paths.empty() ? "" : (profile.empty() ? "(" : " (") + paths + ")")});
  }
  out += "\n" + format_table(policies);
  if (marked) out += "(* the profile's active path)\n";
  return out;
}

std::string render_details(const json& d, const std::string& name, uint64_t now_usec) {
  for (const auto& c : list(d, "connectors")) {
    if (str(c, "name") != name) continue;
    std::vector<std::pair<std::string, std::string>> f;
    f.emplace_back("Provider", dash(str(c, "provider")));
    f.emplace_back("Type", dash(str(c, "type")));
    f.emplace_back("Mode", dash(str(c, "mode")));
    f.emplace_back("Local ID", dash(str(c, "local_id")));
    f.emplace_back("Protected", dash(join(list(c, "protected_networks"), ", ")));
    f.emplace_back("Defined in", dash(str(c, "where")));
    f.emplace_back("Tunnels", std::to_string(list(c, "tunnels").size()));
    std::string out = "Connector " + name + "\n" + format_fields(f, "  ");
    for (const auto& t : list(c, "tunnels")) out += "\n" + tunnel_details(t, name, now_usec);
    return out;
  }
  std::string out;
  each_tunnel(d, [&](const json& c, const json& t) {
    if (out.empty() && str(t, "name") == name) out = tunnel_details(t, str(c, "name"), now_usec);
  });
  return out;
}

std::string render_sas(const json& d, uint64_t now_usec) {
  std::string out;
  for (const auto& sa : sas_json(d)) {
    const std::string name = str(sa, "name"), state = str(sa, "state");
    out += name + ": connector " + str(sa, "connector") + ", " +
           (state == "up" ? "ESTABLISHED" : upper(dash(state)));
    if (num(sa, "since_usec")) out += " " + relative_time(num(sa, "since_usec"), now_usec);
    out += ", IKEv2, " + str(sa, "ike_spi") + "\n";
    out += "  local  '" + str(sa, "local_id") + "' @ " + dash(str(sa, "local")) + "\n";
    out += "  remote '" + str(sa, "remote_id") + "' @ " + dash(str(sa, "remote_address")) + "\n";
    out += "  " + dash(str(sa, "ike_suite")) + "\n";
    out += std::string("  NAT: ") +
           (flag(sa, "behind_nat") ? "behind NAT, UDP-encapsulated" : "none") + "\n";
    for (const auto& c : list(sa, "children")) {
      out += "  " + name + "{" + std::to_string(num(c, "index")) + "}: reqid " +
             std::to_string(num(sa, "reqid")) + ", INSTALLED, ESP:" + dash(str(sa, "esp_suite")) +
             "\n";
      out += "    in  " + dash(str(c, "spi_in")) + "\n";
      out += "    out " + dash(str(c, "spi_out")) + "\n";
      out += "    local  " + dash(str(c, "local_ts")) + "\n";
      out += "    remote " + dash(str(c, "remote_ts")) + "\n";
    }
  }
  return out;
}

std::string render_onboarding(const json& s) {
  auto str = [&](const char* key) { return s.contains(key) && s[key].is_string() ? s[key].get<std::string>() : std::string(); };
  auto num = [&](const char* key) { return s.contains(key) && s[key].is_number() ? std::to_string(s[key].get<uint64_t>()) : std::string("?"); };
  std::string out;
  if (!str("router_id").empty()) out += "Router: " + str("router_id") + "\n";
  const std::string host = str("conductor_host").empty() ? str("conductor") : str("conductor_host");
  out += "Conductor: " + host + " (onboarding port " + num("port") + ", management port " + num("management_port") + ")\n";
  if (!str("pin").empty()) out += "Conductor key pin: " + str("pin") + "\n";
  if (!str("certificate_file").empty()) {
    out += "Certificate: " + str("certificate_file") + " (key in the TPM at handle " + str("tls_key_handle") + ")\n";
  }
  out += "Auth State: " + (str("auth_state").empty() ? std::string("unknown") : str("auth_state")) + "\n";
  out += "Management Channel: " + (str("channel").empty() ? std::string("down") : str("channel")) + "\n";
  if (!str("detail").empty()) out += "Detail: " + str("detail") + "\n";
  return out;
}

std::string render_steering(const json& d) {
  const json s = steering_json(d);
  if (!s.is_object())
    return "steering: not running (the classifier is not loaded; see sedged's log)\n";
  std::map<std::string, std::string> strategy;
  for (const auto& p : list(d, "steering_profiles")) strategy[str(p, "name")] = str(p, "strategy");
  // Ordered profiles may carry their preemption delay and each path's hold-down (the one it
  // serves for its current up period): shown when the daemon gives them.
  bool hold_downs = false;
  for (const auto& p : list(s, "profiles")) {
    for (const auto& path : list(p, "paths")) hold_downs |= path.contains("hold_down_sec");
  }
  using A = Table::Align;
  Table profiles{{"PROFILE", "STRATEGY", "PATH", "STATE", "WEIGHT", "PACKETS", "BYTES"},
                 {A::left, A::left, A::left, A::left, A::right, A::right, A::right, A::right},
                 {},
                 ""};
  if (hold_downs) profiles.header.push_back("HOLD-DOWN");
  bool marked = false;
  for (const auto& p : list(s, "profiles")) {
    const std::string name = str(p, "name"), active = str(p, "active");
    std::string how = dash(strategy[name]);
    if (p.contains("preempt_delay_sec"))
      how += ", preempt " + std::to_string(num(p, "preempt_delay_sec")) + "s";
    bool first = true;
    for (const auto& path : list(p, "paths")) {
      const std::string path_name = str(path, "name");
      const bool is_active = !active.empty() && path_name == active;
      marked |= is_active;
      profiles.rows.push_back(
          {first ? name : "", first ? how : "", (is_active ? "* " : "  ") + path_name,
           flag(path, "up") ? "up" : "down", std::to_string(num(path, "weight")),
           std::to_string(num(path, "packets")), format_bytes(num(path, "bytes"))});
      if (hold_downs) {
        const uint64_t hold = num(path, "hold_down_sec");
        profiles.rows.back().push_back(hold ? std::to_string(hold) + "s" : "-");
      }
      first = false;
    }
    if (first) profiles.rows.push_back({name, how, "  (no paths)", "-", "-", "-", "-"});
  }
  std::string out = format_table(profiles);
  if (marked) out += "(* active path)\n";
  const json& rules = list(s, "rules");
  if (!rules.empty()) {
    Table r{{"RULE", "PACKETS", "BYTES"}, {A::left, A::right, A::right}, {}, ""};
    for (const auto& rule : rules) {
      r.rows.push_back({dash(str(rule, "name")), std::to_string(num(rule, "packets")),
                        format_bytes(num(rule, "bytes"))});
    }
    out += "\n" + format_table(r);
  }
  out += "\nclassifier generation " + std::to_string(num(s, "generation")) + "\n";
  return out;
}

json tunnel_changes(const json& before, const json& after, uint64_t now_usec) {
  const auto old_list = tunnels_by_name(before), new_list = tunnels_by_name(after);
  std::map<std::string, const json*> old_by_name, new_by_name;
  for (const auto& [n, t] : old_list) old_by_name.emplace(n, &t);
  for (const auto& [n, t] : new_list) new_by_name.emplace(n, &t);
  json events = json::array();
  auto event = [&](const std::string& name, const json* was, const json* is) {
    const json& current = is ? *is : *was;
    const uint64_t since = is ? num(*is, "since_usec") : 0;
    events.push_back({{"time_usec", since ? since : now_usec},
                      {"name", name},
                      {"connector", str(current, "connector")},
                      {"previous", was ? json(str(*was, "state")) : json(nullptr)},
                      {"state", is ? json(str(*is, "state")) : json(nullptr)},
                      {"last_error", is ? str(*is, "last_error") : ""},
                      {"tunnel", is ? *is : json(nullptr)}});
  };
  for (const auto& [name, t] : new_list) {
    auto o = old_by_name.find(name);
    if (o == old_by_name.end()) {
      event(name, nullptr, &t);
    } else if (str(*o->second, "state") != str(t, "state") ||
               num(*o->second, "since_usec") != num(t, "since_usec")) {
      event(name, o->second, &t);
    }
  }
  for (const auto& [name, t] : old_list) {
    if (!new_by_name.count(name)) event(name, &t, nullptr);
  }
  return events;
}

std::string render_event(const json& e) {
  const std::string name = str(e, "name"), connector = str(e, "connector");
  const std::string previous =
      e.contains("previous") && e["previous"].is_string() ? str(e, "previous") : "(new)";
  const std::string state =
      e.contains("state") && e["state"].is_string() ? str(e, "state") : "(removed)";
  std::string out = time_ms(num(e, "time_usec")) + " " + name +
                    (connector.empty() ? "" : " (" + connector + ")") + ": " + previous + " -> " +
                    state;
  static const json kNone;
  const json& t = e.contains("tunnel") ? e["tunnel"] : kNone;
  if (state == "up") {
    if (!str(t, "remote_address").empty()) out += ", remote " + str(t, "remote_address");
    if (!str(t, "ike_spi").empty()) out += ", IKE SA " + str(t, "ike_spi");
  } else if ((state == "backoff" || state == "down") && !str(e, "last_error").empty()) {
    // Why it failed; a tunnel connecting again still carries its last error, not news.
    out += ": " + str(e, "last_error");
  }
  return out;
}

}  // namespace sedge::ctl

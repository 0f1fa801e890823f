#include "agent/daemon/metrics.h"

#include <string_view>
#include <utility>
#include <vector>

namespace sedge::agent {
namespace {

using nlohmann::json;
using Labels = std::vector<std::pair<std::string_view, std::string>>;

// Label values: backslash, double quote and line feed escaped; HELP text: backslash and line feed.
std::string escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out += c;
  }
  return out;
}

class Family {
 public:
  Family(std::string_view name, std::string_view type, std::string_view help) : name_(name) {
    text_ = "# HELP " + name_ + " " + escape(help, false) + "\n# TYPE " + name_ + " " + std::string(type) + "\n";
  }
  void add(const Labels& labels, uint64_t value) {
    text_ += name_;
    if (!labels.empty()) {
      text_ += "{";
      for (size_t i = 0; i < labels.size(); ++i) {
        text_ += (i ? "," : "") + std::string(labels[i].first) + "=\"" + escape(labels[i].second, true) + "\"";
      }
      text_ += "}";
    }
    text_ += " " + std::to_string(value) + "\n";
  }
  const std::string& text() const { return text_; }

 private:
  std::string name_, text_;
};

std::string str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

uint64_t num(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

const json& array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

// A tunnel's SA counters in one direction: the sum over its live CHILD_SAs.
SaCounters sa_sum(const json& tunnel, const char* spi_key, const SaStats& sas) {
  SaCounters total;
  for (const auto& child : array(tunnel, "children")) {
    const auto it = sas.find(str(child, spi_key));
    if (it == sas.end()) continue;
    total.bytes += it->second.bytes;
    total.packets += it->second.packets;
  }
  return total;
}

std::string tunnels(const json& d, const SaStats& sas) {
  Family configured("sedge_tunnels_configured", "gauge", "Tunnels the configuration has sedged run (used by a steering profile).");
  Family up_count("sedge_tunnels_up", "gauge", "Tunnels whose IKE SA is established.");
  Family up("sedge_tunnel_up", "gauge", "1 when the tunnel's IKE SA is established, else 0.");
  Family bytes("sedge_tunnel_sa_bytes_total", "counter", "Bytes through the tunnel's live CHILD_SAs (kernel XFRM counters; a rekey starts new SAs).");
  Family packets("sedge_tunnel_sa_packets_total", "counter", "Packets through the tunnel's live CHILD_SAs (kernel XFRM counters; a rekey starts new SAs).");
  Family rekeys("sedge_tunnel_rekeys_total", "counter", "Rekeys of the tunnel's IKE SA and CHILD_SAs since sedged started it.");
  uint64_t n_configured = 0, n_up = 0;
  for (const auto& connector : array(d, "connectors")) {
    for (const auto& t : array(connector, "tunnels")) {
      const std::string state = str(t, "state");
      if (state == "not-created") continue;
      ++n_configured;
      const bool is_up = state == "up";
      n_up += is_up;
      const std::string name = str(t, "name"), conn = str(connector, "name");
      up.add({{"tunnel", name}, {"connector", conn}}, is_up);
      const SaCounters in = sa_sum(t, "spi_in", sas), out = sa_sum(t, "spi_out", sas);
      bytes.add({{"tunnel", name}, {"direction", "in"}}, in.bytes);
      bytes.add({{"tunnel", name}, {"direction", "out"}}, out.bytes);
      packets.add({{"tunnel", name}, {"direction", "in"}}, in.packets);
      packets.add({{"tunnel", name}, {"direction", "out"}}, out.packets);
      rekeys.add({{"tunnel", name}, {"sa", "ike"}}, num(t, "ike_rekeys"));
      rekeys.add({{"tunnel", name}, {"sa", "child"}}, num(t, "child_rekeys"));
    }
  }
  configured.add({}, n_configured);
  up_count.add({}, n_up);
  return configured.text() + up_count.text() + up.text() + bytes.text() + packets.text() + rekeys.text();
}

std::string steering(const json& d) {
  const auto it = d.find("steering");
  if (it == d.end() || !it->is_object()) return {};
  const json& s = *it;
  Family failovers("sedge_steering_failovers_total", "counter", "Moves of the profile's traffic away from a path that went down.");
  Family active("sedge_steering_path_active", "gauge", "1 for the path the profile's traffic takes now, else 0.");
  Family path_up("sedge_steering_path_up", "gauge", "1 when the path is up (its tunnel established, or a breakout), else 0.");
  Family path_packets("sedge_steering_path_packets_total", "counter", "Packets the classifier sent down the path.");
  Family path_bytes("sedge_steering_path_bytes_total", "counter", "Bytes the classifier sent down the path.");
  Family rule_packets("sedge_steering_rule_packets_total", "counter", "Packets that matched the steering rule.");
  Family rule_bytes("sedge_steering_rule_bytes_total", "counter", "Bytes that matched the steering rule.");
  for (const auto& p : array(s, "profiles")) {
    const std::string profile = str(p, "name"), current = str(p, "active");
    failovers.add({{"profile", profile}}, num(p, "failovers"));
    for (const auto& path : array(p, "paths")) {
      const std::string name = str(path, "name");
      const Labels labels = {{"profile", profile}, {"path", name}};
      active.add(labels, name == current);
      path_up.add(labels, path.value("up", false));
      path_packets.add(labels, num(path, "packets"));
      path_bytes.add(labels, num(path, "bytes"));
    }
  }
  for (const auto& r : array(s, "rules")) {
    rule_packets.add({{"rule", str(r, "name")}}, num(r, "packets"));
    rule_bytes.add({{"rule", str(r, "name")}}, num(r, "bytes"));
  }
  return failovers.text() + active.text() + path_up.text() + path_packets.text() + path_bytes.text() + rule_packets.text() +
         rule_bytes.text();
}

std::string onboarding(const json& d) {
  const auto it = d.find("onboarding");
  if (it == d.end() || !it->is_object()) return {};
  static constexpr std::string_view kStates[] = {"not-onboarded", "onboarding", "completed", "failed"};
  const std::string state = str(*it, "auth_state");
  Family auth("sedge_onboarding_state", "gauge", "1 for where onboarding to the conductor stands, 0 for the other states.");
  for (auto s : kStates) auth.add({{"state", std::string(s)}}, state == s);
  Family channel("sedge_onboarding_channel_up", "gauge", "1 when the management channel to the conductor is up, else 0.");
  channel.add({}, str(*it, "channel") == "up");
  return auth.text() + channel.text();
}

}  // namespace

std::string format_metrics(const json& describe, const SaStats& sas) {
  Family reload("sedge_config_last_reload_refused", "gauge", "1 when the last configuration reload was refused, else 0.");
  const auto config = describe.find("config");
  reload.add({}, config != describe.end() && config->is_object() && !str(*config, "last_reload_error").empty());
  return tunnels(describe, sas) + steering(describe) + onboarding(describe) + reload.text();
}

}  // namespace sedge::agent

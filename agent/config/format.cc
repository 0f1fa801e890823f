// The effective configuration as INI text (secrets masked), and the diff between two.
#include <cstdio>
#include <sstream>

#include "agent/config/config.h"

namespace sedge::config {
namespace {

class Writer {
 public:
  void section(const std::string& type, const std::string& name = "") {
    if (out_.tellp() > 0) out_ << "\n";
    out_ << "[" << type << (name.empty() ? "" : " " + name) << "]\n";
  }
  void key(const char* k, const std::string& v) {
    if (!v.empty()) out_ << k << "=" << v << "\n";
  }
  void key(const char* k, uint64_t v) { out_ << k << "=" << v << "\n"; }
  void flag(const char* k, bool v) { out_ << k << "=" << (v ? "yes" : "no") << "\n"; }
  template <typename T, typename F>
  void list(const char* k, const std::vector<T>& items, F to_text) {
    for (const auto& i : items) out_ << k << "=" << to_text(i) << "\n";
  }
  void secret(const SecretSource& source, const Secret& s) {
    if (!s.empty()) out_ << "PresharedKey=" << Secret::kMasked << "  # from " << source.description << "\n";
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

auto prefix_text = [](const Prefix& p) { return p.str(); };
auto text = [](const std::string& s) { return s; };

void write_interface(Writer& w, const Interface& i) {
  w.section("Interface", i.name);
  w.key("Device", i.device);
  w.key("Role", to_string(i.role));
  w.list("Network", i.networks, prefix_text);
  w.key("Gateway", i.gateway);
}

void write_cert_auth(Writer& w, const std::optional<AuthMethod>& method, const CertificateAuth& c) {
  if (method) w.key("AuthMethod", to_string(*method));
  w.key("Certificate", c.certificate);
  w.key("PrivateKeyFile", c.private_key_file);  // the path; the key itself is never written
  w.key("CAPath", c.ca_path);
}

void write_connector(Writer& w, const Connector& c) {
  w.section("Connector", c.name);
  w.key("Provider", to_string(c.provider));
  w.key("Type", to_string(c.type));
  w.key("Mode", to_string(c.mode));
  if (c.local_id) w.key("LocalId", c.local_id->str());
  w.secret(c.psk_source, c.psk);
  write_cert_auth(w, c.auth_method, c.cert);
  w.list("ProtectedNetwork", c.protected_networks, prefix_text);
}

void write_tunnel(Writer& w, const Tunnel& t) {
  w.section("Tunnel", t.name);
  w.key("Connector", t.connector);
  w.key("Role", to_string(t.role));
  w.key("Wan", t.wan);
  w.key("Remote", t.remote);
  if (t.remote_id) w.key("RemoteId", t.remote_id->str());
  if (t.local_id) w.key("LocalId", t.local_id->str());
  w.secret(t.psk_source, t.psk);
  write_cert_auth(w, t.auth_method, t.cert);
  w.list("IkeProposal", t.ike_proposals, text);
  w.list("EspProposal", t.esp_proposals, text);
  w.key("IkeLifetimeSec", t.ike_lifetime_sec);
  w.key("ChildLifetimeSec", t.child_lifetime_sec);
  w.key("DpdIntervalSec", t.dpd_interval_sec);
  w.key("DpdTimeoutSec", t.dpd_timeout_sec);
  w.key("RetransmitTimeoutSec", t.retransmit_timeout_sec);
  w.key("RetransmitTries", t.retransmit_tries);
  w.flag("NatTraversal", t.nat_traversal);
  w.key("Fragmentation", to_string(t.fragmentation));
  w.key("FragmentSize", t.fragment_size);
  w.list("Probe", t.probes, text);
  w.key("Routing", to_string(t.routing));
  w.list("LocalTrafficSelector", t.local_ts, prefix_text);
  w.list("RemoteTrafficSelector", t.remote_ts, prefix_text);
  w.list("RemoteNetwork", t.remote_networks, prefix_text);
  w.key("MaxChildSAs", t.max_child_sas);
  if (!t.referenced) w.key("# not created", "no steering profile or remote network uses it");
}

void write_child(Writer& w, const Child& c) {
  w.section("Child", c.name);
  w.key("Tunnel", c.tunnel);
  w.key("LocalTrafficSelector", c.local_ts.str());
  w.key("RemoteTrafficSelector", c.remote_ts.str());
}

void write_application(Writer& w, const Application& a) {
  w.section("Application", a.name);
  w.list("Destination", a.destinations, prefix_text);
  if (a.protocol) w.key("Protocol", a.protocol);
  w.list("Port", a.ports, [](const PortRange& p) {
    return p.first == p.last ? std::to_string(p.first) : std::to_string(p.first) + "-" + std::to_string(p.last);
  });
}

void write_profile(Writer& w, const SteeringProfile& p) {
  w.section("SteeringProfile", p.name);
  w.key("Strategy", to_string(p.strategy));
  w.list("Path", p.paths, [](const SteeringPath& s) {
    return s.weight == 1 ? s.target : s.target + " weight=" + std::to_string(s.weight);
  });
  w.key("PreemptDelaySec", p.preempt_delay_sec);
}

void write_policy(Writer& w, const Policy& p) {
  w.section("Policy", p.name);
  w.key("Order", p.order);
  w.list("Source", p.sources, text);
  w.list("Source", p.source_prefixes, prefix_text);
  w.list("Application", p.applications, text);
  w.key("Action", to_string(p.action));
  w.key("Profile", p.profile);
}

void write_onboarding(Writer& w, const Onboarding& o) {
  w.section("Onboarding");
  w.key("Conductor", o.conductor);
  w.key("Port", o.port);
  w.key("ManagementPort", o.management_port);
  w.key("TokenFile", o.token_file);
  w.key("Tcti", o.tcti);
  w.key("RouterId", o.router_id);
  w.key("Interface", o.interface);
  w.key("StateDirectory", o.state_directory);
  w.key("EkProfile", o.ek_profile);
  w.key("Identity", o.identity);
  w.key("IDevIDCertificate", o.idevid_certificate);
  char handle[16];
  std::snprintf(handle, sizeof handle, "0x%08x", o.idevid_key_handle);
  w.key("IDevIDKeyHandle", std::string(handle));
}

template <typename T, typename F>
std::string one(const T& object, F write) {
  Writer w;
  write(w, object);
  return w.str();
}

// Compares one section's objects by their effective text, and their secrets by value.
template <typename T, typename F, typename S>
void diff_section(const char* section, const std::map<std::string, T>& a, const std::map<std::string, T>& b,
                  F write, S secret_of, ConfigDiff& out) {
  using Kind = ConfigDiff::Change::Kind;
  for (const auto& [name, obj] : a) {
    auto it = b.find(name);
    if (it == b.end()) {
      out.changes.push_back({Kind::removed, section, name});
    } else if (one(obj, write) != one(it->second, write) ||
               !constant_time_equal(secret_of(obj).bytes(), secret_of(it->second).bytes())) {
      out.changes.push_back({Kind::changed, section, name});
    }
  }
  for (const auto& [name, obj] : b) {
    if (!a.count(name)) out.changes.push_back({Kind::added, section, name});
  }
}

const Secret kNoSecret;
auto no_secret = [](const auto&) -> const Secret& { return kNoSecret; };

}  // namespace

std::string format_effective(const Config& c) {
  Writer w;
  w.section("Agent");
  w.key("LogLevel", c.log_level);
  w.key("KeyLogDirectory", c.key_log_directory);
  w.key("SteeringFlowCacheSize", c.steering_flow_cache_size);
  std::string out = w.str();
  for (const auto& [n, i] : c.interfaces) out += "\n" + one(i, write_interface);
  for (const auto& [n, x] : c.connectors) out += "\n" + one(x, write_connector);
  for (const auto& [n, t] : c.tunnels) out += "\n" + one(t, write_tunnel);
  for (const auto& [n, x] : c.children) out += "\n" + one(x, write_child);
  for (const auto& [n, a] : c.applications) out += "\n" + one(a, write_application);
  for (const auto& [n, p] : c.profiles) out += "\n" + one(p, write_profile);
  for (const auto* p : c.ordered_policies()) out += "\n" + one(*p, write_policy);
  if (c.onboarding) out += "\n" + one(*c.onboarding, write_onboarding);
  return out;
}

ConfigDiff diff(const Config& a, const Config& b) {
  ConfigDiff out;
  if (a.log_level != b.log_level || a.key_log_directory != b.key_log_directory) out.changes.push_back({ConfigDiff::Change::Kind::changed, "Agent", ""});
  diff_section("Interface", a.interfaces, b.interfaces, write_interface, no_secret, out);
  diff_section("Connector", a.connectors, b.connectors, write_connector, [](const Connector& c) -> const Secret& { return c.psk; }, out);
  diff_section("Tunnel", a.tunnels, b.tunnels, write_tunnel, [](const Tunnel& t) -> const Secret& { return t.psk; }, out);
  diff_section("Child", a.children, b.children, write_child, no_secret, out);
  diff_section("Application", a.applications, b.applications, write_application, no_secret, out);
  diff_section("SteeringProfile", a.profiles, b.profiles, write_profile, no_secret, out);
  diff_section("Policy", a.policies, b.policies, write_policy, no_secret, out);
  const std::string oa = a.onboarding ? one(*a.onboarding, write_onboarding) : "";
  const std::string ob = b.onboarding ? one(*b.onboarding, write_onboarding) : "";
  if (oa != ob) out.changes.push_back({ConfigDiff::Change::Kind::changed, "Onboarding", ""});
  return out;
}

std::string ConfigDiff::str() const {
  std::string out;
  for (const auto& c : changes) {
    const char* kind = c.kind == Change::Kind::added ? "added" : c.kind == Change::Kind::removed ? "removed" : "changed";
    out += std::string(kind) + " " + c.section + (c.name.empty() ? "" : " " + c.name) + "\n";
  }
  return out;
}

}  // namespace sedge::config

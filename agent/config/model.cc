#include "agent/config/model.h"

#include <algorithm>

namespace sedge::config {

std::string Identity::str() const {
  if (type == IdType::key_id) return "keyid:" + value;
  if (type == IdType::der_asn1_dn) return "dn:" + value;
  return value;
}

std::vector<const Policy*> Config::ordered_policies() const {
  std::vector<const Policy*> out;
  for (const auto& [name, p] : policies) out.push_back(&p);
  std::stable_sort(out.begin(), out.end(), [](const Policy* a, const Policy* b) { return a->order < b->order; });
  return out;
}

std::vector<const Tunnel*> Config::tunnels_of(const std::string& connector) const {
  std::vector<const Tunnel*> out;
  for (const auto& [name, t] : tunnels) {
    if (t.connector == connector) out.push_back(&t);
  }
  std::stable_sort(out.begin(), out.end(), [](const Tunnel* a, const Tunnel* b) { return a->role < b->role; });
  return out;
}

std::vector<const Child*> Config::children_of(const std::string& tunnel) const {
  std::vector<const Child*> out;
  for (const auto& [name, c] : children) {
    if (c.tunnel == tunnel) out.push_back(&c);
  }
  return out;
}

const Secret& Config::psk_for(const Tunnel& tunnel) const {
  if (!tunnel.psk.empty()) return tunnel.psk;
  return connectors.at(tunnel.connector).psk;
}

AuthMethod Config::auth_method_for(const Tunnel& tunnel) const {
  if (tunnel.auth_method) return *tunnel.auth_method;
  return connectors.at(tunnel.connector).auth_method.value_or(AuthMethod::psk);
}
const std::string& Config::certificate_for(const Tunnel& tunnel) const {
  return tunnel.cert.certificate.empty() ? connectors.at(tunnel.connector).cert.certificate : tunnel.cert.certificate;
}
const Secret& Config::private_key_for(const Tunnel& tunnel) const {
  return tunnel.cert.private_key.empty() ? connectors.at(tunnel.connector).cert.private_key : tunnel.cert.private_key;
}
const std::string& Config::ca_path_for(const Tunnel& tunnel) const {
  return tunnel.cert.ca_path.empty() ? connectors.at(tunnel.connector).cert.ca_path : tunnel.cert.ca_path;
}

Identity Config::local_id_for(const Tunnel& tunnel) const {
  if (tunnel.local_id) return *tunnel.local_id;
  return connectors.at(tunnel.connector).local_id.value_or(Identity{});
}

const char* to_string(InterfaceRole v) { return v == InterfaceRole::wan ? "wan" : "lan"; }
const char* to_string(Provider v) {
  switch (v) {
    case Provider::juniper_secure_edge: return "juniper-secure-edge";
    case Provider::zscaler: return "zscaler";
    case Provider::prisma_access: return "prisma-access";
    case Provider::checkpoint_harmony: return "checkpoint-harmony";
    case Provider::custom: return "custom";
  }
  return "custom";
}
const char* to_string(ConnectorType v) { return v == ConnectorType::ipsec ? "ipsec" : "gre"; }
const char* to_string(TunnelMode v) { return v == TunnelMode::active_standby ? "active-standby" : "active-active"; }
const char* to_string(TunnelRole v) { return v == TunnelRole::primary ? "primary" : "secondary"; }
const char* to_string(Routing v) { return v == Routing::route_based ? "route-based" : "policy-based"; }
const char* to_string(Fragmentation v) {
  switch (v) {
    case Fragmentation::yes: return "yes";
    case Fragmentation::accept: return "accept";
    case Fragmentation::force: return "force";
    case Fragmentation::no: return "no";
  }
  return "yes";
}
const char* to_string(Strategy v) { return v == Strategy::ordered ? "ordered" : "weighted"; }
const char* to_string(PolicyAction v) {
  switch (v) {
    case PolicyAction::steer: return "steer";
    case PolicyAction::breakout: return "breakout";
    case PolicyAction::deny: return "deny";
  }
  return "steer";
}
const char* to_string(IdType v) {
  switch (v) {
    case IdType::fqdn: return "fqdn";
    case IdType::rfc822: return "rfc822";
    case IdType::ipv4: return "ipv4";
    case IdType::ipv6: return "ipv6";
    case IdType::key_id: return "key-id";
    case IdType::der_asn1_dn: return "der-asn1-dn";
  }
  return "fqdn";
}
const char* to_string(AuthMethod v) { return v == AuthMethod::pubkey ? "pubkey" : "psk"; }

}  // namespace sedge::config

#include "agent/connector/tunnel_config.h"

#include <algorithm>

#include "common/log.h"
#include "ike/rekey.h"

namespace sedge::connector {
namespace {

uint8_t id_type(config::IdType t) {
  switch (t) {
    case config::IdType::rfc822: return ike::kIdRfc822;
    case config::IdType::ipv4: return ike::kIdIpv4;
    case config::IdType::key_id: return ike::kIdKeyId;
    case config::IdType::ipv6: return ike::kIdIpv6;
    case config::IdType::der_asn1_dn: return ike::kIdDerAsn1Dn;
    default: return ike::kIdFqdn;
  }
}

ike::FragmentMode fragment_mode(config::Fragmentation f) {
  switch (f) {
    case config::Fragmentation::accept: return ike::FragmentMode::accept;
    case config::Fragmentation::force: return ike::FragmentMode::force;
    case config::Fragmentation::no: return ike::FragmentMode::no;
    default: return ike::FragmentMode::yes;
  }
}

}  // namespace

ike::TrafficSelector selector(const config::Prefix& p) {
  ike::TrafficSelector ts;
  ts.type = p.family == AF_INET6 ? ike::kTsIpv6AddrRange : ike::kTsIpv4AddrRange;
  const unsigned n = static_cast<unsigned>(ts.address_size());
  for (unsigned i = 0; i < n; ++i) {
    const unsigned bits = p.length > i * 8 ? std::min(8u, p.length - i * 8) : 0;
    const auto mask = static_cast<uint8_t>(bits ? 0xff << (8 - bits) : 0);
    ts.start[i] = p.bytes[i] & mask;
    ts.end[i] = static_cast<uint8_t>(ts.start[i] | static_cast<uint8_t>(~mask));
  }
  return ts;
}

Result<ike::SaConfig> sa_config(const config::Config& cfg, const std::string& name) {
  auto it = cfg.tunnels.find(name);
  if (it == cfg.tunnels.end()) return Error{"no tunnel " + name + " in the configuration", ENOENT};
  const config::Tunnel& t = it->second;
  auto fail = [&](const Error& e) { return e.context("tunnel " + name); };
  ike::SaConfig c;
  ike::TunnelSpec& spec = c.tunnel;
  const config::Identity lid = cfg.local_id_for(t);
  spec.local_id_type = id_type(lid.type);
  spec.local_id = lid.value;
  if (t.remote_id) {
    spec.remote_id_type = id_type(t.remote_id->type);
    spec.remote_id = t.remote_id->value;
  } else if (auto a = ike::Address::parse(t.remote)) {
    // Without RemoteId= the peer is who its address says (strongSwan's default; Check Point's
    // Harmony SASE guide leaves the remote ID as the gateway's address).
    spec.remote_id_type = a->ipv6() ? ike::kIdIpv6 : ike::kIdIpv4;
    spec.remote_id = t.remote;
  }
  spec.psk = &cfg.psk_for(t);
  if (cfg.auth_method_for(t) == config::AuthMethod::pubkey) {
    auto pubkey = ike::load_pubkey_auth(cfg.certificate_for(t), cfg.private_key_for(t), cfg.ca_path_for(t));
    if (!pubkey) return fail(pubkey.error());
    log::info("tunnel " + name + ": authenticating with certificate " + (*pubkey)->chain.front().subject() + " (issuer " +
              (*pubkey)->chain.front().issuer() + "), trusting " + std::to_string((*pubkey)->trust.size()) + " CA certificate(s) from " +
              cfg.ca_path_for(t));
    spec.pubkey = std::move(*pubkey);
  }
  spec.fragmentation = {fragment_mode(t.fragmentation), t.fragment_size};
  auto suite = ike::parse_suite(t.ike_proposals.front(), t.esp_proposals.front());
  if (!suite) return fail(suite.error());
  c.suite = *suite;
  // Every proposal, in the configured order: each IKE one with the first ESP one and the other
  // way round (a Suite holds both; the engine takes the part it negotiates).
  for (const auto& p : t.ike_proposals) {
    auto s = ike::parse_suite(p, t.esp_proposals.front());
    if (!s) return fail(s.error());
    c.ike_offers.push_back(*s);
  }
  for (const auto& p : t.esp_proposals) {
    auto s = ike::parse_suite(t.ike_proposals.front(), p);
    if (!s) return fail(s.error());
    c.esp_offers.push_back(*s);
  }
  auto pfs = ike::parse_pfs_group(t.esp_proposals.front());
  if (!pfs) return fail(pfs.error());
  c.pfs_group = *pfs;
  if (!t.local_ts.empty()) spec.local_ts = selector(t.local_ts.front());
  if (!t.remote_ts.empty()) spec.remote_ts = selector(t.remote_ts.front());
  for (const auto& p : t.local_ts) c.local_ts.push_back(selector(p));
  for (const auto& p : t.remote_ts) c.remote_ts.push_back(selector(p));
  for (const config::Child* child : cfg.children_of(name)) c.create_children.emplace_back(selector(child->local_ts), selector(child->remote_ts));
  c.max_children = t.max_child_sas;
  c.nat_traversal = t.nat_traversal;
  c.dpd_interval = std::chrono::seconds(t.dpd_interval_sec);
  c.dpd_timeout = std::chrono::seconds(t.dpd_timeout_sec);
  c.retransmit.timeout = std::chrono::seconds(t.retransmit_timeout_sec);
  c.retransmit.tries = static_cast<int>(t.retransmit_tries);
  c.child_lifetime = std::chrono::seconds(t.child_lifetime_sec);
  c.ike_lifetime = std::chrono::seconds(t.ike_lifetime_sec);
  return c;
}

}  // namespace sedge::connector

// What the tasks share: notifies, proposals from the suite, CHILD_SA keys and shapes.
#include <cstdio>

#include "common/log.h"
#include "ike/rekey.h"
#include "ike/tasks/task.h"

namespace sedge::ike {

Payload notify_payload(uint16_t type, Bytes data, uint8_t protocol, Bytes spi) {
  return {kNotify, false, encode_notify({protocol, std::move(spi), type, std::move(data)})};
}

std::vector<Payload> refuse(const char* what, uint16_t type, Bytes data, uint8_t protocol, Bytes spi) {
  log::warning(std::string("refusing the peer's ") + what + ": " + notify_name(type));
  return {notify_payload(type, std::move(data), protocol, std::move(spi))};
}

std::optional<Notify> find_notify(const std::vector<Payload>& payloads, uint16_t type) {
  for (const auto& p : payloads) {
    if (p.type != kNotify) continue;
    if (auto n = decode_notify(p.body); n && n->type == type) return std::move(*n);
  }
  return std::nullopt;
}

std::optional<Notify> error_notify(const std::vector<Payload>& payloads) {
  for (const auto& p : payloads) {
    if (p.type != kNotify) continue;
    if (auto n = decode_notify(p.body); n && n->type <= kNotifyErrorMax) return std::move(*n);
  }
  return std::nullopt;
}

const Payload* find_payload(const std::vector<Payload>& payloads, uint8_t type) {
  for (const auto& p : payloads) {
    if (p.type == type) return &p;
  }
  return nullptr;
}

ChildSa keyed_pair(ChildKeys k, bool initiator, const ChildSa& shape, uint32_t spi_in, uint32_t spi_out) {
  ChildSa c = shape.shape();
  c.spi_in = spi_in;
  c.spi_out = spi_out;
  c.key_in = std::move(initiator ? k.responder_to_initiator : k.initiator_to_responder);
  c.key_out = std::move(initiator ? k.initiator_to_responder : k.responder_to_initiator);
  c.integ_in = std::move(initiator ? k.integ_responder_to_initiator : k.integ_initiator_to_responder);
  c.integ_out = std::move(initiator ? k.integ_initiator_to_responder : k.integ_responder_to_initiator);
  return c;
}

std::vector<Transform> esp_with(const Suite& suite, uint16_t group) {
  std::vector<Transform> t = esp_transforms(suite);
  if (group) t.push_back({kTransformDh, group, std::nullopt});
  return t;
}

std::vector<Transform> ike_with(const Suite& suite, uint16_t group) {
  std::vector<Transform> t = ike_transforms(suite);
  for (auto& x : t) {
    if (x.type == kTransformDh) x.id = group;
  }
  return t;
}

Proposal esp_proposal(uint32_t spi, const Suite& suite, uint16_t group) { return {1, kProtocolEsp, spi_bytes(spi), esp_with(suite, group)}; }
Proposal ike_proposal(Bytes spi, const Suite& suite, uint16_t group) { return {1, kProtocolIke, std::move(spi), ike_with(suite, group)}; }

std::optional<SelectorPair> narrowed_pair(const SaConfig& c, const std::vector<TrafficSelector>& tsi,
                                          const std::vector<TrafficSelector>& tsr) {
  auto narrowed = [](const TrafficSelector& ours, const std::vector<TrafficSelector>& offered) -> std::optional<TrafficSelector> {
    for (const auto& t : offered) {
      if (auto n = intersect(ours, t)) return n;
    }
    return std::nullopt;
  };
  for (const auto& local : c.local_ts) {
    for (const auto& remote : c.remote_ts) {
      auto l = narrowed(local, tsr), r = narrowed(remote, tsi);
      if (l && r) return SelectorPair{*l, *r};
    }
  }
  return std::nullopt;
}

std::vector<Suite> ike_offers(const SaConfig& c) { return c.ike_offers.empty() ? std::vector<Suite>{c.suite} : c.ike_offers; }
std::vector<Suite> esp_offers(const SaConfig& c) { return c.esp_offers.empty() ? std::vector<Suite>{c.suite} : c.esp_offers; }

void take_ike_part(Suite& to, const Suite& from) {
  to.key_bits = from.key_bits;
  to.dh_group = from.dh_group;
  to.encr = from.encr;
  to.integ = from.integ;
  to.prf = from.prf;
}

void take_esp_part(Suite& to, const Suite& from) {
  to.esp_encr = from.esp_encr;
  to.esp_key_bits = from.esp_key_bits;
  to.esp_integ = from.esp_integ;
  to.esn = from.esn;
}

Bytes group_data(uint16_t group) {
  Bytes b;
  put16(b, group);
  return b;
}

bool take_group(const std::optional<Notify>& refusal, uint16_t& group) {
  if (!refusal || refusal->type != kNotifyInvalidKe || refusal->data.size() != 2) return false;
  const uint16_t g = get16(refusal->data, 0);
  if (!KeyExchange::supported(g) || g == group) return false;
  group = g;
  return true;
}

ChildSa child_shape(const IkeSa& sa, uint32_t index, const TrafficSelector& local, const TrafficSelector& remote) {
  ChildSa c;
  c.index = index;
  c.local_ts = local;
  c.remote_ts = remote;
  c.local = sa.local();
  c.remote = sa.remote();
  c.encapsulated = sa.encapsulated();
  c.suite = sa.config().suite;
  return c;
}

KernelLifetime kernel_lifetime(std::chrono::milliseconds child_lifetime, double rekey_fraction) {
  const int64_t ms = child_lifetime.count();
  if (ms <= 0) return {};
  auto seconds_up = [](int64_t m) { return static_cast<uint64_t>((m + 999) / 1000); };
  const uint64_t soft = std::max<uint64_t>(seconds_up(std::llround(static_cast<double>(ms) * rekey_fraction)), 1);
  return {soft, std::max(seconds_up(ms + ms / 10), soft + 1)};
}

}  // namespace sedge::ike

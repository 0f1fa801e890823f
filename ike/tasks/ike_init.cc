// IKE_SA_INIT (RFC 7296 1.2): the IKE SA's proposal, key exchange and nonces; a COOKIE (2.6)
// or another DH group (INVALID_KE_PAYLOAD, 1.2) asked for by the responder is answered by
// sending the request again; NAT detection (2.23) and the notifies of fragmentation (RFC 7383)
// and signature hashes (RFC 7427).
#include <algorithm>

#include "common/log.h"
#include "ike/keylog.h"
#include "ike/tasks/task.h"

namespace sedge::ike {

namespace {

constexpr int kMaxInitRetries = 3;  // COOKIEs and DH groups asked for, before giving up

std::vector<Payload> nat_detection(uint64_t spi_i, uint64_t spi_r, const Address& source, const Address& destination) {
  return {notify_payload(kNotifyNatDetectionSourceIp, nat_hash(spi_i, spi_r, source)),
          notify_payload(kNotifyNatDetectionDestinationIp, nat_hash(spi_i, spi_r, destination))};
}

// The initiator's NAT detection against what we saw (2.23): "" when no NAT, else where it is.
// Our own address is unknown (not checked) when it is the any address.
std::string nat_seen_by_responder(const std::vector<Payload>& payloads, uint64_t spi_i, const Address& ours, const Address& peer) {
  std::string where;
  for (const auto& p : payloads) {
    auto n = p.type == kNotify ? decode_notify(p.body) : Result<Notify>(Error{"", 0});
    if (!n) continue;
    if (n->type == kNotifyNatDetectionSourceIp && n->data != nat_hash(spi_i, 0, peer)) where = "in front of the peer";
    if (n->type == kNotifyNatDetectionDestinationIp && !ours.is_any() && n->data != nat_hash(spi_i, 0, ours)) where = "in front of us";
  }
  return where;
}

class IkeInit : public Task {
 public:
  TaskKind kind() const override { return TaskKind::ike_init; }
  const char* name() const override { return "IKE_SA_INIT"; }

  std::optional<Request> build(IkeSa& sa, Time /*now*/) override {
    Generation& g = sa.generations().front();
    if (!dh_ || dh_->group() != sa.ike_group) {
      auto k = KeyExchange::generate(sa.ike_group);
      if (!k) {
        sa.fail(k.error().context("IKE_SA_INIT"));
        return std::nullopt;
      }
      dh_ = std::move(*k);
    }
    if (ni_.empty()) ni_ = random_bytes(32);
    const SaConfig& c = sa.config();
    std::vector<Payload> p;
    if (cookie_) p.push_back({kNotify, false, encode_notify(*cookie_)});
    std::vector<Proposal> offers;
    for (const Suite& o : ike_offers(c)) {
      offers.push_back(ike_proposal({}, o, o.dh_group));
      offers.back().number = static_cast<uint8_t>(offers.size());
    }
    p.push_back({kSa, false, encode_sa(offers)});
    p.push_back({kKe, false, encode_ke(sa.ike_group, dh_->public_value())});
    p.push_back({kNonce, false, ni_});
    if (c.nat_traversal) {
      for (auto& n : nat_detection(g.spi_i, 0, sa.local(), sa.remote())) p.push_back(std::move(n));
    }
    if (c.tunnel.pubkey) p.push_back(notify_payload(kNotifySignatureHashAlgorithms, signature_hashes_notify_data()));
    if (c.tunnel.fragmentation.announces()) p.push_back(fragmentation_supported_notify());
    return Request{&g, Exchange::ike_sa_init, std::move(p)};
  }

  Next process(IkeSa& sa, const Message& m, std::span<const uint8_t> wire, const std::vector<Payload>& payloads, Time now) override {
    if (!m.find(kSa) && retries_ < kMaxInitRetries) {
      if (auto cookie = find_notify(payloads, kNotifyCookie)) {
        ++retries_;
        cookie_ = std::move(cookie);
        log::info("the responder " + sa.remote().to_string() + " asks for a COOKIE: sending IKE_SA_INIT again with it");
        return Next::again;
      }
      uint16_t group = sa.ike_group;
      const auto offers = ike_offers(sa.config());
      const bool offered = [&] {  // only a group of one of our proposals
        uint16_t g = group;
        return take_group(find_notify(payloads, kNotifyInvalidKe), g) &&
               std::any_of(offers.begin(), offers.end(), [g](const Suite& o) { return o.dh_group == g; });
      }();
      if (offered && take_group(find_notify(payloads, kNotifyInvalidKe), group)) {
        ++retries_;
        log::info("the responder asks for DH group " + std::to_string(group) + " (INVALID_KE_PAYLOAD): sending IKE_SA_INIT again with it");
        sa.ike_group = group;
        return Next::again;
      }
    }
    if (auto e = error_notify(payloads)) {
      sa.fail(Error{std::string("IKE_SA_INIT: the responder answered ") + notify_name(e->type) + " (" + std::to_string(e->type) + ")",
                    EPROTO});
      return Next::done;
    }
    if (auto st = complete(sa, m, wire, payloads); !st) {
      sa.fail(st.error());
      return Next::done;
    }
    sa.enqueue(make_ike_auth());
    (void)now;
    return Next::done;
  }

 private:
  Status complete(IkeSa& sa, const Message& m, std::span<const uint8_t> wire, const std::vector<Payload>& payloads) {
    SaConfig& c = sa.mutable_config();
    auto chosen = m.find(kSa) ? decode_sa(m.find(kSa)->body) : Result<std::vector<Proposal>>(Error{"no SA payload", EBADMSG});
    const Suite* match = nullptr;
    const auto offers = ike_offers(c);
    for (const Suite& o : offers) {
      if (chosen && chosen->size() == 1 && !match && same_transforms((*chosen)[0].transforms, ike_transforms(o))) match = &o;
    }
    if (!match) return Error{"IKE_SA_INIT: the responder chose a proposal that was not offered", EPROTO};
    if (match->dh_group != sa.ike_group) {
      return Error{"IKE_SA_INIT: the responder chose DH group " + std::to_string(match->dh_group) + " but our KE is for group " +
                       std::to_string(sa.ike_group),
                   EPROTO};
    }
    take_ike_part(c.suite, *match);
    const Payload* ke_p = m.find(kKe);
    auto ke = ke_p ? decode_ke(ke_p->body) : Result<KePayload>(Error{"no KE payload", EBADMSG});
    const Payload* nr_p = m.find(kNonce);
    if (!ke || !nr_p || ke->group != sa.ike_group || nr_p->body.size() < 16 || nr_p->body.size() > 256) {
      return Error{"IKE_SA_INIT: the response lacks a KE for group " + std::to_string(sa.ike_group) + " or a nonce of 16 to 256 bytes",
                   EBADMSG};
    }
    if (m.header.spi_r == 0) return Error{"IKE_SA_INIT: the responder's SPI is zero", EBADMSG};
    auto g_ir = dh_->shared_secret(ke->public_value);
    if (!g_ir) return g_ir.error().context("IKE_SA_INIT");
    Generation& g = sa.generations().front();
    g.spi_r = m.header.spi_r;
    InitExchange& init = sa.init();
    init.response.assign(wire.begin(), wire.end());
    init.ni = ni_;
    init.nr = nr_p->body;
    init.peer_hashes = peer_signature_hashes(payloads);
    g.keys = derive_ike_keys(c.suite, g_ir->bytes(), init.ni, init.nr, g.spi_i, g.spi_r);
    if (sa.env().key_log) (void)sa.env().key_log->ike_sa(g.spi_i, g.spi_r, g.keys);
    sa.fragmentation = c.tunnel.fragmentation.announces() && announces_fragmentation(payloads);
    sa.fragment_size = fragment_size_for(c.tunnel.fragmentation, payloads);
    if (c.nat_traversal) detect_nat(sa, payloads);
    return {};
  }

  // The responder's hashes of what it saw against what we sent from and to.
  static void detect_nat(IkeSa& sa, const std::vector<Payload>& payloads) {
    const Generation& g = sa.generations().front();
    bool offered = false, local_ok = true, remote_ok = true;
    for (const auto& p : payloads) {
      auto n = p.type == kNotify ? decode_notify(p.body) : Result<Notify>(Error{"", 0});
      if (!n) continue;
      if (n->type == kNotifyNatDetectionDestinationIp) {
        offered = true;
        local_ok = n->data == nat_hash(g.spi_i, g.spi_r, sa.local());
      } else if (n->type == kNotifyNatDetectionSourceIp) {
        offered = true;
        remote_ok = remote_ok && n->data == nat_hash(g.spi_i, g.spi_r, sa.remote());
      }
    }
    if (!offered || (local_ok && remote_ok)) return;
    sa.float_to_natt();
    log::info(std::string("NAT detected (") + (!local_ok ? "in front of us" : "in front of the peer") +
              "): IKE and ESP float to UDP " + std::to_string(sa.natt_port));
  }

  std::optional<KeyExchange> dh_;
  Bytes ni_;
  std::optional<Notify> cookie_;
  int retries_ = 0;
};

}  // namespace

std::unique_ptr<Task> make_ike_init() { return std::make_unique<IkeInit>(); }

Result<std::unique_ptr<IkeSa>> IkeSa::respond(const SaConfig& init_config, ConfigLookup lookup, SaEnvironment env,
                                              const Message& request, std::span<const uint8_t> wire, Address local, Address remote,
                                              Time now, Outgoing* refusal) {
  auto refuse_init = [&](uint16_t type, Bytes data, std::string why) -> Error {
    const Header h{request.header.spi_i, 0, 0, Exchange::ike_sa_init, kFlagResponse, 0, 0};
    *refusal = {serialize(h, {notify_payload(type, std::move(data))}), local, remote, false};
    log::warning("refusing IKE_SA_INIT from " + remote.to_string() + ": " + notify_name(type) + " (" + why + ")");
    return Error{"IKE_SA_INIT from " + remote.to_string() + ": " + why, EPROTO};
  };
  const Payload* sa_p = request.find(kSa);
  const Payload* ke_p = request.find(kKe);
  const Payload* ni_p = request.find(kNonce);
  auto ke = ke_p ? decode_ke(ke_p->body) : Result<KePayload>(Error{"no KE payload", EBADMSG});
  if (!sa_p || !ke || !ni_p || ni_p->body.size() < 16 || ni_p->body.size() > 256) {
    return Error{"IKE_SA_INIT from " + remote.to_string() + " lacks SA, KE or a nonce of 16 to 256 bytes", EBADMSG};
  }
  // Our proposals in our order: the first the initiator offers too whose group its KE is for;
  // else the first it offers at all, asking for that one's group (INVALID_KE_PAYLOAD).
  auto offered = decode_sa(sa_p->body);
  std::optional<Proposal> chosen;
  Suite suite = init_config.suite;
  const auto ours = ike_offers(init_config);
  for (const bool same_group : {true, false}) {
    for (const Suite& o : ours) {
      if (chosen || !offered || (same_group && o.dh_group != ke->group)) continue;
      chosen = choose_proposal(*offered, kProtocolIke, ike_transforms(o));
      if (chosen) take_ike_part(suite, o);
    }
  }
  if (!chosen) return refuse_init(kNotifyNoProposalChosen, {}, "no proposal with " + ours.front().ike_name());
  if (ke->group != suite.dh_group) {
    return refuse_init(kNotifyInvalidKe, group_data(suite.dh_group),
                       "KE for group " + std::to_string(ke->group) + ", asking for group " + std::to_string(suite.dh_group));
  }
  auto dh = KeyExchange::generate(suite.dh_group);
  if (!dh) return dh.error().context("IKE_SA_INIT");
  auto g_ir = dh->shared_secret(ke->public_value);
  if (!g_ir) return g_ir.error().context("IKE_SA_INIT from " + remote.to_string());

  SaConfig negotiated = init_config;
  take_ike_part(negotiated.suite, suite);
  std::unique_ptr<IkeSa> sa(new IkeSa(negotiated, env, local, remote));
  sa->lookup = std::move(lookup);
  sa->last_heard_ = now;
  Generation g;
  g.initiator = false;
  g.spi_i = request.header.spi_i;
  g.spi_r = random_ike_spi();
  g.peer_next_id = 1;
  InitExchange& init = sa->init_;
  init.request.assign(wire.begin(), wire.end());
  init.ni = ni_p->body;
  init.nr = random_bytes(32);
  init.peer_hashes = peer_signature_hashes(request.payloads);
  g.keys = derive_ike_keys(suite, g_ir->bytes(), init.ni, init.nr, g.spi_i, g.spi_r);
  if (env.key_log) (void)env.key_log->ike_sa(g.spi_i, g.spi_r, g.keys);

  std::vector<Payload> reply = {{kSa, false, encode_sa({*chosen})},
                                {kKe, false, encode_ke(suite.dh_group, dh->public_value())},
                                {kNonce, false, init.nr}};
  if (find_notify(request.payloads, kNotifyNatDetectionSourceIp)) {
    for (auto& n : nat_detection(g.spi_i, g.spi_r, local, remote)) reply.push_back(std::move(n));
    const std::string nat = nat_seen_by_responder(request.payloads, g.spi_i, local, remote);
    if (!nat.empty()) {
      sa->encapsulated_ = true;  // the initiator floats to the NAT-T port for IKE_AUTH
      log::info("NAT detected (" + nat + "): IKE and ESP float to UDP " + std::to_string(sa->natt_port));
    }
  }
  const TunnelSpec& t = init_config.tunnel;
  if (t.pubkey) {
    if (!init.peer_hashes.empty()) reply.push_back(notify_payload(kNotifySignatureHashAlgorithms, signature_hashes_notify_data()));
    reply.push_back(certreq_payload(t.pubkey->trust));
  }
  if (t.fragmentation.announces() && announces_fragmentation(request.payloads)) {  // RFC 7383 2.3
    reply.push_back(fragmentation_supported_notify());
    sa->fragmentation = true;
    sa->fragment_size = fragment_size_for(t.fragmentation, request.payloads);
  }
  init.response = serialize(Header{g.spi_i, g.spi_r, 0, Exchange::ike_sa_init, kFlagResponse, 0, 0}, reply);
  g.answered = 0;
  g.answer = {init.response};
  sa->generations_.push_back(std::move(g));
  sa->send_datagrams({init.response});
  return sa;
}

}  // namespace sedge::ike

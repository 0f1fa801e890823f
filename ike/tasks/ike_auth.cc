// IKE_AUTH (RFC 7296 1.2, 2.15): identities, AUTH by PSK or certificates (ike/auth.h), and the
// first CHILD_SA with its ESP proposal and traffic selectors, in both roles. The CHILD_SA goes
// into the kernel (inbound SA, outbound SA, policies) as the exchange completes.
#include <algorithm>

#include "common/log.h"
#include "ike/rekey.h"
#include "ike/tasks/task.h"

namespace sedge::ike {
namespace {

// The first CHILD_SA, keyed, into the kernel whole; on failure nothing of it stays.
Status install_first(IkeSa& sa, Child& c) {
  ChildSaHandler& k = *sa.env().children;
  Status st = k.install_inbound(c.sa);
  if (st) st = k.install_outbound(c.sa);
  if (st) st = k.install_policies(c.sa);
  if (!st) {
    k.remove(c.sa.shape());
    k.remove_policies(c.sa.shape());
    return st.error().context("installing the CHILD_SA");
  }
  c.outbound = true;
  return {};
}

// Our ESP proposals, numbered in order of preference, with our inbound SPI.
std::vector<Proposal> esp_offered(const SaConfig& c, uint32_t spi) {
  std::vector<Proposal> out;
  for (const Suite& o : esp_offers(c)) {
    out.push_back(esp_proposal(spi, o, 0));
    out.back().number = static_cast<uint8_t>(out.size());
  }
  return out;
}

class IkeAuth : public Task {
 public:
  TaskKind kind() const override { return TaskKind::ike_auth; }
  const char* name() const override { return "IKE_AUTH"; }

  std::optional<Request> build(IkeSa& sa, Time /*now*/) override {
    const TunnelSpec& t = sa.config().tunnel;
    Generation& g = sa.generations().front();
    shape_ = child_shape(sa, 0, t.local_ts, t.remote_ts);
    auto spi = sa.env().children->allocate_spi(shape_);
    if (!spi) {
      sa.fail(spi.error().context("IKE_AUTH: allocating an inbound SPI"));
      return std::nullopt;
    }
    shape_.spi_in = *spi;
    auto local_id = encode_id_data(t.local_id_type, t.local_id);
    auto remote_id = encode_id_data(t.remote_id_type, t.remote_id);
    if (!local_id || !remote_id) return give_up(sa, (local_id ? remote_id.error() : local_id.error()).context("IKE_AUTH identities"));
    const Bytes idi = encode_typed(t.local_id_type, *local_id);
    auto auth = build_auth(t, sa.init().request, sa.init().nr, g.keys.sk_pi, idi, sa.init().peer_hashes);
    if (!auth) return give_up(sa, auth.error().context("IKE_AUTH"));
    std::vector<Payload> p = {{kIdi, false, idi}};
    p.insert(p.end(), auth->certs.begin(), auth->certs.end());
    if (t.pubkey) p.push_back(certreq_payload(t.pubkey->trust));
    // This side runs one IKE SA per tunnel: any other the peer holds for us is stale (a crash,
    // a restart), and goes (RFC 7296 2.4).
    p.push_back(notify_payload(kNotifyInitialContact));
    p.insert(p.end(), {{kIdr, false, encode_typed(t.remote_id_type, *remote_id)},
                       auth->auth,
                       {kSa, false, encode_sa(esp_offered(sa.config(), shape_.spi_in))},
                       {kTsi, false, encode_ts({t.local_ts})},
                       {kTsr, false, encode_ts({t.remote_ts})}});
    return Request{&g, Exchange::ike_auth, std::move(p)};
  }

  Next process(IkeSa& sa, const Message& /*m*/, std::span<const uint8_t> /*wire*/, const std::vector<Payload>& inner,
               Time now) override {
    if (auto st = complete(sa, inner, now); !st) {
      sa.env().children->remove(shape_);  // the larval SA of ALLOCSPI
      if (st.error().code == EACCES) {
        sa.enqueue(make_auth_failed_notify(st.error()));
      } else {
        sa.fail(st.error());
      }
    }
    return Next::done;
  }

  void abort(IkeSa& sa) override {
    if (shape_.spi_in) sa.env().children->remove(shape_);
  }

 private:
  std::optional<Request> give_up(IkeSa& sa, Error e) {
    sa.env().children->remove(shape_);
    sa.fail(std::move(e));
    return std::nullopt;
  }

  Status complete(IkeSa& sa, const std::vector<Payload>& inner, Time now) {
    const SaConfig& c = sa.config();
    const TunnelSpec& t = c.tunnel;
    if (auto e = error_notify(inner)) {
      return Error{std::string("IKE_AUTH: the responder answered ") + notify_name(e->type) + " (" + std::to_string(e->type) + ")", EPROTO};
    }
    const Payload* idr = find_payload(inner, kIdr);
    const Payload* auth = find_payload(inner, kAuth);
    if (!idr || !auth) return Error{std::string("IKE_AUTH: the response has no ") + (idr ? "AUTH" : "IDr") + " payload", EBADMSG};
    if (!id_payload_is(t.remote_id_type, t.remote_id, idr->body)) {
      return Error{"IKE_AUTH: the responder identified as " + describe_id(idr->body) + ", not " + t.remote_id, EACCES};
    }
    Generation& g = sa.generations().front();
    if (auto st = verify_peer_auth(t, inner, sa.init().response, sa.init().ni, g.keys.sk_pr, idr->body); !st) {
      log::warning("AUTHENTICATION_FAILED: the responder " + describe_id(idr->body) + " is refused: " + st.error().message);
      return Error{"IKE_AUTH: the responder's AUTH does not verify: " + st.error().message, EACCES};
    }
    const Payload* sa_p = find_payload(inner, kSa);
    const Payload* tsi_p = find_payload(inner, kTsi);
    const Payload* tsr_p = find_payload(inner, kTsr);
    if (!sa_p || !tsi_p || !tsr_p) return Error{"IKE_AUTH: the response has no CHILD_SA (SA, TSi, TSr)", EPROTO};
    auto esp = decode_sa(sa_p->body);
    if (!esp || esp->size() != 1 || (*esp)[0].spi.size() != 4 || (*esp)[0].protocol != kProtocolEsp) {
      return Error{"IKE_AUTH: the responder's ESP proposal is malformed", EBADMSG};
    }
    const auto offers = esp_offers(c);
    auto match = std::find_if(offers.begin(), offers.end(), [&](const Suite& o) { return choose_proposal(*esp, kProtocolEsp, esp_transforms(o)); });
    if (match == offers.end()) {
      return Error{"IKE_AUTH: the responder chose an ESP proposal that was not offered (" + c.suite.esp_name() + ")", EPROTO};
    }
    take_esp_part(sa.mutable_config().suite, *match);
    auto tsi = decode_ts(tsi_p->body);
    auto tsr = decode_ts(tsr_p->body);
    if (!tsi || !tsr || tsi->empty() || tsr->empty()) return Error{"IKE_AUTH: no traffic selectors", EBADMSG};
    if (!t.local_ts.contains(tsi->front()) || !t.remote_ts.contains(tsr->front())) {
      return Error{"IKE_AUTH: the responder widened the traffic selectors", EPROTO};
    }
    Child child;
    child.sa = keyed_pair(derive_child_keys(c.suite, g.keys.sk_d, sa.init().ni, sa.init().nr), true,
                          child_shape(sa, 0, tsi->front(), tsr->front()), shape_.spi_in, get32((*esp)[0].spi, 0));
    if (auto st = install_first(sa, child); !st) return st;
    shape_ = {};
    sa.start_child_timers(child, now);
    sa.child_list().push_back(std::move(child));
    sa.established(now);
    return {};
  }

  ChildSa shape_;  // the first CHILD_SA's inbound SPI, once allocated
};

}  // namespace

std::unique_ptr<Task> make_ike_auth() { return std::make_unique<IkeAuth>(); }

std::vector<Payload> answer_ike_auth(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time now) {
  const char* what = "IKE_AUTH";
  if (sa.state() != SaState::connecting) return refuse(what, kNotifyInvalidSyntax);
  const Payload* idi = find_payload(inner, kIdi);
  const Payload* auth_p = find_payload(inner, kAuth);
  const Payload* esp_p = find_payload(inner, kSa);
  const Payload* tsi_p = find_payload(inner, kTsi);
  const Payload* tsr_p = find_payload(inner, kTsr);
  auto fail_with = [&](uint16_t notify, Error why) {
    auto out = refuse(what, notify);
    sa.fail(std::move(why));
    return out;
  };
  if (!idi || !auth_p || !esp_p || !tsi_p || !tsr_p || idi->body.size() < 4 || auth_p->body.size() < 4) {
    return fail_with(kNotifyInvalidSyntax, Error{"IKE_AUTH lacks IDi, AUTH, SA, TSi or TSr", EBADMSG});
  }
  const std::string peer_id(idi->body.begin() + 4, idi->body.end());
  const SaConfig* config = sa.lookup ? sa.lookup(idi->body[0], peer_id) : nullptr;
  if (!config) {
    return fail_with(kNotifyAuthenticationFailed,
                     Error{"IKE_AUTH as '" + describe_id(idi->body) + "': authentication failed: no tunnel for that identity", EACCES});
  }
  if (auto st = verify_peer_auth(config->tunnel, inner, sa.init().request, sa.init().nr, g.keys.sk_pi, idi->body); !st) {
    return fail_with(kNotifyAuthenticationFailed,
                     Error{"IKE_AUTH as '" + describe_id(idi->body) + "': authentication failed: " + st.error().message, EACCES});
  }
  // The tunnel's configuration from now on, with the IKE suite IKE_SA_INIT negotiated and the
  // first of our ESP proposals the initiator offers too.
  SaConfig chosen = *config;
  take_ike_part(chosen.suite, sa.config().suite);
  auto offered = decode_sa(esp_p->body);
  std::optional<Proposal> esp;
  for (const Suite& o : esp_offers(chosen)) {
    for (const auto& p : offered ? *offered : std::vector<Proposal>{}) {
      if (esp || p.spi.size() != 4) continue;
      esp = choose_proposal({p}, kProtocolEsp, esp_transforms(o));
      if (esp) take_esp_part(chosen.suite, o);
    }
  }
  if (chosen.local_ts.empty()) chosen.local_ts = {chosen.tunnel.local_ts};  // empty: the tunnel's own
  if (chosen.remote_ts.empty()) chosen.remote_ts = {chosen.tunnel.remote_ts};
  sa.set_config(chosen);
  sa.child_group = chosen.pfs_group;
  const TunnelSpec& t = sa.config().tunnel;
  const Suite& suite = sa.config().suite;
  if (!esp) return fail_with(kNotifyNoProposalChosen, Error{"IKE_AUTH: no ESP proposal with the configured " + suite.esp_name(), EPROTO});
  auto tsi = decode_ts(tsi_p->body);
  auto tsr = decode_ts(tsr_p->body);
  // Narrowed to what both sides protect (2.9): several initiators may share one tunnel's
  // selectors, each with its part.
  const auto ts = tsi && tsr ? narrowed_pair(sa.config(), *tsi, *tsr) : std::nullopt;
  if (!ts) return fail_with(kNotifyTsUnacceptable, Error{"IKE_AUTH: its traffic selectors do not overlap ours", EPROTO});
  auto local_id = encode_id_data(t.local_id_type, t.local_id);
  if (!local_id) return fail_with(kNotifyAuthenticationFailed, local_id.error().context("our identity"));
  const Bytes idr = encode_typed(t.local_id_type, *local_id);
  auto ours = build_auth(t, sa.init().response, sa.init().ni, g.keys.sk_pr, idr, sa.init().peer_hashes);
  if (!ours) return fail_with(kNotifyAuthenticationFailed, ours.error().context("IKE_AUTH: our AUTH"));

  const ChildSa shape = child_shape(sa, 0, ts->first, ts->second);
  auto spi = sa.env().children->allocate_spi(shape);
  if (!spi) return fail_with(kNotifyTemporaryFailure, spi.error().context("allocating an inbound SPI"));
  Child child;
  child.sa = keyed_pair(derive_child_keys(suite, g.keys.sk_d, sa.init().ni, sa.init().nr), false, shape, *spi, get32(esp->spi, 0));
  if (auto st = install_first(sa, child); !st) return fail_with(kNotifyTemporaryFailure, st.error());
  Proposal reply = *esp;
  reply.spi = spi_bytes(*spi);
  std::vector<Payload> out = {{kIdr, false, idr}};
  out.insert(out.end(), ours->certs.begin(), ours->certs.end());
  out.insert(out.end(), {std::move(ours->auth),
                         {kSa, false, encode_sa({reply})},
                         {kTsi, false, encode_ts({ts->second})},
                         {kTsr, false, encode_ts({ts->first})}});
  sa.start_child_timers(child, now);
  sa.child_list().push_back(std::move(child));
  sa.established(now);
  return out;
}

}  // namespace sedge::ike

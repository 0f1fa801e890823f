#include "ike/responder.h"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "ike/auth.h"

namespace sedge::ike {
namespace {

constexpr uint16_t kNoProposal = 14, kInvalidKe = 17, kAuthFailed = 24, kTsUnacceptable = 38;
constexpr uint16_t kNatDetectionSource = 16388, kNatDetectionDestination = 16389;

// The initiator's proposal that carries our IKE suite, reduced to it.
std::optional<Proposal> choose_ike(const std::vector<Proposal>& offered, const Suite& s) {
  return choose_proposal(offered, 1, ike_transforms(s));
}

std::optional<Proposal> choose_esp(const std::vector<Proposal>& offered, const Suite& s) {
  for (const auto& p : offered) {
    if (p.spi.size() != 4) continue;
    if (auto chosen = choose_proposal({p}, 3, esp_transforms(s))) return chosen;
  }
  return std::nullopt;
}

bool within(const TrafficSelector& inner, const TrafficSelector& outer) {
  return std::memcmp(inner.start, outer.start, 4) >= 0 && std::memcmp(inner.end, outer.end, 4) <= 0;
}

const Payload* find(const std::vector<Payload>& payloads, uint8_t type) {
  auto it = std::find_if(payloads.begin(), payloads.end(), [type](const Payload& p) { return p.type == type; });
  return it == payloads.end() ? nullptr : &*it;
}

// What the initiator's NAT detection says (RFC 7296 2.23): it hashed what it sent from (a NAT in
// front of it when that is not where the request came from) and to (a NAT in front of us, which
// forwarded the request, when that is not our own address; unknown when we listen on any address).
bool nat_between(const std::vector<Payload>& init_payloads, uint64_t spi_i, const sockaddr_in& ours,
                 const sockaddr_in& peer) {
  bool nat = false;
  for (const auto& p : init_payloads) {
    auto n = p.type == kNotify ? decode_notify(p.body) : Result<Notify>(Error{"", 0});
    if (!n) continue;
    if (n->type == kNatDetectionSource) nat |= n->data != nat_hash(spi_i, 0, peer);
    const bool known = ours.sin_addr.s_addr != htonl(INADDR_ANY);
    if (n->type == kNatDetectionDestination && known) nat |= n->data != nat_hash(spi_i, 0, ours);
  }
  return nat;
}

}  // namespace

Result<InitOffer> read_ike_sa_init(const Message& init, const Suite& suite, Refusal* refusal) {
  *refusal = {};
  const Payload* sa_p = init.find(kSa);
  const Payload* ke_p = init.find(kKe);
  const Payload* ni_p = init.find(kNonce);
  auto ke = ke_p ? decode_ke(ke_p->body) : Result<KePayload>(Error{"no KE payload", EBADMSG});
  if (!sa_p || !ke || !ni_p || ni_p->body.size() < 16) {
    return Error{"IKE_SA_INIT lacks SA, KE or a nonce", EBADMSG};
  }
  auto offered = decode_sa(sa_p->body);
  std::optional<Proposal> chosen = offered ? choose_ike(*offered, suite) : std::nullopt;
  if (!chosen) {
    refusal->notify = kNoProposal;
    return Error{"IKE_SA_INIT: no proposal with the configured suite", EPROTO};
  }
  const uint16_t group = suite.dh_group;
  if (ke->group != group) {
    *refusal = {kInvalidKe, Bytes{static_cast<uint8_t>(group >> 8), static_cast<uint8_t>(group)}};
    return Error{"IKE_SA_INIT: KE for another group (asked for group " + std::to_string(group) + ")", EPROTO};
  }
  return InitOffer{std::move(*chosen), std::move(ke->public_value), ni_p->body, init.find(kNotify) != nullptr};
}

Result<HalfOpenSa> answer_ike_sa_init(const Suite& suite, const InitOffer& offer, uint64_t spi_i, uint64_t spi_r, Bytes init_request,
                                      const sockaddr_in& local, const sockaddr_in& peer, const std::vector<Payload>& init_payloads,
                                      const TrustStore* certreq, const FragmentConfig* fragmentation) {
  auto dh = KeyExchange::generate(suite.dh_group);
  if (!dh) return dh.error();
  HalfOpenSa half;
  EstablishedSa& sa = half.sa;
  sa.initiator = false;
  sa.spi_i = spi_i;
  sa.spi_r = spi_r;
  half.ni = offer.ni;
  half.nr = random_bytes(32);
  auto g_ir = dh->shared_secret(offer.ke);
  if (!g_ir) return g_ir.error().context("IKE_SA_INIT");
  sa.keys = derive_ike_keys(suite, g_ir->bytes(), half.ni, half.nr, sa.spi_i, sa.spi_r);
  sa.suite = suite;
  std::vector<Payload> reply = {
      {kSa, false, encode_sa({offer.chosen})}, {kKe, false, encode_ke(suite.dh_group, dh->public_value())}, {kNonce, false, half.nr}};
  sockaddr_in ours = local;
  ours.sin_port = htons(500);
  if (offer.nat_detection) {  // NAT detection, if the initiator does it
    reply.push_back({kNotify, false, encode_notify({0, {}, kNatDetectionSource, nat_hash(sa.spi_i, sa.spi_r, ours)})});
    reply.push_back({kNotify, false, encode_notify({0, {}, kNatDetectionDestination, nat_hash(sa.spi_i, sa.spi_r, peer)})});
  }
  if (certreq) {
    if (!peer_signature_hashes(init_payloads).empty()) {
      reply.push_back({kNotify, false, encode_notify({0, {}, kNotifySignatureHashAlgorithms, signature_hashes_notify_data()})});
    }
    reply.push_back(certreq_payload(*certreq));
  }
  if (fragmentation && fragmentation->announces() && announces_fragmentation(init_payloads)) {  // RFC 7383 2.3
    reply.push_back(fragmentation_supported_notify());
    sa.fragmentation = true;
    sa.fragment_size = fragment_size_for(*fragmentation, init_payloads);
  }
  const Header rh{sa.spi_i, sa.spi_r, 0, Exchange::ike_sa_init, kFlagResponse, 0, 0};
  half.init_response = serialize(rh, reply);
  half.init_request = std::move(init_request);
  half.nat = nat_between(init_payloads, sa.spi_i, ours, peer);
  return half;
}

Result<AuthAnswer> check_ike_auth(const HalfOpenSa& half, const std::vector<Payload>& inner, const TunnelLookup& tunnel_for,
                                  Refusal* refusal) {
  *refusal = {};
  const Payload* idi = find(inner, kIdi);
  const Payload* auth_p = find(inner, kAuth);
  const Payload* esp_p = find(inner, kSa);
  const Payload* tsi_p = find(inner, kTsi);
  const Payload* tsr_p = find(inner, kTsr);
  if (!idi || !auth_p || !esp_p || !tsi_p || !tsr_p || idi->body.size() < 4 || auth_p->body.size() < 4) {
    refusal->notify = 7;  // INVALID_SYNTAX
    return Error{"IKE_AUTH lacks IDi, AUTH, SA, TSi or TSr", EBADMSG};
  }
  AuthAnswer answer;
  answer.peer_id.assign(idi->body.begin() + 4, idi->body.end());
  const TunnelSpec* tunnel = tunnel_for(idi->body[0], answer.peer_id);
  const Suite& suite = half.sa.suite;
  const IkeKeys& keys = half.sa.keys;
  if (!tunnel) {
    refusal->notify = kAuthFailed;
    return Error{"IKE_AUTH as '" + describe_id(idi->body) + "': authentication failed: no tunnel for that identity", EACCES};
  }
  if (auto st = verify_peer_auth(*tunnel, inner, half.init_request, half.nr, keys.sk_pi, idi->body); !st) {
    refusal->notify = kAuthFailed;
    return Error{"IKE_AUTH as '" + describe_id(idi->body) + "': authentication failed: " + st.error().message, EACCES};
  }
  answer.tunnel = tunnel;
  auto esp_offered = decode_sa(esp_p->body);
  std::optional<Proposal> esp = esp_offered ? choose_esp(*esp_offered, suite) : std::nullopt;
  if (!esp) {
    refusal->notify = kNoProposal;
    return Error{"IKE_AUTH: no ESP proposal with the configured " + suite.esp_name(), EPROTO};
  }
  auto tsi = decode_ts(tsi_p->body);
  auto tsr = decode_ts(tsr_p->body);
  const bool ts_ok = tsi && tsr && std::any_of(tsi->begin(), tsi->end(), [&](const auto& t) { return within(tunnel->remote_ts, t); }) &&
                     std::any_of(tsr->begin(), tsr->end(), [&](const auto& t) { return within(tunnel->local_ts, t); });
  if (!ts_ok) {
    refusal->notify = kTsUnacceptable;
    return Error{"IKE_AUTH: its traffic selectors do not cover ours", EPROTO};
  }
  answer.esp = std::move(*esp);
  auto local_id = encode_id_data(tunnel->local_id_type, tunnel->local_id);
  if (!local_id) return local_id.error().context("our identity");
  answer.idr = encode_typed(tunnel->local_id_type, *local_id);
  auto init = parse(half.init_request);
  auto ours = build_auth(*tunnel, half.init_response, half.ni, keys.sk_pr, answer.idr,
                         init ? peer_signature_hashes(init->payloads) : std::vector<uint16_t>{});
  if (!ours) {
    refusal->notify = kAuthFailed;
    return ours.error().context("IKE_AUTH: our AUTH");
  }
  answer.auth = std::move(ours->auth.body);
  answer.certs = std::move(ours->certs);
  answer.child_keys = derive_child_keys(suite, keys.sk_d, half.ni, half.nr);
  return answer;
}

std::vector<Bytes> answer_ike_auth_datagrams(HalfOpenSa& half, AuthAnswer& answer, uint32_t spi_in, const sockaddr_in& peer) {
  EstablishedSa& sa = half.sa;
  const TunnelSpec& tunnel = *answer.tunnel;
  sa.child_spi_in = spi_in;
  sa.child_spi_out = get32(answer.esp.spi, 0);
  sa.local_ts = tunnel.local_ts;
  sa.remote_ts = tunnel.remote_ts;
  sa.child_keys = std::move(answer.child_keys);
  Proposal reply_esp = answer.esp;
  reply_esp.spi = {static_cast<uint8_t>(spi_in >> 24), static_cast<uint8_t>(spi_in >> 16), static_cast<uint8_t>(spi_in >> 8),
                   static_cast<uint8_t>(spi_in)};
  std::vector<Payload> out = {{kIdr, false, answer.idr}};
  out.insert(out.end(), answer.certs.begin(), answer.certs.end());
  out.insert(out.end(), {{kAuth, false, answer.auth},
                                    {kSa, false, encode_sa({reply_esp})},
                                    {kTsi, false, encode_ts({tunnel.remote_ts})},
                         {kTsr, false, encode_ts({tunnel.local_ts})}});
  const Header ah{sa.spi_i, sa.spi_r, kSk, Exchange::ike_auth, kFlagResponse, 1, 0};
  auto wire = seal_message(sa.keys.sk_er, ah, kIdr, serialize_payloads(out), sa.iv_counter, sa.fragment_size);
  sa.behind_nat = half.nat;
  sa.local_port = sa.remote_port = ntohs(peer.sin_port);
  if (half.nat) sa.local_port = 4500;
  return wire;
}

Bytes answer_ike_auth(HalfOpenSa& half, AuthAnswer& answer, uint32_t spi_in, const sockaddr_in& peer) {
  auto wire = answer_ike_auth_datagrams(half, answer, spi_in, peer);
  return wire.size() == 1 ? std::move(wire.front()) : Bytes{};  // without fragmentation (fragment_size 0): one
}

Bytes refusal_message(const Message& request, const Refusal& refusal, EstablishedSa* sa) {
  Header h = request.header;
  h.flags = kFlagResponse;
  const std::vector<Payload> n = {{kNotify, false, encode_notify({0, {}, refusal.notify, refusal.data})}};
  if (!sa) return serialize(h, n);
  h.spi_r = sa->spi_r;
  return seal(sa->keys.sk_er, h, kNotify, serialize_payloads(n), sa->iv_counter++);
}

Status Responder::listen() {
  if (auto st = ike_port_.open(config_.local, 500, false); !st) return st;
  return natt_port_.open(config_.local, 4500, true);
}

Result<Bytes> Responder::receive(int timeout_ms, sockaddr_in& from) {
  pollfd fds[2] = {{ike_port_.fd(), POLLIN, 0}, {natt_port_.fd(), POLLIN, 0}};
  if (poll(fds, 2, timeout_ms) <= 0) return Bytes{};
  active_ = (fds[0].revents & POLLIN) ? &ike_port_ : &natt_port_;
  return active_->receive(0, from);
}

// An error notify as the response: in the clear for IKE_SA_INIT, encrypted for IKE_AUTH.
Status Responder::refuse(const Message& request, const Refusal& refusal, EstablishedSa* sa) {
  if (refusal.notify == 0) return {};
  log::warning(std::string("refusing ") + (sa ? "IKE_AUTH" : "IKE_SA_INIT") + " from " + to_string(peer_) + ": " + notify_name(refusal.notify));
  return active_->send_to(refusal_message(request, refusal, sa), peer_);
}

Result<EstablishedSa> Responder::accept(std::chrono::seconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + timeout;
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count()));
  };
  // IKE_SA_INIT
  Bytes init_request;
  Message init;
  for (;;) {
    if (left_ms() == 0) return Error{"no initiator within the time limit", ETIMEDOUT};
    auto got = receive(left_ms(), peer_);
    if (!got) return got.error();
    if (got->empty()) continue;
    auto m = parse(*got);
    if (!m) {
      log::warning("dropped a malformed message: " + m.error().message);
      continue;
    }
    if (m->header.exchange != Exchange::ike_sa_init || (m->header.flags & kFlagResponse) || m->header.spi_r != 0) continue;
    init_request = std::move(*got);
    init = std::move(*m);
    break;
  }
  Refusal refusal;
  auto offer = read_ike_sa_init(init, config_.suite, &refusal);
  if (!offer) {
    (void)refuse(init, refusal, nullptr);
    return offer.error().context("from " + to_string(peer_));
  }
  auto half = answer_ike_sa_init(config_.suite, *offer, init.header.spi_i, random_ike_spi(), std::move(init_request), config_.local, peer_, init.payloads,
                                 config_.tunnel.pubkey ? &config_.tunnel.pubkey->trust : nullptr, &config_.tunnel.fragmentation);
  if (!half) return half.error().context("from " + to_string(peer_));
  EstablishedSa& sa = half->sa;
  if (auto st = active_->send_to(half->init_response, peer_); !st) return st.error();

  // IKE_AUTH (a retransmitted IKE_SA_INIT gets the same response again).
  Message auth;
  std::vector<Payload> inner;
  Reassembler fragments;  // the IKE_AUTH request may come in fragments (RFC 7383)
  for (;;) {
    if (left_ms() == 0) return Error{"IKE_AUTH from " + to_string(peer_) + " did not come", ETIMEDOUT};
    sockaddr_in from{};
    auto got = receive(left_ms(), from);
    if (!got) return got.error();
    if (got->empty() || from.sin_addr.s_addr != peer_.sin_addr.s_addr) continue;
    peer_ = from;  // the initiator may have floated to 4500
    auto m = parse(*got);
    if (!m || m->header.spi_i != sa.spi_i) continue;
    if (m->header.exchange == Exchange::ike_sa_init) {
      (void)active_->send_to(half->init_response, peer_);
      continue;
    }
    if (m->header.exchange != Exchange::ike_auth || m->header.message_id != 1) continue;
    auto decrypted = sa.fragmentation ? fragments.open(sa.keys.sk_ei, *m, *got) : open(sa.keys.sk_ei, *m, *got);
    if (!decrypted) {
      if (decrypted.error().code != EINPROGRESS) log::warning("dropped an IKE_AUTH that does not decrypt: " + decrypted.error().message);
      continue;
    }
    auth = std::move(*m);
    inner = std::move(*decrypted);
    break;
  }
  const TunnelSpec& tunnel = config_.tunnel;
  auto answer = check_ike_auth(
      *half, inner,
      [&](uint8_t type, const std::string& id) {
        return id_payload_is(tunnel.remote_id_type, tunnel.remote_id, encode_typed(type, Bytes(id.begin(), id.end()))) ? &tunnel : nullptr;
      },
      &refusal);
  if (!answer) {
    (void)refuse(auth, refusal, &sa);
    return answer.error().context("from " + to_string(peer_));
  }
  auto spi = config_.allocate_spi(peer_);
  if (!spi) return spi.error().context("allocating an inbound SPI");
  const auto response = answer_ike_auth_datagrams(*half, *answer, *spi, peer_);
  if (auto st = send_all(*active_, response, peer_); !st) return st.error();
  return std::move(half->sa);
}

}  // namespace sedge::ike

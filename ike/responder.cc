#include "ike/responder.h"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"

namespace sedge::ike {
namespace {

constexpr uint16_t kNoProposal = 14, kInvalidKe = 17, kAuthFailed = 24, kTsUnacceptable = 38;
constexpr uint16_t kNatDetectionSource = 16388, kNatDetectionDestination = 16389;
constexpr uint8_t kAuthSharedKey = 2;

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

uint32_t be32(const Bytes& b) {
  return static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 | static_cast<uint32_t>(b[2]) << 8 | b[3];
}

}  // namespace

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
Status Responder::refuse(const Message& request, uint16_t notify, const Bytes& data, const EstablishedSa* sa) {
  Header h = request.header;
  h.flags = kFlagResponse;
  const std::vector<Payload> n = {{kNotify, false, encode_notify({0, {}, notify, data})}};
  log::warning(std::string("refusing ") + (sa ? "IKE_AUTH" : "IKE_SA_INIT") + " from " + to_string(peer_) + ": " + notify_name(notify));
  if (!sa) return active_->send_to(serialize(h, n), peer_);
  h.spi_r = sa->spi_r;
  return active_->send_to(seal(sa->keys.sk_er, h, kNotify, serialize_payloads(n), 1), peer_);
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
  const Payload* sa_p = init.find(kSa);
  const Payload* ke_p = init.find(kKe);
  const Payload* ni_p = init.find(kNonce);
  if (!sa_p || !ke_p || !ni_p || ke_p->body.size() < 4 || ni_p->body.size() < 16) {
    return Error{"IKE_SA_INIT from " + to_string(peer_) + " lacks SA, KE or a nonce", EBADMSG};
  }
  auto offered = decode_sa(sa_p->body);
  std::optional<Proposal> chosen = offered ? choose_ike(*offered, config_.suite) : std::nullopt;
  if (!chosen) {
    (void)refuse(init, kNoProposal, {}, nullptr);
    return Error{"IKE_SA_INIT from " + to_string(peer_) + ": no proposal with the configured suite", EPROTO};
  }
  const uint16_t group = config_.suite.dh_group;
  if ((ke_p->body[0] << 8 | ke_p->body[1]) != group) {
    (void)refuse(init, kInvalidKe, Bytes{static_cast<uint8_t>(group >> 8), static_cast<uint8_t>(group)}, nullptr);
    return Error{"IKE_SA_INIT from " + to_string(peer_) + ": KE for another group (asked for group " + std::to_string(group) + ")",
                 EPROTO};
  }
  auto dh = KeyExchange::generate(group);
  if (!dh) return dh.error();
  EstablishedSa sa;
  sa.initiator = false;
  sa.spi_i = init.header.spi_i;
  const Bytes spi_bytes = random_bytes(8);
  for (uint8_t b : spi_bytes) sa.spi_r = sa.spi_r << 8 | b;
  const Bytes ni = ni_p->body, nr = random_bytes(32);
  auto g_ir = dh->shared_secret(std::span(ke_p->body).subspan(4));
  if (!g_ir) return g_ir.error().context("IKE_SA_INIT");
  sa.keys = derive_ike_keys(config_.suite, g_ir->bytes(), ni, nr, sa.spi_i, sa.spi_r);
  sa.suite = config_.suite;
  std::vector<Payload> reply = {{kSa, false, encode_sa({*chosen})}, {kKe, false, encode_ke(group, dh->public_value())}, {kNonce, false, nr}};
  if (init.find(kNotify)) {  // NAT detection, if the initiator does it
    sockaddr_in local = config_.local;
    local.sin_port = htons(500);
    reply.push_back({kNotify, false, encode_notify({0, {}, kNatDetectionSource, nat_hash(sa.spi_i, sa.spi_r, local)})});
    reply.push_back({kNotify, false, encode_notify({0, {}, kNatDetectionDestination, nat_hash(sa.spi_i, sa.spi_r, peer_)})});
  }
  const Header rh{sa.spi_i, sa.spi_r, 0, Exchange::ike_sa_init, kFlagResponse, 0, 0};
  const Bytes init_response = serialize(rh, reply);
  if (auto st = active_->send_to(init_response, peer_); !st) return st.error();
  // What the initiator's NAT detection says (RFC 7296 2.23): it hashed what it sent from and to.
  bool nat = false;
  for (const auto& p : init.payloads) {
    auto n = p.type == kNotify ? decode_notify(p.body) : Result<Notify>(Error{"", 0});
    if (n && n->type == kNatDetectionSource) nat |= n->data != nat_hash(sa.spi_i, 0, peer_);
  }

  // IKE_AUTH (a retransmitted IKE_SA_INIT gets the same response again).
  Bytes auth_wire;
  Message auth;
  std::vector<Payload> inner;
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
      (void)active_->send_to(init_response, peer_);
      continue;
    }
    if (m->header.exchange != Exchange::ike_auth || m->header.message_id != 1) continue;
    auto decrypted = open(sa.keys.sk_ei, *m, *got);
    if (!decrypted) {
      log::warning("dropped an IKE_AUTH that does not decrypt: " + decrypted.error().message);
      continue;
    }
    auth_wire = std::move(*got);
    auth = std::move(*m);
    inner = std::move(*decrypted);
    break;
  }
  const Payload* idi = find(inner, kIdi);
  const Payload* auth_p = find(inner, kAuth);
  const Payload* esp_p = find(inner, kSa);
  const Payload* tsi_p = find(inner, kTsi);
  const Payload* tsr_p = find(inner, kTsr);
  if (!idi || !auth_p || !esp_p || !tsi_p || !tsr_p || idi->body.size() < 4 || auth_p->body.size() < 4) {
    (void)refuse(auth, 7 /* INVALID_SYNTAX */, {}, &sa);
    return Error{"IKE_AUTH from " + to_string(peer_) + " lacks IDi, AUTH, SA, TSi or TSr", EBADMSG};
  }
  const std::string peer_id(idi->body.begin() + 4, idi->body.end());
  const Bytes expected = psk_auth(*config_.tunnel.psk, init_request, nr, sa.keys.sk_pi, idi->body);
  if (idi->body[0] != config_.tunnel.remote_id_type || peer_id != config_.tunnel.remote_id || auth_p->body[0] != kAuthSharedKey ||
      !constant_time_equal(std::span(auth_p->body).subspan(4), expected)) {
    (void)refuse(auth, kAuthFailed, {}, &sa);
    return Error{"IKE_AUTH from " + to_string(peer_) + " as '" + peer_id + "': authentication failed", EACCES};
  }
  auto esp_offered = decode_sa(esp_p->body);
  std::optional<Proposal> esp = esp_offered ? choose_esp(*esp_offered, config_.suite) : std::nullopt;
  if (!esp) {
    (void)refuse(auth, kNoProposal, {}, &sa);
    return Error{"IKE_AUTH from " + to_string(peer_) + ": no ESP proposal with the configured " + config_.suite.esp_name(), EPROTO};
  }
  auto tsi = decode_ts(tsi_p->body);
  auto tsr = decode_ts(tsr_p->body);
  const bool ts_ok = tsi && tsr && std::any_of(tsi->begin(), tsi->end(), [&](const auto& t) { return within(config_.tunnel.remote_ts, t); }) &&
                     std::any_of(tsr->begin(), tsr->end(), [&](const auto& t) { return within(config_.tunnel.local_ts, t); });
  if (!ts_ok) {
    (void)refuse(auth, kTsUnacceptable, {}, &sa);
    return Error{"IKE_AUTH from " + to_string(peer_) + ": its traffic selectors do not cover ours", EPROTO};
  }
  auto spi = config_.allocate_spi(peer_);
  if (!spi) return spi.error().context("allocating an inbound SPI");
  sa.child_spi_in = *spi;
  sa.child_spi_out = be32(esp->spi);
  sa.local_ts = config_.tunnel.local_ts;
  sa.remote_ts = config_.tunnel.remote_ts;
  sa.child_keys = derive_child_keys(config_.suite, sa.keys.sk_d, ni, nr);
  Proposal reply_esp = *esp;
  reply_esp.spi = {static_cast<uint8_t>(*spi >> 24), static_cast<uint8_t>(*spi >> 16), static_cast<uint8_t>(*spi >> 8), static_cast<uint8_t>(*spi)};
  const Bytes local_id(config_.tunnel.local_id.begin(), config_.tunnel.local_id.end());
  const Bytes idr = encode_typed(config_.tunnel.local_id_type, local_id);
  const Bytes our_auth = psk_auth(*config_.tunnel.psk, init_response, ni, sa.keys.sk_pr, idr);
  const std::vector<Payload> out = {{kIdr, false, idr},
                                    {kAuth, false, encode_typed(kAuthSharedKey, our_auth)},
                                    {kSa, false, encode_sa({reply_esp})},
                                    {kTsi, false, encode_ts({config_.tunnel.remote_ts})},
                                    {kTsr, false, encode_ts({config_.tunnel.local_ts})}};
  const Header ah{sa.spi_i, sa.spi_r, kSk, Exchange::ike_auth, kFlagResponse, 1, 0};
  if (auto st = active_->send_to(seal(sa.keys.sk_er, ah, kIdr, serialize_payloads(out), sa.iv_counter++), peer_); !st) return st.error();
  sa.behind_nat = nat;
  sa.local_port = sa.remote_port = ntohs(peer_.sin_port);
  if (nat) sa.local_port = 4500;
  return sa;
}

}  // namespace sedge::ike

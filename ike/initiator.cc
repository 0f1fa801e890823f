#include "ike/initiator.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "ike/auth.h"

namespace sedge::ike {
namespace {

constexpr uint16_t kCookie = 16390, kInvalidKe = 17, kNoProposal = 14, kAuthFailed = 24, kTsUnacceptable = 38;
constexpr uint16_t kNatDetectionSource = 16388, kNatDetectionDestination = 16389;

std::vector<Proposal> ike_proposal(const Suite& s) { return {{1, 1, {}, ike_transforms(s)}}; }

std::vector<Proposal> esp_proposal(uint32_t spi, const Suite& suite) {
  Bytes s{static_cast<uint8_t>(spi >> 24), static_cast<uint8_t>(spi >> 16), static_cast<uint8_t>(spi >> 8), static_cast<uint8_t>(spi)};
  return {{1, 3, s, esp_transforms(suite)}};
}



// An error notify in a response, as an error naming it.
Status check_notifies(const std::vector<Payload>& payloads, const char* exchange) {
  for (const auto& p : payloads) {
    if (p.type != kNotify) continue;
    auto n = decode_notify(p.body);
    if (n && n->type < 16384) {
      return Error{std::string(exchange) + ": the responder answered " + notify_name(n->type) + " (" + std::to_string(n->type) + ")",
                   EPROTO};
    }
  }
  return {};
}

Result<const Payload*> require(const std::vector<Payload>& payloads, uint8_t type, const char* what) {
  for (const auto& p : payloads) {
    if (p.type == type) return &p;
  }
  return Error{std::string("the response has no ") + what + " payload", EBADMSG};
}

// Tells the responder its authentication failed (RFC 7296 2.21.2): an INFORMATIONAL request with
// AUTHENTICATION_FAILED, retransmitted every 2 s until answered (at most 4 times: a busy peer
// drops a request it is not ready for); the IKE SA is abandoned either way.
void tell_auth_failed(const Endpoint& endpoint, const sockaddr_in& peer, EstablishedSa& sa) {
  const Header h{sa.spi_i, sa.spi_r, kSk, Exchange::informational, kFlagInitiator, 2, 0};
  const Bytes inner = serialize_payloads({{kNotify, false, encode_notify({0, {}, kAuthFailed, {}})}});
  const Bytes request = seal(sa.keys.sk_ei, h, kNotify, inner, sa.iv_counter++);
  for (int attempt = 0; attempt < 4; ++attempt) {
    (void)endpoint.send_to(request, peer);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      sockaddr_in from{};
      auto got = endpoint.receive(static_cast<int>(left), from);
      if (!got) return;
      auto m = got->empty() ? Result<Message>(Error{"", 0}) : parse(*got);
      if (m && (m->header.flags & kFlagResponse) && m->header.exchange == Exchange::informational && m->header.message_id == 2) return;
    }
  }
}

}  // namespace

const char* notify_name(uint16_t type) {
  switch (type) {
    case 1: return "UNSUPPORTED_CRITICAL_PAYLOAD";
    case 4: return "INVALID_IKE_SPI";
    case 5: return "INVALID_MAJOR_VERSION";
    case 7: return "INVALID_SYNTAX";
    case 9: return "INVALID_MESSAGE_ID";
    case kNoProposal: return "NO_PROPOSAL_CHOSEN";
    case kInvalidKe: return "INVALID_KE_PAYLOAD";
    case kAuthFailed: return "AUTHENTICATION_FAILED";
    case 34: return "SINGLE_PAIR_REQUIRED";
    case 35: return "NO_ADDITIONAL_SAS";
    case 36: return "INTERNAL_ADDRESS_FAILURE";
    case 37: return "FAILED_CP_REQUIRED";
    case kTsUnacceptable: return "TS_UNACCEPTABLE";
    case 39: return "INVALID_SELECTORS";
    case 43: return "TEMPORARY_FAILURE";
    case 44: return "CHILD_SA_NOT_FOUND";
    default: return "an error";
  }
}

// Port 500, or 4500 (an ESP-in-UDP socket) after a NAT was detected.
Status Initiator::use_port(uint16_t port, bool encapsulating) {
  peer_ = config_.remote;
  peer_.sin_port = htons(port);
  return endpoint_.open(config_.local, port, encapsulating);
}

Result<Bytes> Initiator::exchange(const std::vector<Bytes>& request, uint32_t message_id, const Take& take) {
  auto timeout = config_.first_timeout;
  for (int attempt = 0; attempt <= config_.retransmissions; ++attempt, timeout *= 2) {
    if (auto st = send_all(endpoint_, request, peer_); !st) return st.error();
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      sockaddr_in from{};
      auto got = endpoint_.receive(static_cast<int>(left.count()), from);
      if (!got) return got.error();
      if (got->empty()) continue;
      Bytes buf = std::move(*got);
      auto m = parse(buf);
      if (!m) {
        log::warning("dropped a malformed message from " + to_string(peer_) + ": " + m.error().message);
        continue;
      }
      if (from.sin_addr.s_addr != peer_.sin_addr.s_addr) continue;  // not our peer
      if ((m->header.flags & kFlagResponse) && m->header.message_id == message_id && (!take || take(*m, buf))) return buf;
    }
    log::info("no answer from " + to_string(peer_) + ", retransmitting", {{"IKE_MESSAGE_ID", std::to_string(message_id)}});
  }
  return Error{"no response from " + to_string(peer_) + " after " + std::to_string(config_.retransmissions) + " retransmissions",
               ETIMEDOUT};
}

Result<EstablishedSa> Initiator::establish() {
  if (auto st = use_port(500, false); !st) return st.error();
  auto dh = KeyExchange::generate(config_.suite.dh_group);
  if (!dh) return dh.error();
  EstablishedSa sa;
  sa.spi_i = random_ike_spi();
  const Bytes ni = random_bytes(32);

  // IKE_SA_INIT, repeated once with the responder's COOKIE if it asks for one.
  Header h{sa.spi_i, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0};
  std::vector<Payload> init = {{kSa, false, encode_sa(ike_proposal(config_.suite))}, {kKe, false, encode_ke(config_.suite.dh_group, dh->public_value())},
                               {kNonce, false, ni}};
  if (config_.nat_traversal) {
    sockaddr_in local = config_.local, remote = config_.remote;
    local.sin_port = remote.sin_port = htons(500);
    init.push_back({kNotify, false, encode_notify({0, {}, kNatDetectionSource, nat_hash(sa.spi_i, 0, local)})});
    init.push_back({kNotify, false, encode_notify({0, {}, kNatDetectionDestination, nat_hash(sa.spi_i, 0, remote)})});
  }
  if (config_.tunnel.pubkey) init.push_back({kNotify, false, encode_notify({0, {}, kNotifySignatureHashAlgorithms, signature_hashes_notify_data()})});
  if (config_.tunnel.fragmentation.announces()) init.push_back(fragmentation_supported_notify());
  Bytes request = serialize(h, init);
  Result<Bytes> response = exchange({request}, 0);
  if (!response) return response.error().context("IKE_SA_INIT");
  auto resp = parse(*response);
  if (const Payload* n = resp->find(kNotify); n && !resp->find(kSa)) {
    auto cookie = decode_notify(n->body);
    if (cookie && cookie->type == kCookie) {
      init.insert(init.begin(), {kNotify, false, encode_notify(*cookie)});
      request = serialize(h, init);
      response = exchange({request}, 0);
      if (!response) return response.error().context("IKE_SA_INIT with COOKIE");
      resp = parse(*response);
    }
  }
  if (auto st = check_notifies(resp->payloads, "IKE_SA_INIT"); !st) return st.error();
  auto chosen = resp->find(kSa) ? decode_sa(resp->find(kSa)->body) : Result<std::vector<Proposal>>(Error{"no SA payload", EBADMSG});
  if (!chosen || chosen->size() != 1 || !same_transforms((*chosen)[0].transforms, ike_transforms(config_.suite))) {
    return Error{"IKE_SA_INIT: the responder chose a proposal that was not offered", EPROTO};
  }
  const Payload* ke_p = resp->find(kKe);
  auto ke = ke_p ? decode_ke(ke_p->body) : Result<KePayload>(Error{"no KE payload", EBADMSG});
  const Payload* nr_p = resp->find(kNonce);
  if (!ke || !nr_p || ke->group != config_.suite.dh_group || nr_p->body.size() < 16) {
    return Error{"IKE_SA_INIT: the response lacks a KE for group " + std::to_string(config_.suite.dh_group) +
                     " or a nonce of at least 16 bytes",
                 EBADMSG};
  }
  sa.spi_r = resp->header.spi_r;
  const Bytes nr = nr_p->body;
  auto g_ir = dh->shared_secret(ke->public_value);
  if (!g_ir) return g_ir.error().context("IKE_SA_INIT");
  sa.keys = derive_ike_keys(config_.suite, g_ir->bytes(), ni, nr, sa.spi_i, sa.spi_r);
  sa.suite = config_.suite;
  sa.fragmentation = config_.tunnel.fragmentation.announces() && announces_fragmentation(resp->payloads);
  sa.fragment_size = fragment_size_for(config_.tunnel.fragmentation, resp->payloads);

  // NAT detection: the responder's hashes of what it saw against what we sent from and to.
  if (config_.nat_traversal) {
    sockaddr_in local = config_.local, remote = config_.remote;
    local.sin_port = remote.sin_port = htons(500);
    bool offered = false, local_ok = true, remote_ok = true;
    for (const auto& p : resp->payloads) {
      auto n = p.type == kNotify ? decode_notify(p.body) : Result<Notify>(Error{"", 0});
      if (!n) continue;
      if (n->type == kNatDetectionDestination) {
        offered = true;
        local_ok = n->data == nat_hash(sa.spi_i, sa.spi_r, local);
      } else if (n->type == kNatDetectionSource) {
        offered = true;
        remote_ok = remote_ok && n->data == nat_hash(sa.spi_i, sa.spi_r, remote);
      }
    }
    if (offered && (!local_ok || !remote_ok)) {
      sa.behind_nat = true;
      sa.local_port = sa.remote_port = 4500;
      log::info(std::string("NAT detected (") + (!local_ok ? "in front of us" : "in front of the peer") +
                "): IKE and ESP float to UDP 4500");
      if (auto st = use_port(4500, true); !st) return st.error().context("floating to 4500");
    }
  }

  // IKE_AUTH with the first CHILD_SA (and our certificates and CERTREQ, with certificates).
  auto local_id = encode_id_data(config_.tunnel.local_id_type, config_.tunnel.local_id);
  auto remote_id = encode_id_data(config_.tunnel.remote_id_type, config_.tunnel.remote_id);
  if (!local_id || !remote_id) return (local_id ? remote_id.error() : local_id.error()).context("IKE_AUTH identities");
  const Bytes idi = encode_typed(config_.tunnel.local_id_type, *local_id);
  auto auth = build_auth(config_.tunnel, request, nr, sa.keys.sk_pi, idi, peer_signature_hashes(resp->payloads));
  if (!auth) return auth.error().context("IKE_AUTH");
  std::vector<Payload> inner = {{kIdi, false, idi}};
  inner.insert(inner.end(), auth->certs.begin(), auth->certs.end());
  if (config_.tunnel.pubkey) inner.push_back(certreq_payload(config_.tunnel.pubkey->trust));
  inner.insert(inner.end(), {{kIdr, false, encode_typed(config_.tunnel.remote_id_type, *remote_id)},
                             auth->auth,
                             {kSa, false, encode_sa(esp_proposal(config_.child_spi, config_.suite))},
                             {kTsi, false, encode_ts({config_.tunnel.local_ts})},
                             {kTsr, false, encode_ts({config_.tunnel.remote_ts})}});
  const Bytes plain = serialize_payloads(inner);
  const Header ah{sa.spi_i, sa.spi_r, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0};
  // The response, reassembled if it comes in fragments (a dropped fragment is only logged).
  Reassembler fragments;
  Result<std::vector<Payload>> ap = Error{"no response", EBADMSG};
  auto take = [&](const Message& m, const Bytes& wire) {
    ap = sa.fragmentation ? fragments.open(sa.keys.sk_er, m, wire) : open(sa.keys.sk_er, m, wire);
    if (ap || ap.error().code == EINPROGRESS) return ap.ok();
    if (!m.find(kSkf)) return true;
    log::warning("IKE_AUTH: " + ap.error().message);
    return false;
  };
  auto auth_response = exchange(seal_message(sa.keys.sk_ei, ah, kIdi, plain, sa.iv_counter, sa.fragment_size), 1, take);
  if (!auth_response) return auth_response.error().context("IKE_AUTH");
  if (!ap) return ap.error().context("IKE_AUTH");
  if (auto st = check_notifies(*ap, "IKE_AUTH"); !st) return st.error();
  auto idr = require(*ap, kIdr, "IDr");
  auto rauth = require(*ap, kAuth, "AUTH");
  if (!idr || !rauth) return (idr ? rauth.error() : idr.error()).context("IKE_AUTH");
  if (!id_payload_is(config_.tunnel.remote_id_type, config_.tunnel.remote_id, (*idr)->body)) {
    tell_auth_failed(endpoint_, peer_, sa);
    return Error{"IKE_AUTH: the responder identified as " + describe_id((*idr)->body) + ", not " + config_.tunnel.remote_id, EACCES};
  }
  if (auto st = verify_peer_auth(config_.tunnel, *ap, *response, ni, sa.keys.sk_pr, (*idr)->body); !st) {
    log::warning("AUTHENTICATION_FAILED: the responder " + describe_id((*idr)->body) + " is refused: " + st.error().message);
    tell_auth_failed(endpoint_, peer_, sa);
    return Error{"IKE_AUTH: the responder's AUTH does not verify: " + st.error().message, EACCES};
  }
  auto child_sa = require(*ap, kSa, "SA");
  auto tsi = require(*ap, kTsi, "TSi");
  auto tsr = require(*ap, kTsr, "TSr");
  if (!child_sa || !tsi || !tsr) return Error{"IKE_AUTH: the response has no CHILD_SA (SA, TSi, TSr)", EPROTO};
  auto esp = decode_sa((*child_sa)->body);
  if (!esp || esp->size() != 1 || (*esp)[0].spi.size() != 4 || (*esp)[0].protocol != 3) {
    return Error{"IKE_AUTH: the responder's ESP proposal is malformed", EBADMSG};
  }
  if (!choose_proposal(*esp, 3, esp_transforms(config_.suite))) {
    return Error{"IKE_AUTH: the responder chose an ESP proposal that was not offered (" + config_.suite.esp_name() + ")", EPROTO};
  }
  auto local_ts = decode_ts((*tsi)->body);
  auto remote_ts = decode_ts((*tsr)->body);
  if (!local_ts || !remote_ts || local_ts->empty() || remote_ts->empty()) return Error{"IKE_AUTH: no traffic selectors", EBADMSG};
  const auto& spi = (*esp)[0].spi;
  sa.child_spi_in = config_.child_spi;
  sa.child_spi_out = get32(spi, 0);
  sa.local_ts = local_ts->front();
  sa.remote_ts = remote_ts->front();
  sa.child_keys = derive_child_keys(config_.suite, sa.keys.sk_d, ni, nr);
  return sa;
}

}  // namespace sedge::ike

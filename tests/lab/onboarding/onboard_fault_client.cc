// A test-only onboarding client: the router's side of the port 930 protocol, spoken with the
// real onboarding library (TPM, TLS, WebSocket channel, quote binding) and exactly one deviation
// chosen by --fault, so that the conductor's refusals are exercised end to end:
//   ak-public             hello carries --ak-public FILE (a TPM2B_PUBLIC, e.g. an AK tpm2-tools
//   created
//                         without fixedTPM/fixedParent) as the AK
//   stale-nonce           the quote is over a random nonce, not the challenge's
//   replayed-quote        two sessions, each answered with its own activated secret and the
//                         quote made for the other (a replayed proof)
//   foreign-exporter      two sessions, each quote over its own nonce but bound to the other
//                         TLS session's exporter
//   stop-after-challenge  prints "challenge received" and holds the session until the
//                         conductor goes away (to cut a session mid-way)
// Prints "refused: <reason>" and exits 1 when the conductor refuses, "certificate issued" and
// exits 2 when it does not, "session cut: <why>" and exits 3 when the session ends otherwise.
// Usage: onboard-fault-client --tcti TCTI --token FILE --port PORT --fault FAULT [--ak-public FILE]
#include <openssl/rand.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/base64.h"
#include "common/files.h"
#include "common/hex.h"
#include "onboarding/channel.h"
#include "onboarding/conductor/token.h"
#include "onboarding/protocol.h"
#include "onboarding/router.h"
#include "onboarding/tls.h"
#include "onboarding/tpm.h"

namespace ob = sedge::onboarding;
using json = nlohmann::json;
using sedge::Error;
using sedge::Result;
using sedge::Status;

namespace {

constexpr int kReplyTimeoutMs = 30000;

// What the router prepares before it connects: the EK, the AK beside it, the TLS key.
struct Keys {
  std::unique_ptr<ob::Tpm> tpm;
  ob::EkPublic ek;
  ob::KeyPublic ak;
  ob::Bytes ak_public;  // what hello presents as the AK (the AK's own unless --fault ak-public)
  ob::Bytes tls_spki;
};

// One session on port 930, up to the challenge.
struct Session {
  std::unique_ptr<ob::Channel> channel;
  ob::Bytes credential, secret, nonce;
};

struct Target {
  std::string host;
  uint16_t port = 0;
  ob::Bytes pin;
};

Result<Keys> prepare(const std::string& tcti) {
  Keys k;
  auto tpm = ob::Tpm::open(tcti);
  if (!tpm) return tpm.error();
  k.tpm = std::move(*tpm);
  if (auto checked = k.tpm->checked_ek(ob::EkProfile::kRsa2048); !checked) return checked.error();
  auto ek = k.tpm->persist_ek(ob::EkProfile::kRsa2048, ob::kDefaultEkHandle);
  if (!ek) return ek.error();
  k.ek = std::move(*ek);
  auto ak = k.tpm->create_ak();
  if (!ak) return ak.error();
  k.ak = std::move(*ak);
  k.ak_public = k.ak.public_area;
  auto tls_key = k.tpm->create_tls_key();
  if (!tls_key) return tls_key.error();
  auto spki = ob::public_key_der(tls_key->area);
  if (!spki) return spki.error();
  k.tls_spki = std::move(*spki);
  return k;
}

// The conductor's next message of `type`; its "error" becomes an Error carrying the reason.
Result<json> expect(ob::Channel& channel, const char* type) {
  auto m = channel.receive(kReplyTimeoutMs);
  if (!m) return m.error();
  std::string got = m->value("type", "");
  if (got == "error") return Error{"refused: " + m->value("reason", "(no reason given)"), EACCES};
  if (got != type) return Error{std::string("expected ") + type + ", got " + got, EPROTO};
  return m;
}

Result<ob::Bytes> b64(const json& m, const char* field) {
  return sedge::base64_decode(m.value(field, ""));
}

Result<Session> open_session(const Target& t, const sedge::Secret& token, const Keys& k) {
  auto conn = ob::tls::connect({t.host, t.port, t.pin, nullptr, 10000});
  if (!conn) return conn.error();
  auto channel =
      ob::Channel::open(std::move(*conn), t.host, std::string(ob::protocol::kOnboardPath));
  if (!channel) return channel.error();
  Session s{std::move(*channel), {}, {}, {}};
  if (auto sent = s.channel->send(json{{"type", "hello"},
                                       {"token", std::string(token.view())},
                                       {"ak_public", sedge::base64_encode(k.ak_public)},
                                       {"tls_public", sedge::base64_encode(k.tls_spki)}});
      !sent)
    return sent.error();
  auto challenge = expect(*s.channel, "challenge");
  if (!challenge) return challenge.error();
  auto credential = b64(*challenge, "credential");
  auto secret = b64(*challenge, "secret");
  auto nonce = b64(*challenge, "nonce");
  if (!credential || !secret || !nonce) return Error{"malformed challenge", EPROTO};
  s.credential = std::move(*credential);
  s.secret = std::move(*secret);
  s.nonce = std::move(*nonce);
  return s;
}

// This session's credential activated, and a quote over (nonce, exporter, TLS key) as given.
Result<json> proof(Keys& k, Session& s, ob::ByteView nonce, ob::ByteView exporter) {
  auto activated =
      k.tpm->activate_credential(k.ek.handle, k.ak.handle, ob::Credential{s.credential, s.secret});
  if (!activated) return activated.error();
  auto qualifying = ob::protocol::quote_qualifying_data(nonce, exporter, k.tls_spki);
  auto quote = k.tpm->quote(k.ak.handle, qualifying,
                            {ob::PcrSelection{ob::alg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}}});
  if (!quote) return quote.error();
  return json{{"type", "proof"},
              {"secret", sedge::base64_encode(activated->bytes())},
              {"attest", sedge::base64_encode(quote->attest)},
              {"signature", sedge::base64_encode(quote->signature)}};
}

Result<ob::Bytes> exporter(Session& s) {
  return s.channel->connection().exporter(ob::protocol::kExporterBytes);
}

// Sends the proof and reports the conductor's answer: 1 refused, 2 certificate issued, 3 other.
int conclude(Session& s, const Result<json>& p) {
  if (!p) return std::cout << "session cut: " << p.error().message << std::endl, 3;
  if (auto sent = s.channel->send(*p); !sent)
    return std::cout << "session cut: " << sent.error().message << std::endl, 3;
  auto issued = expect(*s.channel, "certificate");
  if (issued) return std::cout << "certificate issued" << std::endl, 2;
  std::cout << issued.error().message << std::endl;
  return issued.error().code == EACCES ? 1 : 3;
}

int run_fault(const std::string& fault, const Target& t, const sedge::Secret& token, Keys& k) {
  auto first = open_session(t, token, k);
  if (!first)
    return std::cout << first.error().message << std::endl, first.error().code == EACCES ? 1 : 3;
  auto first_exporter = exporter(*first);
  if (!first_exporter)
    return std::cout << "session cut: " << first_exporter.error().message << std::endl, 3;
  if (fault == "stop-after-challenge") {
    std::cout << "challenge received" << std::endl;
    for (;;) {
      auto m = first->channel->receive(1000);
      if (!m && m.error().code != ETIMEDOUT)
        return std::cout << "session cut: " << m.error().message << std::endl, 3;
    }
  }
  if (fault == "stale-nonce") {
    ob::Bytes stale(ob::protocol::kNonceBytes);
    RAND_bytes(stale.data(), static_cast<int>(stale.size()));
    return conclude(*first, proof(k, *first, stale, *first_exporter));
  }
  // The remaining faults cross two concurrent sessions with the same token, each answered
  // with what belongs to the other: both are refused, so the conductor's last word is the
  // refusal whichever session it ends first.
  auto second = open_session(t, token, k);
  if (!second) return std::cout << second.error().message << std::endl, 3;
  auto second_exporter = exporter(*second);
  if (!second_exporter)
    return std::cout << "session cut: " << second_exporter.error().message << std::endl, 3;
  Result<json> p1 = Error{""}, p2 = Error{""};
  if (fault == "foreign-exporter") {
    // A quote over the session's own nonce, bound to the other session's TLS exporter.
    p1 = proof(k, *first, first->nonce, *second_exporter);
    p2 = proof(k, *second, second->nonce, *first_exporter);
  } else {
    // replayed-quote: each session's own credential activated, and the other's quote, honestly
    // made for that session, replayed in it.
    p1 = proof(k, *first, first->nonce, *first_exporter);
    p2 = proof(k, *second, second->nonce, *second_exporter);
    if (p1 && p2) {
      std::swap((*p1)["attest"], (*p2)["attest"]);
      std::swap((*p1)["signature"], (*p2)["signature"]);
    }
  }
  int r2 = conclude(*second, p2);
  int r1 = conclude(*first, p1);
  return r1 == r2 ? r1 : std::max(r1, r2);
}

int usage() {
  std::cerr << "usage: onboard-fault-client --tcti TCTI --token FILE --port PORT --fault "
               "ak-public|stale-nonce|replayed-quote|foreign-exporter|stop-after-challenge "
               "[--ak-public FILE]\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  for (int i = 1; i + 1 < argc; i += 2) opt[argv[i]] = argv[i + 1];
  const std::string ak_file = opt["--ak-public"];
  const std::string fault = opt["--fault"];
  static const char* kFaults[] = {"ak-public", "stale-nonce", "replayed-quote", "foreign-exporter",
                                  "stop-after-challenge"};
  if (std::none_of(std::begin(kFaults), std::end(kFaults),
                   [&](const char* f) { return fault == f; }) ||
      opt["--tcti"].empty() || opt["--token"].empty() || (fault == "ak-public" && ak_file.empty()))
    return usage();
  auto token = ob::read_token_file(opt["--token"]);
  if (!token) return std::cerr << token.error().message << std::endl, 64;
  auto claims = sedge::conductor::read_claims_unverified(token->view());
  auto pin = claims ? sedge::from_hex(claims->conductor_pin)
                    : Result<std::vector<uint8_t>>(claims.error());
  if (!pin) return std::cerr << pin.error().message << std::endl, 64;
  Target t{"127.0.0.1",
           static_cast<uint16_t>(std::stoi(opt.count("--port") ? opt["--port"] : "930")), *pin};
  auto keys = prepare(opt["--tcti"]);
  if (!keys) return std::cerr << keys.error().message << std::endl, 64;
  if (fault == "ak-public") {
    auto bytes = sedge::read_file(ak_file);
    if (!bytes) return std::cerr << bytes.error().message << std::endl, 64;
    keys->ak_public.assign(bytes->begin(), bytes->end());
  }
  return run_fault(fault, t, *token, *keys);
}

#include "onboarding/router.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"
#include "onboarding/channel.h"
#include "onboarding/conductor/token.h"
#include "onboarding/protocol.h"
#include "onboarding/tls.h"

namespace sedge::onboarding {
namespace {

using json = nlohmann::json;

constexpr int kReplyTimeoutMs = 30000;

std::string state_file(const std::string& dir) { return dir + "/state.json"; }

// "host:port" (or "[v6]:port") into its parts.
Status split_host_port(const std::string& text, std::string& host, uint16_t& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return Error{"conductor address " + text + " has no port"};
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long p = std::strtoul(text.c_str() + colon + 1, nullptr, 10);
  if (p == 0 || p > 65535) return Error{"conductor address " + text + " has a bad port"};
  port = static_cast<uint16_t>(p);
  return {};
}

// The conductor's answer; an "error" message becomes an Error with its reason.
Result<json> expect(Channel& channel, const char* type) {
  auto m = channel.receive(kReplyTimeoutMs);
  if (!m) return m.error();
  std::string got = m->value("type", "");
  if (got == "error") return Error{"the conductor refused: " + m->value("reason", "(no reason given)"), EACCES};
  if (got != type) return Error{std::string("expected ") + type + " from the conductor, got " + got, EPROTO};
  return m;
}

Result<Bytes> b64(const json& m, const char* field) {
  auto it = m.find(field);
  if (it == m.end() || !it->is_string()) return Error{std::string("the conductor's message has no ") + field, EPROTO};
  return base64_decode(it->get<std::string>());
}

void use_tpm_for_openssl(const std::string& tcti) {
  // The tpm2 provider takes its TCTI from the environment; set before it loads.
  ::setenv("TPM2OPENSSL_TCTI", tcti.c_str(), 1);
}

Status save_state(const std::string& dir, const OnboardState& s, const std::string& cert_pem, const std::string& ca_pem) {
  ::mkdir(dir.c_str(), 0700);
  if (auto w = write_file_atomic(s.certificate_file, cert_pem, 0644); !w) return w;
  if (auto w = write_file_atomic(s.ca_file, ca_pem, 0644); !w) return w;
  json j = {{"router_id", s.router_id},           {"conductor", s.conductor_host},
            {"port", s.port},                     {"management_port", s.management_port},
            {"pin", s.pin},                       {"certificate", s.certificate_file},
            {"ca", s.ca_file},                    {"tls_key_handle", s.tls_key_handle},
            {"completed_at", s.completed_at}};
  return write_file_atomic(state_file(dir), j.dump(2) + "\n", 0644);
}

// The keys onboarding uses: the AK (beside the EK for the EK identity, under the storage root
// key for the IDevID one) and the key the router certificate will be for.
struct AttestationKeys {
  uint32_t ek_handle = 0;
  KeyPublic ak;
  KeyPublic tls_key;
};

Result<AttestationKeys> attestation_keys(Tpm& tpm, const RouterOptions& o) {
  AttestationKeys k;
  AkOptions ak_options = o.ak;
  if (o.identity == protocol::kIdentityIdevid) {
    ak_options.parent = AkParent::kStorage;
    if (auto idevid = tpm.read_public(o.idevid_handle); !idevid)
      return idevid.error().context("the IDevID key");
  } else {
    // The EK checked against its certificate and persisted, the AK beside it.
    if (auto ek = tpm.checked_ek(o.ek_profile); !ek) return ek.error();
    ak_options.ek_profile = o.ek_profile;
    ak_options.ek_handle = ek_handle(o.ek_profile);
    auto ek = tpm.persist_ek(o.ek_profile, ak_options.ek_handle);
    if (!ek) return ek.error();
    k.ek_handle = ek->handle;
  }
  auto ak = tpm.create_ak(ak_options);
  if (!ak) return ak.error();
  k.ak = std::move(*ak);
  auto tls_key = tpm.create_tls_key(o.tls_key);
  if (!tls_key) return tls_key.error();
  k.tls_key = std::move(*tls_key);
  return k;
}

// The EK identity's answer: the conductor's secret, recovered by ActivateCredential.
Result<json> ek_proof(Tpm& tpm, const AttestationKeys& keys, const json& challenge) {
  auto id_object = b64(challenge, "credential");
  auto encrypted = b64(challenge, "secret");
  if (!id_object || !encrypted)
    return Error{"the conductor's challenge has no credential (it expects the EK identity)",
                 EPROTO};
  auto secret =
      tpm.activate_credential(keys.ek_handle, keys.ak.handle, Credential{*id_object, *encrypted});
  if (!secret) return secret.error().context("activating the conductor's credential");
  return json{{"secret", base64_encode(secret->bytes())}};
}

// The IDevID identity's answer: TPM2_Certify of the AK by the IDevID key over the same
// session-bound qualifying data the quote signs.
Result<json> idevid_proof(Tpm& tpm, const RouterOptions& o, const AttestationKeys& keys,
                          const Bytes& qualifying) {
  auto certify = tpm.certify(o.idevid_handle, keys.ak.handle, qualifying);
  if (!certify) return certify.error().context("certifying the AK with the IDevID key");
  return json{{"certify_attest", base64_encode(certify->attest)},
              {"certify_signature", base64_encode(certify->signature)}};
}

}  // namespace

Result<OnboardState> load_state(const std::string& state_dir) {
  auto text = read_file(state_file(state_dir));
  if (!text) return text.error();
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error{state_file(state_dir) + " is not valid JSON", EBADMSG};
  try {
    OnboardState s;
    s.router_id = j.at("router_id").get<std::string>();
    s.conductor_host = j.at("conductor").get<std::string>();
    s.port = j.at("port").get<uint16_t>();
    s.management_port = j.at("management_port").get<uint16_t>();
    s.pin = j.at("pin").get<std::string>();
    s.certificate_file = j.at("certificate").get<std::string>();
    s.ca_file = j.at("ca").get<std::string>();
    s.tls_key_handle = j.at("tls_key_handle").get<uint32_t>();
    s.completed_at = j.at("completed_at").get<int64_t>();
    return s;
  } catch (const json::exception& e) {
    return Error{state_file(state_dir) + ": " + e.what(), EBADMSG};
  }
}

Status reset_state(const std::string& state_dir) {
  if (::unlink(state_file(state_dir).c_str()) != 0 && errno != ENOENT) return Error::sys("removing " + state_file(state_dir));
  return {};
}

Result<OnboardState> onboard(const RouterOptions& o, const Secret& token) {
  if (auto done = load_state(o.state_dir); done)
    return Error{"already onboarded to " + done->conductor_host + " as " + done->router_id +
                     " (sedgectl onboard reset to start again)",
                 EALREADY};
  auto claims = conductor::read_claims_unverified(token.view());
  if (!claims) return claims.error();
  if (!o.router_id.empty() && claims->router_id != o.router_id)
    return Error{"the token is for router " + claims->router_id + ", this router is " + o.router_id, EINVAL};
  OnboardState st;
  st.router_id = claims->router_id;
  st.pin = claims->conductor_pin;
  st.management_port = o.management_port;
  st.tls_key_handle = o.tls_key.handle;
  if (auto s = split_host_port(claims->conductor, st.conductor_host, st.port); !s) return s.error();
  if (!o.conductor.empty()) st.conductor_host = o.conductor;
  if (o.port != 0) st.port = o.port;
  auto pin = from_hex(st.pin);
  if (!pin) return pin.error().context("the token's conductor pin");

  auto tpm = Tpm::open(o.tcti);
  if (!tpm) return tpm.error();
  auto keys = attestation_keys(**tpm, o);
  if (!keys) return keys.error();
  auto tls_spki = public_key_der(keys->tls_key.area);
  if (!tls_spki) return tls_spki.error();

  // Port 930: TLS to the pinned conductor, then the WebSocket.
  auto conn = tls::connect({st.conductor_host, st.port, *pin, nullptr, 10000});
  if (!conn) return conn.error();
  const std::string where = st.conductor_host + ":" + std::to_string(st.port);
  auto channel = Channel::open(std::move(*conn), where, std::string(protocol::kOnboardPath));
  if (!channel) return channel.error();
  Channel& ch = **channel;
  std::string token_text(token.view());
  Status sent = ch.send(json{{"type", "hello"},
                             {"token", token_text},
                             {"identity", o.identity},
                             {"ak_public", base64_encode(keys->ak.public_area)},
                             {"tls_public", base64_encode(*tls_spki)}});
  OPENSSL_cleanse(token_text.data(), token_text.size());
  if (!sent) return sent.error();
  auto challenge = expect(ch, "challenge");
  if (!challenge) return challenge.error();
  auto nonce = b64(*challenge, "nonce");
  if (!nonce) return Error{"the conductor's challenge is malformed", EPROTO};
  if (nonce->size() != protocol::kNonceBytes)
    return Error{"the conductor's nonce is not 32 bytes", EPROTO};
  auto exporter = ch.connection().exporter(protocol::kExporterBytes);
  if (!exporter) return exporter.error();
  auto qualifying = protocol::quote_qualifying_data(*nonce, *exporter, *tls_spki);
  auto proof = o.identity == protocol::kIdentityIdevid ? idevid_proof(**tpm, o, *keys, qualifying)
                                                       : ek_proof(**tpm, *keys, *challenge);
  if (!proof) return proof.error();
  auto quote = (*tpm)->quote(keys->ak.handle, qualifying,
                             {PcrSelection{alg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}}});
  if (!quote) return quote.error();
  (*proof)["type"] = "proof";
  (*proof)["attest"] = base64_encode(quote->attest);
  (*proof)["signature"] = base64_encode(quote->signature);
  if (auto s = ch.send(*proof); !s) return s.error();
  auto issued = expect(ch, "certificate");
  if (!issued) return issued.error();
  st.certificate_file = o.state_dir + "/router.crt";
  st.ca_file = o.state_dir + "/ca.crt";
  st.completed_at = static_cast<int64_t>(::time(nullptr));
  if (auto s = save_state(o.state_dir, st, issued->value("certificate", ""), issued->value("ca", "")); !s) return s.error();
  ch.close(websocket::close_code::kNormal, "onboarded");
  log::notice("onboarded to the conductor", {{"ROUTER", st.router_id}, {"CONDUCTOR", where}});
  return st;
}

Result<Secret> read_token_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  std::string_view v(*text);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  Secret token(v);
  OPENSSL_cleanse(text->data(), text->size());
  if (token.empty()) return Error{path + " is empty"};
  return token;
}

namespace {

bool transient(const Error& e) {
  for (int code : {ECONNREFUSED, ETIMEDOUT, ECONNRESET, EHOSTUNREACH, ENETUNREACH, EPIPE})
    if (e.code == code) return true;
  return false;
}

void sleep_unless_stopped(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  for (auto end = std::chrono::steady_clock::now() + d; !stop.load() && std::chrono::steady_clock::now() < end;)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

}  // namespace

Result<OnboardState> onboard_with_retries(const RouterOptions& options, const Secret& token,
                                          const std::atomic<bool>& stop,
                                          const std::function<void(const Error&, int)>& on_retry) {
  int delay = 1;
  for (;;) {
    auto state = onboard(options, token);
    if (state || !transient(state.error()) || stop.load()) return state;
    on_retry(state.error(), delay);
    sleep_unless_stopped(std::chrono::seconds(delay), stop);
    if (stop.load()) return state;
    delay = std::min(delay * 2, 60);
  }
}

Status hold_management_channel(const OnboardState& st, const std::string& tcti, const std::atomic<bool>& stop,
                               const std::function<void(bool, const std::string&)>& on_change, int ping_seconds) {
  use_tpm_for_openssl(tcti);
  if (auto s = tls::load_providers(true); !s) return s;
  auto pin = from_hex(st.pin);
  if (!pin) return pin.error();
  char handle[32];
  std::snprintf(handle, sizeof handle, "handle:0x%08x", st.tls_key_handle);
  tls::Identity identity{st.certificate_file, handle};
  const std::string where = st.conductor_host + ":" + std::to_string(st.management_port);
  auto backoff = std::chrono::seconds(1);
  while (!stop.load()) {
    auto conn = tls::connect({st.conductor_host, st.management_port, *pin, &identity, 10000});
    Result<std::unique_ptr<Channel>> channel =
        conn ? Channel::open(std::move(*conn), where, std::string(protocol::kManagePath)) : Result<std::unique_ptr<Channel>>(conn.error());
    Status ended;
    if (channel) {
      Channel& ch = **channel;
      auto welcome = ch.send(json{{"type", "hello"}, {"router_id", st.router_id}}) ? expect(ch, "welcome")
                                                                                  : Result<json>(Error{"sending hello failed"});
      if (welcome) {
        on_change(true, where);
        backoff = std::chrono::seconds(1);
        auto last_ping = std::chrono::steady_clock::now();
        while (!stop.load()) {
          auto m = ch.receive(500);
          if (!m && m.error().code != ETIMEDOUT) {
            ended = m.error();
            break;
          }
          if (std::chrono::steady_clock::now() - last_ping >= std::chrono::seconds(ping_seconds)) {
            if (auto p = ch.ping(); !p) {
              ended = p.error();
              break;
            }
            last_ping = std::chrono::steady_clock::now();
          }
        }
        if (stop.load()) ch.close(websocket::close_code::kGoingAway, "router stopping");
      } else {
        ended = welcome.error();
      }
    } else {
      ended = channel.error();
    }
    if (stop.load()) break;
    on_change(false, ended ? std::string("closed") : ended.error().message);
    sleep_unless_stopped(backoff, stop);
    backoff = std::min(backoff * 2, std::chrono::seconds(60));
  }
  return {};
}

}  // namespace sedge::onboarding

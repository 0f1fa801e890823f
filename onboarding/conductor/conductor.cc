#include "onboarding/conductor/conductor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <list>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"
#include "common/openssl.h"
#include "onboarding/credential.h"
#include "onboarding/protocol.h"
#include "onboarding/quote.h"
#include "onboarding/tls.h"
#include "onboarding/tpm_wire.h"

namespace sedge::conductor {
namespace {

namespace ob = sedge::onboarding;
namespace protocol = sedge::onboarding::protocol;
using json = nlohmann::json;

int64_t now() { return static_cast<int64_t>(::time(nullptr)); }

Result<Bytes> random_bytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) return Error{"the random generator failed"};
  return out;
}

// A string field that must be present and base64.
Result<Bytes> b64_field(const json& message, const char* field) {
  auto it = message.find(field);
  if (it == message.end() || !it->is_string()) return Error{std::string("missing field ") + field, EBADMSG};
  auto bytes = base64_decode(it->get<std::string>());
  if (!bytes) return bytes.error().context(field);
  return bytes;
}

Result<std::string> string_field(const json& message, const char* field) {
  auto it = message.find(field);
  if (it == message.end() || !it->is_string()) return Error{std::string("missing field ") + field, EBADMSG};
  return it->get<std::string>();
}

Status expect_type(const json& message, const char* type) {
  auto t = string_field(message, "type");
  if (!t) return t.error();
  if (*t != type) return Error{"expected a " + std::string(type) + " message, got " + *t, EPROTO};
  return {};
}

// The EK's public area from the registered EK certificate, for MakeCredential.
Result<ob::PublicArea> ek_area(const std::string& idtoken_json) {
  auto token = json::parse(idtoken_json, nullptr, false);
  if (token.is_discarded()) return Error{"the registered device ID token is not JSON"};
  auto der = b64_field(token, "ek_certificate");
  if (!der) return der.error();
  const unsigned char* p = der->data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der->size())));
  if (!cert) return Error{"the registered EK certificate is not DER"};
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  ob::EkProfile profile = ob::EkProfile::kRsa2048;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    profile = EVP_PKEY_get_bits(key) > 256 ? ob::EkProfile::kEccP384 : ob::EkProfile::kEccP256;
  }
  return ob::ek_public_from_key(profile, key);
}

// The registered identity kind of a device ID token: "ek" unless it says "idevid".
std::string identity_kind(const json& idtoken) {
  auto it = idtoken.find("identity");
  return it != idtoken.end() && it->is_string() ? it->get<std::string>()
                                                : std::string(protocol::kIdentityEk);
}

// The identity kind a router registered with (its device ID token says).
std::string identity_kind(const RouterRecord& router) {
  return identity_kind(json::parse(router.idtoken, nullptr, false));
}

const char* identity_label(const std::string& kind) {
  return kind == protocol::kIdentityIdevid ? "IDevID key" : "EK";
}

// The identity key's SubjectPublicKeyInfo, checked: its certificate chains to a manufacturer CA
// and is for the token's public key; an IDevID key's TPM public area is that key and a device
// identity key (fixedTPM, signing).
Result<Bytes> checked_identity(const json& token, const std::string& kind,
                               const std::string& ca_dir) {
  const bool idevid = kind == protocol::kIdentityIdevid;
  if (!idevid && kind != protocol::kIdentityEk)
    return Error{"unknown identity '" + kind + "' (ek or idevid)", EINVAL};
  const std::string what = idevid ? "the IDevID certificate" : "the EK certificate";
  auto cert = b64_field(token, idevid ? "idevid_certificate" : "ek_certificate");
  if (!cert) return cert.error().context("device ID token");
  auto spki = b64_field(token, idevid ? "idevid_public_key" : "ek_public_key");
  if (!spki) return spki.error().context("device ID token");
  if (auto s = verify_with_cas(*cert, ca_dir); !s) return s.error().context(what);
  auto cert_spki = certificate_spki(*cert);
  if (!cert_spki) return cert_spki.error().context(what);
  if (*cert_spki != *spki)
    return Error{"the device ID token's public key is not " + what + "'s", EINVAL};
  if (!idevid) return spki;
  auto wire = b64_field(token, "idevid_public");
  if (!wire) return wire.error().context("device ID token");
  auto area = ob::parse_public(*wire);
  if (!area) return area.error().context("the IDevID key's public area");
  if (auto s = ob::check_idevid_attributes(*area); !s) return s.error();
  auto area_spki = ob::public_key_der(*area);
  if (!area_spki || *area_spki != *spki)
    return Error{"the IDevID key's TPM public area is not its certificate's key", EINVAL};
  return spki;
}

// The public key of the registered IDevID certificate (the Certify's signer), once the
// certificate still chains to a manufacturer CA (trust withdrawn or the certificate expired
// since registration: refused).
Result<PkeyPtr> idevid_key(const std::string& idtoken_json, const std::string& ca_dir) {
  auto token = json::parse(idtoken_json, nullptr, false);
  if (token.is_discarded()) return Error{"the registered device ID token is not JSON"};
  auto der = b64_field(token, "idevid_certificate");
  if (!der) return der.error();
  if (auto s = verify_with_cas(*der, ca_dir); !s)
    return s.error().context("the IDevID certificate");
  const unsigned char* p = der->data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der->size())));
  if (!cert) return Error{"the registered IDevID certificate is not DER"};
  return PkeyPtr(X509_get_pubkey(cert.get()));
}

// The router's answer to a challenge.
Result<json> receive_proof(ob::Channel& channel) {
  auto proof = channel.receive(30000);
  if (!proof) return proof.error().context("no proof");
  if (auto s = expect_type(*proof, "proof"); !s) return s.error();
  return proof;
}

// The EK path's challenge: a secret only the TPM holding the registered EK can recover, and
// only for this AK, and the nonce. The proof must carry the secret back.
Result<json> challenge_ek(ob::Channel& channel, const RouterRecord& router, const Bytes& ak_name,
                          const Bytes& nonce) {
  auto ek = ek_area(router.idtoken);
  if (!ek) return ek.error();
  auto secret_bytes = random_bytes(protocol::kSecretBytes);
  if (!secret_bytes) return secret_bytes.error();
  Secret secret(*secret_bytes);
  OPENSSL_cleanse(secret_bytes->data(), secret_bytes->size());
  auto credential = ob::make_credential(*ek, ak_name, secret);
  if (!credential) return credential.error();
  if (auto s = channel.send(json{{"type", "challenge"},
                                 {"credential", base64_encode(credential->id_object)},
                                 {"secret", base64_encode(credential->encrypted_secret)},
                                 {"nonce", base64_encode(nonce)}});
      !s)
    return s.error();
  auto proof = receive_proof(channel);
  if (!proof) return proof.error();
  auto activated = b64_field(*proof, "secret");
  if (!activated) return activated.error();
  if (activated->size() != secret.size() ||
      CRYPTO_memcmp(activated->data(), secret.bytes().data(), secret.size()) != 0)
    return Error{
        "the credential was not activated: the AK is not in the TPM that holds the registered EK",
        EACCES};
  return proof;
}

// The IDevID path's challenge: the nonce only. The proof must carry a TPM2_Certify of the AK by
// the registered IDevID key over the session-bound qualifying data.
Result<json> challenge_idevid(ob::Channel& channel, const RouterRecord& router,
                              const std::string& ca_dir, const Bytes& ak_name, const Bytes& nonce,
                              const Bytes& qualifying) {
  auto key = idevid_key(router.idtoken, ca_dir);
  if (!key) return key.error();
  if (auto s = channel.send(json{{"type", "challenge"}, {"nonce", base64_encode(nonce)}}); !s)
    return s.error();
  auto proof = receive_proof(channel);
  if (!proof) return proof.error();
  auto attest = b64_field(*proof, "certify_attest");
  auto signature = b64_field(*proof, "certify_signature");
  if (!attest || !signature) return Error{"the proof has no certify of the AK", EBADMSG};
  if (auto c = ob::verify_certify(key->get(), *attest, *signature, qualifying, ak_name); !c)
    return c.error().context("certify refused");
  return proof;
}

// What a failed session did: the reason for the router (and the log), whether the registry
// should record the router as failed (only once the token was spent).
struct Refusal {
  std::string reason;
  bool record = false;
};

void refuse(ob::Channel& channel, const Refusal& r, const std::string& router_id, Registry* registry) {
  log::warning("onboarding refused: " + r.reason, {{"ROUTER", router_id}, {"PEER", channel.connection().peer_address()}});
  if (r.record && registry != nullptr)
    (void)registry->set_auth_state(router_id, AuthState::failed, r.reason, now());
  (void)channel.send(json{{"type", "error"}, {"reason", r.reason}});
  channel.close(websocket::close_code::kPolicyViolation, "onboarding refused");
}

std::string channel_file(const ConductorOptions& o, const std::string& router_id) {
  return o.state_dir + "/channels/" + router_id;
}

using Clock = std::chrono::steady_clock;

// The address part of "address:port" (IPv4, or IPv6 such as ::ffff:192.0.2.1).
std::string source_address(const std::string& peer) {
  const auto colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

// The sessions a conductor serves, each on its own thread: counted in all and by source address
// for the caps, joined when they end, and cut when their opening outlasts the handshake timeout.
class Sessions {
 public:
  struct State {
    std::atomic<bool> done{false};
    std::atomic<bool> opened{false};  // the client's first message arrived
  };
  struct Session {
    std::thread thread;
    std::string address;
    // A duplicate of the session's socket, owned here: shutting it down ends a blocked read
    // in the session's thread, and its number cannot be reused while the thread may close
    // the original.
    int watch = -1;
    Clock::time_point deadline;
    bool cut = false;
    std::string peer;
    std::shared_ptr<State> state = std::make_shared<State>();
  };

  Sessions() = default;
  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;
  ~Sessions() { join_all(); }

  size_t active() const { return sessions_.size(); }
  size_t from(const std::string& address) const {
    auto it = per_address_.find(address);
    return it == per_address_.end() ? 0 : it->second;
  }

  Session& add(const ob::tls::Server::Accepted& accepted, const std::string& address, Clock::time_point deadline) {
    Session& s = sessions_.emplace_back();
    s.address = address;
    s.peer = accepted.peer;
    s.watch = ::fcntl(accepted.fd, F_DUPFD_CLOEXEC, 0);
    s.deadline = deadline;
    ++per_address_[address];
    return s;
  }

  // Joins the sessions that ended (a long-running conductor keeps no thread per router it ever
  // served).
  void reap() {
    sessions_.remove_if([this](Session& s) {
      if (!s.state->done.load()) return false;
      end(s);
      return true;
    });
  }

  // Cuts the sessions whose opening (TLS handshake, WebSocket upgrade, hello) is not over by
  // their deadline: their thread's read fails and the session ends, freeing its place.
  void cut_idle(Clock::time_point now) {
    for (Session& s : sessions_) {
      if (s.cut || s.state->opened.load() || s.state->done.load() || now < s.deadline) continue;
      cut(s);
      log::warning("session closed: no hello within the handshake timeout", {{"PEER", s.peer}});
    }
  }

  // When the conductor stops: the openings are cut at once (the sessions under way end by
  // themselves: a management session within a second, with its close code).
  void cut_openings() {
    for (Session& s : sessions_)
      if (!s.cut && !s.state->opened.load()) cut(s);
  }

  void join_all() {
    for (Session& s : sessions_) end(s);
    sessions_.clear();
  }

 private:
  static void cut(Session& s) {
    s.cut = true;
    if (s.watch >= 0) ::shutdown(s.watch, SHUT_RDWR);
  }

  void end(Session& s) {
    if (s.thread.joinable()) s.thread.join();
    if (s.watch >= 0) ::close(s.watch);
    s.watch = -1;
    if (auto it = per_address_.find(s.address); it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }

  std::list<Session> sessions_;
  std::map<std::string, size_t> per_address_;
};

// How long a session waits for its hello: past the handshake timeout, which the serve loop
// enforces from the TCP connection on (Sessions::cut_idle) and logs, so this is a backstop.
int hello_wait_ms(const ConductorOptions& o) { return (o.handshake_timeout_seconds + 5) * 1000; }

}  // namespace

Result<std::unique_ptr<Conductor>> Conductor::open(const ConductorOptions& options) {
  ::mkdir(options.state_dir.c_str(), 0700);
  ::mkdir((options.state_dir + "/channels").c_str(), 0700);
  auto ca = CertificateAuthority::load_or_create(options.state_dir, "sedge conductor CA");
  if (!ca) return ca.error();
  auto spki = load_or_create_key(options.state_dir + "/tls.key");
  if (!spki) return spki.error();
  const std::string tls_crt = options.state_dir + "/tls.crt";
  if (::access(tls_crt.c_str(), F_OK) != 0) {
    std::string cn = options.advertised_host.empty() ? "sedge-conductor" : options.advertised_host;
    auto cert = ca->issue(*spki, cn, Usage::server, 3650);
    if (!cert) return cert.error();
    if (auto s = write_file_atomic(tls_crt, cert->pem + ca->certificate_pem(), 0644); !s) return s.error();
  }
  const std::string key_file = options.state_dir + "/token.key";
  if (::access(key_file.c_str(), F_OK) != 0) {
    auto key = Ed25519Key::generate();
    if (!key) return key.error();
    auto pem = key->private_pem();
    if (!pem) return pem.error();
    if (auto s = write_file_atomic(key_file, pem->view(), 0600); !s) return s.error();
  }
  auto text = read_file(key_file);
  if (!text) return text.error();
  Secret pem(*text);
  OPENSSL_cleanse(text->data(), text->size());
  auto key = Ed25519Key::from_private_pem(pem);
  if (!key) return key.error().context(key_file);
  auto registry = Registry::open(options.state_dir + "/registry.db");
  if (!registry) return registry.error();
  return std::unique_ptr<Conductor>(new Conductor(options, std::move(*ca), std::move(*key), sha256_hex(*spki)));
}

std::string session_refusal(const ConductorOptions& options, size_t active, size_t from_address) {
  if (active >= options.max_sessions)
    return std::to_string(active) + " sessions at once, the cap (--max-sessions " + std::to_string(options.max_sessions) + ")";
  if (from_address >= options.max_sessions_per_address)
    return std::to_string(from_address) + " sessions from this address, the cap (--max-sessions-per-address " +
           std::to_string(options.max_sessions_per_address) + ")";
  return {};
}

Result<Registry> Conductor::registry() const { return Registry::open(options_.state_dir + "/registry.db"); }

Result<RouterRecord> Conductor::register_router(const std::string& router_id, const std::string& idtoken_json) {
  auto token = json::parse(idtoken_json, nullptr, false);
  if (token.is_discarded() || !token.is_object()) return Error{"the device ID token is not a JSON object", EBADMSG};
  if (auto id = token.find("router_id"); id != token.end() && id->is_string() && !id->get<std::string>().empty() &&
                                         id->get<std::string>() != router_id)
    return Error{
        "the device ID token is for router " + id->get<std::string>() + ", not " + router_id,
        EINVAL};
  auto mac = string_field(token, "mac");
  if (!mac) return mac.error().context("device ID token");
  const std::string kind = identity_kind(token);
  auto spki = checked_identity(token, kind, options_.manufacturer_ca_dir);
  if (!spki) return spki.error();
  RouterRecord r;
  r.router_id = router_id;
  r.ek_sha256 = sha256_hex(*spki);
  r.mac = *mac;
  r.idtoken = idtoken_json;
  r.registered = now();
  auto reg = registry();
  if (!reg) return reg.error();
  if (auto known = reg->router(router_id); known)
    return Error{"router " + router_id + " is already registered (identity key SHA-256 " +
                     known->ek_sha256 + ")",
                 EEXIST};
  if (auto all = reg->list_routers(); all) {
    for (const auto& other : *all)
      if (other.ek_sha256 == r.ek_sha256)
        return Error{std::string("this ") + identity_label(kind) +
                         " is already registered as router " + other.router_id,
                     EEXIST};
  }
  if (auto s = reg->register_router(r); !s) return s.error();
  log::notice("router registered",
              {{"ROUTER", router_id}, {"IDENTITY", kind}, {"IDENTITY_SHA256", r.ek_sha256}});
  return r;
}

Result<std::string> Conductor::issue_token(const std::string& router_id) {
  auto reg = registry();
  if (!reg) return reg.error();
  auto router = reg->router(router_id);
  if (!router) return router.error();
  auto jti = new_jti();
  if (!jti) return jti.error();
  TokenClaims c;
  c.router_id = router_id;
  c.identity_kind = identity_kind(*router);
  c.identity_sha256 = router->ek_sha256;
  c.mac = router->mac;
  c.conductor_pin = pin_hex_;
  c.conductor = (options_.advertised_host.empty() ? std::string("localhost") : options_.advertised_host) + ":" +
                std::to_string(options_.port);
  c.jti = *jti;
  c.iat = now();
  c.exp = c.iat + options_.token_ttl_seconds;
  auto token = sedge::conductor::issue_token(c, token_key_);
  if (!token) return token.error();
  if (auto s = reg->record_token(c.jti, router_id, c.exp); !s) return s.error();
  if (auto s = reg->set_auth_state(router_id, AuthState::token_issued, "", c.iat); !s) return s.error();
  log::notice("onboarding token issued", {{"ROUTER", router_id}, {"TOKEN_ID", c.jti}});
  return token;
}

Status Conductor::revoke_token(const std::string& jti) {
  auto reg = registry();
  if (!reg) return reg.error();
  return reg->revoke_token(jti, now());
}

Result<std::string> Conductor::show(const std::string& router_id) {
  auto reg = registry();
  if (!reg) return reg.error();
  std::vector<RouterRecord> routers;
  if (router_id.empty()) {
    auto all = reg->list_routers();
    if (!all) return all.error();
    routers = std::move(*all);
  } else {
    auto one = reg->router(router_id);
    if (!one) return one.error();
    routers.push_back(std::move(*one));
  }
  std::string out;
  for (const auto& r : routers) {
    out += "Router: " + r.router_id + "\n";
    out += "  MAC: " + r.mac + "\n";
    const std::string kind = identity_kind(r);
    out += "  Identity: " + kind + "\n";
    out += std::string("  ") + (kind == protocol::kIdentityIdevid ? "IDevID" : "EK") +
           " SHA-256: " + r.ek_sha256 + "\n";
    out += "  Auth State: " + std::string(to_string(r.auth_state));
    out += r.auth_reason.empty() ? "\n" : " (" + r.auth_reason + ")\n";
    auto certs = reg->certificates(r.router_id);
    if (certs && !certs->empty()) out += "  Certificate: serial " + certs->back().serial + "\n";
    auto channel = read_file(channel_file(options_, r.router_id));
    out += "  Management Channel: " + (channel ? "connected from " + *channel : std::string("down")) + "\n";
  }
  return out;
}

Status Conductor::onboard(onboarding::Channel& channel, std::atomic<bool>* opened) {
  auto hello = channel.receive(hello_wait_ms(options_));
  if (!hello) return hello.error();
  if (opened != nullptr) *opened = true;
  if (auto s = expect_type(*hello, "hello"); !s) {
    refuse(channel, {s.error().message}, "", nullptr);
    return s.error();
  }
  auto token_text = string_field(*hello, "token");
  if (!token_text) return refuse(channel, {token_text.error().message}, "", nullptr), token_text.error();
  // The token: ours, unexpired, for a router we know with this EK and MAC, and unused.
  auto claims = verify_token(*token_text, token_key_, now());
  if (!claims) return refuse(channel, {"token refused: " + claims.error().message}, "", nullptr), claims.error();
  const std::string& router_id = claims->router_id;
  auto reg = registry();
  if (!reg) return reg.error();
  if (claims->conductor_pin != pin_hex_) {
    Refusal r{"the token pins another conductor key"};
    return refuse(channel, r, router_id, nullptr), Error{r.reason};
  }
  auto router = reg->router(router_id);
  if (!router) return refuse(channel, {"unknown router " + router_id}, router_id, nullptr), router.error();
  const std::string kind = identity_kind(*router);
  if (router->ek_sha256 != claims->identity_sha256 || kind != claims->identity_kind ||
      router->mac != claims->mac) {
    Refusal r{"the token does not match the registered router's identity key and MAC"};
    return refuse(channel, r, router_id, nullptr), Error{r.reason};
  }
  // The router says which identity it proves with; it must be the token's.
  const auto said = hello->find("identity");
  const std::string proving = said == hello->end() ? std::string(protocol::kIdentityEk)
                              : said->is_string()  ? said->get<std::string>()
                                                   : std::string("(not a string)");
  if (proving != claims->identity_kind) {
    Refusal r{"the router proves its identity by " + proving.substr(0, 16) +
              " but the token is for its " + claims->identity_kind + " identity"};
    return refuse(channel, r, router_id, nullptr), Error{r.reason};
  }
  // Spent only when a certificate is issued (below, atomically), so that a session cut short
  // (conductor restart, lost link) can be retried with the same token; a used or revoked one
  // is refused here already.
  auto recorded = reg->token(claims->jti);
  if (!recorded) return recorded.error();
  std::string unusable = !*recorded                             ? "unknown token"
                         : (*recorded)->router_id != router_id  ? "the token was recorded for another router"
                         : (*recorded)->used_at                 ? "token already used"
                         : (*recorded)->revoked_at              ? "token revoked"
                                                                : "";
  if (!unusable.empty()) return refuse(channel, {unusable}, router_id, nullptr), Error{unusable, EACCES};
  (void)reg->set_auth_state(router_id, AuthState::attesting, "", now());
  auto fail = [&](const std::string& reason) {
    refuse(channel, {reason, true}, router_id, &*reg);
    return Error{reason, EKEYREJECTED};
  };
  // The attestation key: one that cannot leave its TPM.
  auto ak_bytes = b64_field(*hello, "ak_public");
  if (!ak_bytes) return fail(ak_bytes.error().message);
  auto ak = ob::parse_public(*ak_bytes);
  if (!ak) return fail("the AK's public area: " + ak.error().message);
  if (auto s = ob::check_ak_attributes(*ak); !s) return fail("the AK is not acceptable: " + s.error().message);
  auto ak_name = ob::object_name(*ak);
  if (!ak_name) return fail(ak_name.error().message);
  auto tls_spki = b64_field(*hello, "tls_public");
  if (!tls_spki) return fail(tls_spki.error().message);
  // The challenge of the registered identity (a fresh nonce, and for the EK a credential), then
  // the proof: the AK is in the TPM that holds the identity key, and its quote is bound to
  // this TLS session and key.
  auto nonce = random_bytes(protocol::kNonceBytes);
  if (!nonce) return fail("the random generator failed");
  auto exporter = channel.connection().exporter(protocol::kExporterBytes);
  if (!exporter) return fail(exporter.error().message);
  auto expected = protocol::quote_qualifying_data(*nonce, *exporter, *tls_spki);
  auto proof = kind == protocol::kIdentityIdevid
                   ? challenge_idevid(channel, *router, options_.manufacturer_ca_dir, *ak_name,
                                      *nonce, expected)
                   : challenge_ek(channel, *router, *ak_name, *nonce);
  if (!proof) return fail(proof.error().message);
  auto attest = b64_field(*proof, "attest");
  auto signature = b64_field(*proof, "signature");
  if (!attest || !signature) return fail("the proof has no quote");
  if (auto q = ob::verify_quote(*ak, *attest, *signature, expected); !q) return fail("quote refused: " + q.error().message);
  // Proven: the token is spent (one certificate per token, whatever races), then the router's
  // certificate, for the TLS key the quote covers.
  if (auto spent = reg->consume_token(claims->jti, now()); !spent) return fail(spent.error().message);
  auto cert = ca_.issue(*tls_spki, router_id, Usage::client, options_.certificate_days);
  if (!cert) return fail(cert.error().message);
  if (auto s = reg->store_certificate(CertificateRecord{cert->serial, router_id, cert->der, cert->not_after}); !s)
    return fail(s.error().message);
  if (auto s = reg->set_auth_state(router_id, AuthState::completed, "", now()); !s) return s.error();
  log::notice("router onboarded", {{"ROUTER", router_id}, {"SERIAL", cert->serial}});
  return channel.send(json{{"type", "certificate"}, {"certificate", cert->pem}, {"ca", ca_.certificate_pem()}});
}

Status Conductor::manage(onboarding::Channel& channel, const std::atomic<bool>& stop, std::atomic<bool>* opened) {
  X509* peer = channel.connection().peer_certificate();
  if (peer == nullptr) return Error{"no client certificate"};
  char cn[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  const std::string router_id = cn;
  const ASN1_INTEGER* serial_asn1 = X509_get0_serialNumber(peer);
  const BignumPtr bn(ASN1_INTEGER_to_BN(serial_asn1, nullptr));
  char* serial_hex = BN_bn2hex(bn.get());
  std::string serial(serial_hex);
  OPENSSL_free(serial_hex);
  for (char& c : serial) c = static_cast<char>(tolower(c));
  auto reg = registry();
  if (!reg) return reg.error();
  auto certs = reg->certificates(router_id);
  bool known = certs && std::any_of(certs->begin(), certs->end(), [&](const auto& c) { return c.serial == serial; });
  auto router = reg->router(router_id);
  if (!known || !router || router->auth_state != AuthState::completed) {
    Refusal r{"certificate " + serial + " is not a current certificate of an onboarded router " + router_id};
    return refuse(channel, r, router_id, nullptr), Error{r.reason};
  }
  auto hello = channel.receive(hello_wait_ms(options_));
  if (!hello) return hello.error();
  if (opened != nullptr) *opened = true;
  auto claimed = string_field(*hello, "router_id");
  if (!claimed || *claimed != router_id) {
    Refusal r{"the management hello does not name the certificate's router"};
    return refuse(channel, r, router_id, nullptr), Error{r.reason};
  }
  if (auto s = channel.send(json{{"type", "welcome"}, {"router_id", router_id}}); !s) return s.error();
  const std::string marker = channel_file(options_, router_id);
  (void)write_file_atomic(marker, channel.connection().peer_address() + " since " + std::to_string(now()), 0644);
  log::notice("management channel up", {{"ROUTER", router_id}, {"PEER", channel.connection().peer_address()}});
  Status ended;
  while (!stop.load()) {
    auto m = channel.receive(1000);
    if (m) continue;  // nothing is asked of the conductor yet: the channel is its presence
    if (m.error().code == ETIMEDOUT) continue;
    ended = m.error();
    break;
  }
  ::unlink(marker.c_str());
  log::notice("management channel down", {{"ROUTER", router_id}});
  if (stop.load()) channel.close(websocket::close_code::kGoingAway, "conductor stopping");
  return ended;
}

Status Conductor::serve(const std::atomic<bool>& stop) {
  ob::tls::ServerOptions onboarding{options_.listen_address, options_.port,
                                    {options_.state_dir + "/tls.crt", options_.state_dir + "/tls.key"}, ""};
  ob::tls::ServerOptions management = onboarding;
  management.port = options_.management_port;
  management.client_ca_file = ca_.certificate_file();
  auto s930 = ob::tls::Server::listen(onboarding);
  if (!s930) return s930.error();
  auto s933 = ob::tls::Server::listen(management);
  if (!s933) return s933.error();
  log::notice("conductor listening",
              {{"PORTS", std::to_string((*s930)->port()) + "," + std::to_string((*s933)->port())},
               {"MAX_SESSIONS", std::to_string(options_.max_sessions)},
               {"MAX_SESSIONS_PER_ADDRESS", std::to_string(options_.max_sessions_per_address)},
               {"HANDSHAKE_TIMEOUT_SEC", std::to_string(options_.handshake_timeout_seconds)}});
  Sessions sessions;
  while (!stop.load()) {
    sessions.reap();
    sessions.cut_idle(Clock::now());
    pollfd fds[2] = {{(*s930)->fd(), POLLIN, 0}, {(*s933)->fd(), POLLIN, 0}};
    if (::poll(fds, 2, 250) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      ob::tls::Server* server = (i == 0 ? *s930 : *s933).get();
      auto accepted = server->accept_tcp(0);
      if (!accepted) continue;
      sessions.reap();
      const std::string address = source_address(accepted->peer);
      const std::string refused = session_refusal(options_, sessions.active(), sessions.from(address));
      if (!refused.empty()) {
        // Closed before any TLS work: a flood of connections costs the conductor an accept each.
        log::warning("session refused: " + refused,
                     {{"PEER", accepted->peer}, {"PORT", std::to_string(server->port())}});
        ::close(accepted->fd);
        continue;
      }
      Sessions::Session& s = sessions.add(*accepted, address,
                                          Clock::now() + std::chrono::seconds(options_.handshake_timeout_seconds));
      s.thread = std::thread([this, i, &stop, server, a = *accepted, state = s.state]() {
        session(*server, a, i == 0, stop, state->opened);
        state->done = true;
      });
    }
  }
  sessions.cut_openings();
  sessions.join_all();
  return {};
}

// The TLS handshake runs here, in the session's thread: many routers at once are not served one
// handshake at a time.
void Conductor::session(onboarding::tls::Server& server, onboarding::tls::Server::Accepted accepted, bool onboarding,
                        const std::atomic<bool>& stop, std::atomic<bool>& opened) {
  auto conn = server.handshake(std::move(accepted));
  if (!conn) {
    log::warning(conn.error().message);
    return;
  }
  auto path = std::string(onboarding ? protocol::kOnboardPath : protocol::kManagePath);
  auto channel = ob::Channel::accept(std::move(*conn), path);
  if (!channel) {
    log::warning(channel.error().message);
    return;
  }
  Status s = onboarding ? onboard(**channel, &opened) : manage(**channel, stop, &opened);
  if (!s) log::info("session ended: " + s.error().message);
}

}  // namespace sedge::conductor

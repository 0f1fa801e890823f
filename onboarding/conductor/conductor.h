// The reference conductor (sedge-conductor): registers routers from their device ID tokens,
// issues onboarding tokens, and serves the two onboarding ports: 930, where a router proves
// with its TPM who it is and receives a certificate, and 933, the management channel that
// certificate opens. State (registry, CA, keys) lives in one directory.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/result.h"
#include "onboarding/channel.h"
#include "onboarding/tls.h"
#include "onboarding/conductor/ca.h"
#include "onboarding/conductor/registry.h"
#include "onboarding/conductor/token.h"

namespace sedge::conductor {

struct ConductorOptions {
  std::string state_dir = "/var/lib/sedge-conductor";
  std::string manufacturer_ca_dir = "/etc/sedge-conductor/manufacturer-ca";
  std::string listen_address = "0.0.0.0";
  uint16_t port = 930;
  uint16_t management_port = 933;
  std::string advertised_host;  // what tokens tell routers to connect to
  int token_ttl_seconds = 3600;
  int certificate_days = 365;
  // Sessions (930 and 933 together) served at once, and at once from one source address: a
  // connection beyond either cap is closed as soon as it is accepted, before any TLS work, with
  // the reason logged. A router holds one management session once onboarded, so max_sessions
  // bounds the routers connected at once, and max_sessions_per_address those behind one NAT.
  size_t max_sessions = 1024;
  size_t max_sessions_per_address = 32;
  // From the TCP connection to the session's first message (the hello on 930 and on 933): a
  // client idle or slow anywhere in its TLS handshake, WebSocket upgrade or hello is cut off
  // then, and its place freed. (The TLS handshake and the upgrade are bounded at 10 s each too.)
  int handshake_timeout_seconds = 30;
};

// Whether a new connection may start a session while `active` sessions run, `from_address` of
// them from its source address: an empty string, or why it is refused.
std::string session_refusal(const ConductorOptions& options, size_t active, size_t from_address);

class Conductor {
 public:
  // Loads the state directory, creating the CA, the TLS key and certificate, the token key and
  // the registry on first use.
  static Result<std::unique_ptr<Conductor>> open(const ConductorOptions& options);

  // Checks a device ID token (EK certificate to a manufacturer CA, its key the EK's) and
  // registers the router.
  Result<RouterRecord> register_router(const std::string& router_id, const std::string& idtoken_json);
  Result<std::string> issue_token(const std::string& router_id);
  Status revoke_token(const std::string& jti);
  // A human-readable report per router ("Auth State: completed").
  Result<std::string> show(const std::string& router_id);

  // Serves 930 and 933 until `stop` is set; one thread per connection, within the session caps
  // and the handshake timeout of the options.
  Status serve(const std::atomic<bool>& stop);
  // One onboarding session on port 930 and one management session on 933. `opened` (when
  // given) is set once the client's hello arrived: its opening is over.
  Status onboard(onboarding::Channel& channel, std::atomic<bool>* opened = nullptr);
  Status manage(onboarding::Channel& channel, const std::atomic<bool>& stop, std::atomic<bool>* opened = nullptr);

  const std::string& pin_hex() const { return pin_hex_; }
  const ConductorOptions& options() const { return options_; }

 private:
  Conductor(ConductorOptions options, CertificateAuthority ca, Ed25519Key token_key, std::string pin_hex)
      : options_(std::move(options)), ca_(std::move(ca)), token_key_(std::move(token_key)), pin_hex_(std::move(pin_hex)) {}
  Result<Registry> registry() const;
  void session(onboarding::tls::Server& server, onboarding::tls::Server::Accepted accepted, bool onboarding,
               const std::atomic<bool>& stop, std::atomic<bool>& opened);

  ConductorOptions options_;
  CertificateAuthority ca_;
  Ed25519Key token_key_;
  std::string pin_hex_;
};

}  // namespace sedge::conductor

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
};

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

  // Serves 930 and 933 until `stop` is set; one thread per connection.
  Status serve(const std::atomic<bool>& stop);
  // One onboarding session on port 930 and one management session on 933.
  Status onboard(onboarding::Channel& channel);
  Status manage(onboarding::Channel& channel, const std::atomic<bool>& stop);

  const std::string& pin_hex() const { return pin_hex_; }
  const ConductorOptions& options() const { return options_; }

 private:
  Conductor(ConductorOptions options, CertificateAuthority ca, Ed25519Key token_key, std::string pin_hex)
      : options_(std::move(options)), ca_(std::move(ca)), token_key_(std::move(token_key)), pin_hex_(std::move(pin_hex)) {}
  Result<Registry> registry() const;
  void session(onboarding::tls::Server& server, onboarding::tls::Server::Accepted accepted, bool onboarding,
               const std::atomic<bool>& stop);

  ConductorOptions options_;
  CertificateAuthority ca_;
  Ed25519Key token_key_;
  std::string pin_hex_;
};

}  // namespace sedge::conductor

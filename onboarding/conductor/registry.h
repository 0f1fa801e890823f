// The conductor's registry in SQLite (WAL, foreign keys on, busy timeout): routers, the
// onboarding tokens issued to them (single use), their certificates, and each router's
// onboarding ("auth") state. Times are Unix seconds. Every statement is prepared with bound
// parameters; errors carry SQLite's own message.
//
// One Registry is one connection: use it from one thread at a time. Several connections (in
// threads or processes) may share the file; consume_token is atomic across them.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

struct sqlite3;

namespace sedge::conductor {

inline constexpr int kRegistrySchemaVersion = 1;

// registered -> token-issued -> attesting -> completed; failed (with a reason) from any state.
// A new token may be issued again from token-issued, failed or completed.
enum class AuthState { registered, token_issued, attesting, completed, failed };

std::string_view to_string(AuthState state);  // "registered", "token-issued", ... as stored
std::optional<AuthState> parse_auth_state(std::string_view text);
bool auth_transition_allowed(AuthState from, AuthState to);

struct RouterRecord {
  std::string router_id;
  std::string ek_sha256;  // hex SHA-256 of the EK SubjectPublicKeyInfo DER
  std::string mac;
  std::string idtoken;    // the device ID token (JSON) the operator registered
  int64_t registered = 0;
  // Filled in by router() and list_routers(); ignored by register_router.
  AuthState auth_state = AuthState::registered;
  std::string auth_reason;  // why, when failed
  int64_t auth_updated = 0;
};

struct TokenRecord {
  std::string jti;
  std::string router_id;
  int64_t expires = 0;
  std::optional<int64_t> used_at;
  std::optional<int64_t> revoked_at;
};

struct CertificateRecord {
  std::string serial;  // hex
  std::string router_id;
  std::vector<uint8_t> der;
  int64_t not_after = 0;
};

// Error::code of consume_token's refusals.
inline constexpr int kTokenUnknown = ENOENT;
inline constexpr int kTokenUsed = EALREADY;
inline constexpr int kTokenRevoked = EACCES;
inline constexpr int kTokenExpiredInRegistry = EKEYEXPIRED;

class Registry {
 public:
  // Opens (creating when absent) the database at path and its schema; refuses a file that is
  // another application's database or has a schema version this code does not know.
  static Result<Registry> open(const std::string& path);

  Registry(Registry&& other) noexcept;
  Registry& operator=(Registry&& other) noexcept;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  // A new router, in state registered. The router ID and the EK are each registered once.
  Status register_router(const RouterRecord& router);

  // An issued token (the jti of its claims) for a registered router.
  Status record_token(std::string_view jti, std::string_view router_id, int64_t expires);

  // Marks the token used at `now`, atomically: of any number of connections consuming the same
  // token, one succeeds. Refusals (Error::code): kTokenUnknown, kTokenUsed ("token already
  // used"), kTokenRevoked ("token revoked"), kTokenExpiredInRegistry. Returns the token as it
  // now stands; the caller checks its router_id against the verified claims.
  Result<TokenRecord> consume_token(std::string_view jti, int64_t now);

  // Revokes an unused token (a used one cannot be revoked: it was already spent).
  Status revoke_token(std::string_view jti, int64_t now);

  Result<std::optional<TokenRecord>> token(std::string_view jti);

  // Moves the router's auth state (auth_transition_allowed); reason is required for failed
  // and cleared otherwise.
  Status set_auth_state(std::string_view router_id, AuthState state, std::string_view reason, int64_t now);

  Status store_certificate(const CertificateRecord& certificate);
  Result<std::vector<CertificateRecord>> certificates(std::string_view router_id);

  Result<RouterRecord> router(std::string_view router_id);  // ENOENT when not registered
  Result<std::vector<RouterRecord>> list_routers();          // by router ID

  const std::string& path() const { return path_; }

 private:
  Registry(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const char* sql);
  Status create_or_check_schema();

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace sedge::conductor

#include "onboarding/conductor/registry.h"

#include <sqlite3.h>

#include <array>

namespace sedge::conductor {
namespace {

// "sedg": marks the file as a sedge conductor registry (PRAGMA application_id).
constexpr int32_t kApplicationId = 0x73656467;
constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kSchema = R"sql(
CREATE TABLE routers (
  router_id  TEXT PRIMARY KEY NOT NULL CHECK (length(router_id) > 0),
  ek_sha256  TEXT NOT NULL UNIQUE CHECK (length(ek_sha256) = 64),
  mac        TEXT NOT NULL,
  idtoken    TEXT NOT NULL CHECK (json_valid(idtoken)),
  registered INTEGER NOT NULL
) STRICT;
CREATE TABLE tokens (
  jti        TEXT PRIMARY KEY NOT NULL CHECK (length(jti) > 0),
  router_id  TEXT NOT NULL REFERENCES routers(router_id) ON DELETE CASCADE,
  expires    INTEGER NOT NULL,
  used_at    INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE INDEX tokens_by_router ON tokens(router_id);
CREATE TABLE certificates (
  serial     TEXT PRIMARY KEY NOT NULL CHECK (length(serial) > 0),
  router_id  TEXT NOT NULL REFERENCES routers(router_id) ON DELETE CASCADE,
  der        BLOB NOT NULL CHECK (length(der) > 0),
  not_after  INTEGER NOT NULL
) STRICT;
CREATE INDEX certificates_by_router ON certificates(router_id);
CREATE TABLE auth_state (
  router_id  TEXT PRIMARY KEY NOT NULL REFERENCES routers(router_id) ON DELETE CASCADE,
  state      TEXT NOT NULL CHECK (state IN ('registered', 'token-issued', 'attesting', 'completed', 'failed')),
  reason     TEXT NOT NULL DEFAULT '',
  updated    INTEGER NOT NULL
) STRICT;
)sql";

int errno_for(int sqlite_code) {
  switch (sqlite_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return EBUSY;
    case SQLITE_CONSTRAINT:
      if (sqlite_code == SQLITE_CONSTRAINT_FOREIGNKEY) return ENOENT;
      if (sqlite_code == SQLITE_CONSTRAINT_CHECK || sqlite_code == SQLITE_CONSTRAINT_NOTNULL) return EINVAL;
      return EEXIST;
    case SQLITE_READONLY:
    case SQLITE_PERM: return EACCES;
    case SQLITE_CANTOPEN: return ENOENT;
    case SQLITE_FULL: return ENOSPC;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return EBADMSG;
    default: return EIO;
  }
}

Error db_error(sqlite3* db, const std::string& what) {
  const int code = sqlite3_extended_errcode(db);
  return Error{what + ": " + sqlite3_errmsg(db), errno_for(code)};
}

// A prepared statement; binds by position (1-based), reports the first failure at step().
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& text(int i, std::string_view v) {
    // An empty view may have no data pointer, which SQLite would bind as NULL.
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_text64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
  }
  Stmt& integer(int i, int64_t v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& blob(int i, std::span<const uint8_t> v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT);
    return *this;
  }

  // true: a row is ready; false: done.
  Result<bool> step(const std::string& what) {
    if (rc_ != SQLITE_OK) return db_error(db_, what);
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return db_error(db_, what);
  }
  // Runs a statement that returns no rows.
  Status run(const std::string& what) {
    auto r = step(what);
    if (!r) return r.error();
    return {};
  }

  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> optional_integer(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(stmt_, col);
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  std::vector<uint8_t> blob(int col) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
    return p ? std::vector<uint8_t>(p, p + sqlite3_column_bytes(stmt_, col)) : std::vector<uint8_t>();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE (takes the write lock now, waiting up to the busy timeout); rolls back unless
// committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status begin(const std::string& what) {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db_, what);
    open_ = true;
    return {};
  }
  Status commit(const std::string& what) {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return db_error(db_, what);
    open_ = false;
    return {};
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

Result<int64_t> pragma_int(sqlite3* db, const char* sql) {
  Stmt s(db, sql);
  auto row = s.step(sql);
  if (!row) return row.error();
  if (!*row) return Error{std::string(sql) + " returned nothing", EIO};
  return s.integer(0);
}

constexpr const char* kRouterColumns =
    "SELECT r.router_id, r.ek_sha256, r.mac, r.idtoken, r.registered, a.state, a.reason, a.updated "
    "FROM routers r JOIN auth_state a ON a.router_id = r.router_id";

RouterRecord read_router(const Stmt& s) {
  RouterRecord r;
  r.router_id = s.text(0);
  r.ek_sha256 = s.text(1);
  r.mac = s.text(2);
  r.idtoken = s.text(3);
  r.registered = s.integer(4);
  r.auth_state = parse_auth_state(s.text(5)).value_or(AuthState::failed);
  r.auth_reason = s.text(6);
  r.auth_updated = s.integer(7);
  return r;
}

}  // namespace

std::string_view to_string(AuthState state) {
  switch (state) {
    case AuthState::registered: return "registered";
    case AuthState::token_issued: return "token-issued";
    case AuthState::attesting: return "attesting";
    case AuthState::completed: return "completed";
    case AuthState::failed: return "failed";
  }
  return "failed";
}

std::optional<AuthState> parse_auth_state(std::string_view text) {
  for (auto s : {AuthState::registered, AuthState::token_issued, AuthState::attesting, AuthState::completed, AuthState::failed})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

bool auth_transition_allowed(AuthState from, AuthState to) {
  switch (to) {
    case AuthState::registered: return false;
    case AuthState::token_issued: return from != AuthState::attesting;
    // Again after a session cut short (attesting) or refused (failed): the token is spent only
    // when a certificate is issued, so the router retries with the same one.
    case AuthState::attesting:
      return from == AuthState::token_issued || from == AuthState::attesting || from == AuthState::failed;
    case AuthState::completed: return from == AuthState::attesting;
    case AuthState::failed: return true;
  }
  return false;
}

// ---------------------------------------------------------------- open

Result<Registry> Registry::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    Error e{"opening the registry " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)), errno_for(rc)};
    sqlite3_close_v2(db);
    return e;
  }
  Registry reg(db, path);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  if (auto s = reg.create_or_check_schema(); !s) return s.error().context("registry " + path);
  return reg;
}

Registry::Registry(Registry&& other) noexcept : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Registry& Registry::operator=(Registry&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Registry::~Registry() { sqlite3_close_v2(db_); }

Status Registry::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    Error e{message ? message : sqlite3_errmsg(db_), errno_for(sqlite3_extended_errcode(db_))};
    sqlite3_free(message);
    return e;
  }
  return {};
}

Status Registry::create_or_check_schema() {
  // Refuse another application's file before changing anything in it.
  auto app = pragma_int(db_, "PRAGMA application_id");
  if (!app) return app.error();
  if (*app != 0 && *app != kApplicationId) return Error{"not a sedge conductor registry (application_id " + std::to_string(*app) + ")", EBADMSG};

  {
    Stmt wal(db_, "PRAGMA journal_mode=WAL");
    auto row = wal.step("setting WAL mode");
    if (!row) return row.error();
    if (!*row || wal.text(0) != "wal") return Error{"cannot use WAL mode (journal mode " + wal.text(0) + ")", EIO};
  }
  if (auto s = exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL"); !s) return s.error().context("setting pragmas");
  auto fk = pragma_int(db_, "PRAGMA foreign_keys");
  if (!fk) return fk.error();
  if (*fk != 1) return Error{"this SQLite has no foreign key support", ENOTSUP};

  Transaction txn(db_);
  if (auto s = txn.begin("locking for the schema"); !s) return s;
  auto version = pragma_int(db_, "PRAGMA user_version");
  if (!version) return version.error();
  if (*version == 0) {
    auto tables = pragma_int(db_, "SELECT count(*) FROM sqlite_schema");
    if (!tables) return tables.error();
    if (*tables != 0) return Error{"the database already holds tables but no sedge schema version", EBADMSG};
    if (auto s = exec(kSchema); !s) return s.error().context("creating the schema");
    // Pragma values cannot be bound parameters; these are constants.
    const std::string marks = "PRAGMA application_id=" + std::to_string(kApplicationId) +
                              "; PRAGMA user_version=" + std::to_string(kRegistrySchemaVersion);
    if (auto s = exec(marks.c_str()); !s) return s.error().context("recording the schema version");
  } else if (*version != kRegistrySchemaVersion) {
    return Error{"schema version " + std::to_string(*version) + ", this conductor knows version " +
                     std::to_string(kRegistrySchemaVersion),
                 EPROTONOSUPPORT};
  } else if (*app != kApplicationId) {
    return Error{"not a sedge conductor registry (no application_id)", EBADMSG};
  }
  return txn.commit("committing the schema");
}

// ---------------------------------------------------------------- routers

Status Registry::register_router(const RouterRecord& router) {
  const std::string what = "registering router " + router.router_id;
  Transaction txn(db_);
  if (auto s = txn.begin(what); !s) return s;
  {
    Stmt s(db_, "INSERT INTO routers (router_id, ek_sha256, mac, idtoken, registered) VALUES (?1, ?2, ?3, ?4, ?5)");
    s.text(1, router.router_id).text(2, router.ek_sha256).text(3, router.mac).text(4, router.idtoken).integer(5, router.registered);
    if (auto r = s.run(what); !r) return r;
  }
  {
    Stmt s(db_, "INSERT INTO auth_state (router_id, state, reason, updated) VALUES (?1, 'registered', '', ?2)");
    s.text(1, router.router_id).integer(2, router.registered);
    if (auto r = s.run(what); !r) return r;
  }
  return txn.commit(what);
}

Result<RouterRecord> Registry::router(std::string_view router_id) {
  const std::string what = "reading router " + std::string(router_id);
  Stmt s(db_, (std::string(kRouterColumns) + " WHERE r.router_id = ?1").c_str());
  s.text(1, router_id);
  auto row = s.step(what);
  if (!row) return row.error();
  if (!*row) return Error{"no router " + std::string(router_id) + " in the registry", ENOENT};
  return read_router(s);
}

Result<std::vector<RouterRecord>> Registry::list_routers() {
  Stmt s(db_, (std::string(kRouterColumns) + " ORDER BY r.router_id").c_str());
  std::vector<RouterRecord> out;
  while (true) {
    auto row = s.step("listing routers");
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(read_router(s));
  }
  return out;
}

Status Registry::set_auth_state(std::string_view router_id, AuthState state, std::string_view reason, int64_t now) {
  const std::string what = "setting the auth state of router " + std::string(router_id);
  if (state == AuthState::failed && reason.empty()) return Error{what + ": a failed state needs a reason", EINVAL};
  Transaction txn(db_);
  if (auto s = txn.begin(what); !s) return s;
  AuthState from;
  {
    Stmt s(db_, "SELECT state FROM auth_state WHERE router_id = ?1");
    s.text(1, router_id);
    auto row = s.step(what);
    if (!row) return row.error();
    if (!*row) return Error{what + ": no such router", ENOENT};
    auto parsed = parse_auth_state(s.text(0));
    if (!parsed) return Error{what + ": unknown stored state '" + s.text(0) + "'", EBADMSG};
    from = *parsed;
  }
  if (!auth_transition_allowed(from, state))
    return Error{what + ": " + std::string(to_string(from)) + " cannot become " + std::string(to_string(state)), EPERM};
  {
    Stmt s(db_, "UPDATE auth_state SET state = ?2, reason = ?3, updated = ?4 WHERE router_id = ?1");
    s.text(1, router_id).text(2, to_string(state)).text(3, state == AuthState::failed ? reason : std::string_view()).integer(4, now);
    if (auto r = s.run(what); !r) return r;
  }
  return txn.commit(what);
}

// ---------------------------------------------------------------- tokens

Status Registry::record_token(std::string_view jti, std::string_view router_id, int64_t expires) {
  Stmt s(db_, "INSERT INTO tokens (jti, router_id, expires) VALUES (?1, ?2, ?3)");
  s.text(1, jti).text(2, router_id).integer(3, expires);
  return s.run("recording token " + std::string(jti) + " for router " + std::string(router_id));
}

Result<std::optional<TokenRecord>> Registry::token(std::string_view jti) {
  Stmt s(db_, "SELECT jti, router_id, expires, used_at, revoked_at FROM tokens WHERE jti = ?1");
  s.text(1, jti);
  auto row = s.step("reading token " + std::string(jti));
  if (!row) return row.error();
  if (!*row) return std::optional<TokenRecord>();
  return std::optional<TokenRecord>(TokenRecord{s.text(0), s.text(1), s.integer(2), s.optional_integer(3), s.optional_integer(4)});
}

Result<TokenRecord> Registry::consume_token(std::string_view jti, int64_t now) {
  const std::string what = "consuming token " + std::string(jti);
  // The write lock is taken before the token is read, so no other connection can consume it
  // between the check and the update.
  Transaction txn(db_);
  if (auto s = txn.begin(what); !s) return s.error();
  auto current = token(jti);
  if (!current) return current.error();
  if (!current->has_value()) return Error{what + ": unknown token", kTokenUnknown};
  TokenRecord t = **current;
  if (t.revoked_at) return Error{what + ": token revoked", kTokenRevoked};
  if (t.used_at) return Error{what + ": token already used", kTokenUsed};
  if (now >= t.expires) return Error{what + ": token expired", kTokenExpiredInRegistry};
  Stmt s(db_, "UPDATE tokens SET used_at = ?2 WHERE jti = ?1 AND used_at IS NULL AND revoked_at IS NULL");
  s.text(1, jti).integer(2, now);
  if (auto r = s.run(what); !r) return r.error();
  if (sqlite3_changes(db_) != 1) return Error{what + ": token already used", kTokenUsed};
  if (auto c = txn.commit(what); !c) return c.error();
  t.used_at = now;
  return t;
}

Status Registry::revoke_token(std::string_view jti, int64_t now) {
  const std::string what = "revoking token " + std::string(jti);
  Transaction txn(db_);
  if (auto s = txn.begin(what); !s) return s;
  auto current = token(jti);
  if (!current) return current.error();
  if (!current->has_value()) return Error{what + ": unknown token", kTokenUnknown};
  if ((*current)->used_at) return Error{what + ": token already used", kTokenUsed};
  if ((*current)->revoked_at) return {};  // already revoked: nothing to do
  Stmt s(db_, "UPDATE tokens SET revoked_at = ?2 WHERE jti = ?1");
  s.text(1, jti).integer(2, now);
  if (auto r = s.run(what); !r) return r;
  return txn.commit(what);
}

// ---------------------------------------------------------------- certificates

Status Registry::store_certificate(const CertificateRecord& c) {
  Stmt s(db_, "INSERT INTO certificates (serial, router_id, der, not_after) VALUES (?1, ?2, ?3, ?4)");
  s.text(1, c.serial).text(2, c.router_id).blob(3, c.der).integer(4, c.not_after);
  return s.run("storing certificate " + c.serial + " for router " + c.router_id);
}

Result<std::vector<CertificateRecord>> Registry::certificates(std::string_view router_id) {
  Stmt s(db_, "SELECT serial, router_id, der, not_after FROM certificates WHERE router_id = ?1 ORDER BY not_after, serial");
  s.text(1, router_id);
  std::vector<CertificateRecord> out;
  while (true) {
    auto row = s.step("reading the certificates of router " + std::string(router_id));
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(CertificateRecord{s.text(0), s.text(1), s.blob(2), s.integer(3)});
  }
  return out;
}

}  // namespace sedge::conductor

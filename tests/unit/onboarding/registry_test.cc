#include "onboarding/conductor/registry.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace sedge::conductor {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kNow = 1'760'000'000;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sedge-registry-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "registry.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  Registry open() {
    auto r = Registry::open(path_);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return std::move(r).value();
  }

  static RouterRecord router(const std::string& id, char ek = 'a') {
    RouterRecord r;
    r.router_id = id;
    r.ek_sha256 = std::string(64, ek);
    r.mac = "52:54:00:12:34:56";
    r.idtoken = R"({"router_id":")" + id + R"("})";
    r.registered = kNow - 100;
    return r;
  }

  // Reads one value through a separate raw connection, as an operator's sqlite3 shell would.
  std::string raw_query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }
  void raw_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(RegistryTest, OpenCreatesTheSchemaInWalModeWithForeignKeys) {
  {
    Registry reg = open();
    // Foreign keys are enforced: a token for a router that is not registered is refused with
    // SQLite's own message.
    auto orphan = reg.record_token("00112233445566778899aabbccddeeff", "nobody", kNow + 600);
    ASSERT_FALSE(orphan.ok());
    EXPECT_NE(orphan.error().message.find("FOREIGN KEY constraint failed"), std::string::npos) << orphan.error().message;
  }
  EXPECT_EQ(raw_query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw_query("PRAGMA user_version"), std::to_string(kRegistrySchemaVersion));
  EXPECT_EQ(raw_query("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name)"),
            "auth_state,certificates,routers,tokens");
}

TEST_F(RegistryTest, RegistersAndReadsRouters) {
  Registry reg = open();
  ASSERT_TRUE(reg.register_router(router("branch-02", 'b')).ok());
  ASSERT_TRUE(reg.register_router(router("branch-01", 'a')).ok());
  auto r = reg.router("branch-01");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->router_id, "branch-01");
  EXPECT_EQ(r->ek_sha256, std::string(64, 'a'));
  EXPECT_EQ(r->mac, "52:54:00:12:34:56");
  EXPECT_EQ(r->idtoken, R"({"router_id":"branch-01"})");
  EXPECT_EQ(r->registered, kNow - 100);
  EXPECT_EQ(r->auth_state, AuthState::registered);
  EXPECT_EQ(r->auth_updated, kNow - 100);

  auto all = reg.list_routers();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].router_id, "branch-01");
  EXPECT_EQ((*all)[1].router_id, "branch-02");

  auto missing = reg.router("branch-03");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);

  auto again = reg.register_router(router("branch-01", 'c'));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("UNIQUE constraint failed: routers.router_id"), std::string::npos) << again.error().message;
  auto same_ek = reg.register_router(router("branch-03", 'a'));
  ASSERT_FALSE(same_ek.ok());
  EXPECT_NE(same_ek.error().message.find("routers.ek_sha256"), std::string::npos) << same_ek.error().message;
  RouterRecord bad_json = router("branch-04", 'd');
  bad_json.idtoken = "{not json";
  auto bj = reg.register_router(bad_json);
  ASSERT_FALSE(bj.ok());
  EXPECT_NE(bj.error().message.find("CHECK constraint failed"), std::string::npos) << bj.error().message;
  // Nothing of the refused registrations was left behind (auth_state is in the same transaction).
  EXPECT_EQ(reg.list_routers()->size(), 2u);
  EXPECT_EQ(raw_query("SELECT count(*) FROM auth_state"), "2");
}

TEST_F(RegistryTest, ValuesAreBoundNotSpliced) {
  Registry reg = open();
  const std::string id = "x'); DROP TABLE routers; --";
  ASSERT_TRUE(reg.register_router(router(id)).ok());
  auto r = reg.router(id);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->router_id, id);
  EXPECT_EQ(reg.list_routers()->size(), 1u);
}

TEST_F(RegistryTest, AuthStateFollowsTheOnboardingSteps) {
  Registry reg = open();
  ASSERT_TRUE(reg.register_router(router("branch-01")).ok());
  auto skip = reg.set_auth_state("branch-01", AuthState::attesting, "", kNow);
  ASSERT_FALSE(skip.ok());
  EXPECT_NE(skip.error().message.find("registered cannot become attesting"), std::string::npos) << skip.error().message;
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::token_issued, "", kNow).ok());
  EXPECT_FALSE(reg.set_auth_state("branch-01", AuthState::completed, "", kNow).ok());
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::attesting, "", kNow + 1).ok());
  EXPECT_FALSE(reg.set_auth_state("branch-01", AuthState::token_issued, "", kNow).ok()) << "not while attesting";
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::completed, "", kNow + 2).ok());
  auto r = reg.router("branch-01");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->auth_state, AuthState::completed);
  EXPECT_EQ(r->auth_updated, kNow + 2);
  EXPECT_EQ(raw_query("SELECT state FROM auth_state WHERE router_id = 'branch-01'"), "completed");

  EXPECT_FALSE(reg.set_auth_state("branch-01", AuthState::failed, "", kNow).ok()) << "failed needs a reason";
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::failed, "quote does not verify", kNow + 3).ok());
  r = reg.router("branch-01");
  EXPECT_EQ(r->auth_state, AuthState::failed);
  EXPECT_EQ(r->auth_reason, "quote does not verify");
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::token_issued, "ignored", kNow + 4).ok());
  r = reg.router("branch-01");
  EXPECT_EQ(r->auth_state, AuthState::token_issued);
  EXPECT_EQ(r->auth_reason, "") << "the reason goes with the failure";

  // The same token retried after a refused session and after one cut short: attesting again,
  // and completed from there.
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::attesting, "", kNow + 5).ok());
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::failed, "quote refused", kNow + 6).ok());
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::attesting, "", kNow + 7).ok()) << "retry after a refusal";
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::attesting, "", kNow + 8).ok()) << "retry after a cut session";
  ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::completed, "", kNow + 9).ok());
  EXPECT_FALSE(reg.set_auth_state("branch-01", AuthState::attesting, "", kNow + 10).ok()) << "not once completed";

  auto nobody = reg.set_auth_state("nobody", AuthState::token_issued, "", kNow);
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.error().code, ENOENT);

  for (auto s : {AuthState::registered, AuthState::token_issued, AuthState::attesting, AuthState::completed, AuthState::failed})
    EXPECT_EQ(parse_auth_state(to_string(s)), s);
  EXPECT_EQ(to_string(AuthState::token_issued), "token-issued");
  EXPECT_FALSE(parse_auth_state("done").has_value());
}

TEST_F(RegistryTest, TokensAreSingleUse) {
  Registry reg = open();
  ASSERT_TRUE(reg.register_router(router("branch-01")).ok());
  const std::string jti = "00112233445566778899aabbccddeeff";
  ASSERT_TRUE(reg.record_token(jti, "branch-01", kNow + 600).ok());
  EXPECT_FALSE(reg.record_token(jti, "branch-01", kNow + 600).ok()) << "a jti is recorded once";

  auto first = reg.consume_token(jti, kNow);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->router_id, "branch-01");
  EXPECT_EQ(first->used_at, kNow);
  auto second = reg.consume_token(jti, kNow + 1);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, kTokenUsed);
  EXPECT_NE(second.error().message.find("token already used"), std::string::npos);
  EXPECT_EQ(reg.token(jti)->value().used_at, kNow) << "the first use is kept";

  auto unknown = reg.consume_token("ffffffffffffffffffffffffffffffff", kNow);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, kTokenUnknown);
  EXPECT_FALSE(reg.token("ffffffffffffffffffffffffffffffff")->has_value());

  ASSERT_TRUE(reg.record_token("expired", "branch-01", kNow).ok());
  auto expired = reg.consume_token("expired", kNow);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, kTokenExpiredInRegistry);
  EXPECT_FALSE(reg.token("expired")->value().used_at.has_value());
}

TEST_F(RegistryTest, RevokedTokensCannotBeConsumed) {
  Registry reg = open();
  ASSERT_TRUE(reg.register_router(router("branch-01")).ok());
  ASSERT_TRUE(reg.record_token("t1", "branch-01", kNow + 600).ok());
  ASSERT_TRUE(reg.revoke_token("t1", kNow).ok());
  ASSERT_TRUE(reg.revoke_token("t1", kNow + 5).ok()) << "revoking twice is harmless";
  EXPECT_EQ(reg.token("t1")->value().revoked_at, kNow);
  auto r = reg.consume_token("t1", kNow + 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTokenRevoked);
  EXPECT_NE(r.error().message.find("token revoked"), std::string::npos);

  ASSERT_TRUE(reg.record_token("t2", "branch-01", kNow + 600).ok());
  ASSERT_TRUE(reg.consume_token("t2", kNow).ok());
  auto late = reg.revoke_token("t2", kNow + 1);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, kTokenUsed);
  EXPECT_FALSE(reg.revoke_token("t3", kNow).ok());
}

TEST_F(RegistryTest, CertificatesAreStoredPerRouter) {
  Registry reg = open();
  ASSERT_TRUE(reg.register_router(router("branch-01")).ok());
  const std::vector<uint8_t> der = {0x30, 0x82, 0x01, 0x00, 0x00, 0xff, 0x00};
  ASSERT_TRUE(reg.store_certificate({"01ab", "branch-01", der, kNow + 86400}).ok());
  ASSERT_TRUE(reg.store_certificate({"01ac", "branch-01", {0x30, 0x00}, kNow + 2 * 86400}).ok());
  auto dup = reg.store_certificate({"01ab", "branch-01", der, kNow});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("certificates.serial"), std::string::npos) << dup.error().message;
  auto orphan = reg.store_certificate({"01ad", "nobody", der, kNow});
  ASSERT_FALSE(orphan.ok());
  EXPECT_NE(orphan.error().message.find("FOREIGN KEY"), std::string::npos);
  auto certs = reg.certificates("branch-01");
  ASSERT_TRUE(certs.ok());
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ((*certs)[0].serial, "01ab");
  EXPECT_EQ((*certs)[0].der, der) << "DER with NUL bytes survives as a blob";
  EXPECT_EQ((*certs)[0].not_after, kNow + 86400);
}

TEST_F(RegistryTest, EverythingSurvivesARestart) {
  const std::vector<uint8_t> der = {0x30, 0x03, 0x02, 0x01, 0x05};
  {
    Registry reg = open();
    ASSERT_TRUE(reg.register_router(router("branch-01")).ok());
    ASSERT_TRUE(reg.record_token("used", "branch-01", kNow + 600).ok());
    ASSERT_TRUE(reg.record_token("fresh", "branch-01", kNow + 600).ok());
    ASSERT_TRUE(reg.consume_token("used", kNow).ok());
    ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::token_issued, "", kNow).ok());
    ASSERT_TRUE(reg.set_auth_state("branch-01", AuthState::attesting, "", kNow).ok());
    ASSERT_TRUE(reg.store_certificate({"7f", "branch-01", der, kNow + 86400}).ok());
  }
  Registry reg = open();
  auto r = reg.router("branch-01");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->auth_state, AuthState::attesting);
  auto again = reg.consume_token("used", kNow + 1);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, kTokenUsed) << again.error().message;
  EXPECT_TRUE(reg.consume_token("fresh", kNow + 1).ok());
  auto certs = reg.certificates("branch-01");
  ASSERT_TRUE(certs.ok());
  ASSERT_EQ(certs->size(), 1u);
  EXPECT_EQ((*certs)[0].der, der);
}

TEST_F(RegistryTest, TwoConnectionsRacingForATokenOneWins) {
  constexpr int kTokens = 100;
  {
    Registry setup = open();
    ASSERT_TRUE(setup.register_router(router("branch-01")).ok());
    for (int i = 0; i < kTokens; ++i) ASSERT_TRUE(setup.record_token("t" + std::to_string(i), "branch-01", kNow + 600).ok());
  }
  Registry a = open(), b = open();
  // Both threads start on each token together, each through its own connection.
  std::barrier round(2);
  std::vector<int> wins_a(kTokens), wins_b(kTokens);
  std::vector<std::string> other_errors;
  std::mutex m;
  auto run = [&](Registry& reg, std::vector<int>& wins) {
    for (int i = 0; i < kTokens; ++i) {
      round.arrive_and_wait();
      auto r = reg.consume_token("t" + std::to_string(i), kNow);
      if (r.ok()) {
        wins[static_cast<size_t>(i)] = 1;
      } else if (r.error().code != kTokenUsed) {
        std::lock_guard lock(m);
        other_errors.push_back(r.error().message);
      }
    }
  };
  std::thread ta(run, std::ref(a), std::ref(wins_a));
  std::thread tb(run, std::ref(b), std::ref(wins_b));
  ta.join();
  tb.join();
  EXPECT_TRUE(other_errors.empty()) << other_errors.front();
  int total_a = 0, total_b = 0;
  for (int i = 0; i < kTokens; ++i) {
    EXPECT_EQ(wins_a[static_cast<size_t>(i)] + wins_b[static_cast<size_t>(i)], 1) << "token t" << i;
    total_a += wins_a[static_cast<size_t>(i)];
    total_b += wins_b[static_cast<size_t>(i)];
  }
  EXPECT_EQ(total_a + total_b, kTokens);
  std::printf("connection a won %d tokens, b won %d\n", total_a, total_b);
}

TEST_F(RegistryTest, TwoProcessesRacingForATokenOneWins) {
  constexpr int kTokens = 100;
  {
    Registry setup = open();
    ASSERT_TRUE(setup.register_router(router("branch-01")).ok());
    for (int i = 0; i < kTokens; ++i) ASSERT_TRUE(setup.record_token("p" + std::to_string(i), "branch-01", kNow + 600).ok());
  }
  // Each process opens its own connection after the fork and writes one byte per token it won
  // ('1') or lost to "token already used" ('0'); anything else is 'x'.
  int go[2], results[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(results), 0);
  std::vector<pid_t> children;
  for (int c = 0; c < 2; ++c) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(go[1]);
      close(results[0]);
      auto reg = Registry::open(path_);
      char start;
      if (read(go[0], &start, 1) != 1 || !reg.ok()) _exit(2);
      std::string out(static_cast<size_t>(kTokens), 'x');
      for (int i = 0; i < kTokens; ++i) {
        auto r = reg->consume_token("p" + std::to_string(i), kNow);
        out[static_cast<size_t>(i)] = r.ok() ? '1' : r.error().code == kTokenUsed ? '0' : 'x';
      }
      const std::string line = std::to_string(c) + out;
      _exit(write(results[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 3);
    }
    children.push_back(pid);
  }
  close(go[0]);
  close(results[1]);
  ASSERT_EQ(write(go[1], "gg", 2), 2);
  close(go[1]);
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  std::string all;
  char buf[512];
  ssize_t n;
  while ((n = read(results[0], buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  close(results[0]);
  ASSERT_EQ(all.size(), 2u * (kTokens + 1));
  std::string outcome[2];
  outcome[all[0] - '0'] = all.substr(1, kTokens);
  outcome[all[kTokens + 1] - '0'] = all.substr(kTokens + 2, kTokens);
  for (int i = 0; i < kTokens; ++i) {
    const char x = outcome[0][static_cast<size_t>(i)], y = outcome[1][static_cast<size_t>(i)];
    EXPECT_TRUE((x == '1' && y == '0') || (x == '0' && y == '1')) << "token p" << i << ": " << x << y;
  }
  Registry reg = open();
  for (int i = 0; i < kTokens; ++i) EXPECT_TRUE(reg.token("p" + std::to_string(i))->value().used_at.has_value());
}

TEST_F(RegistryTest, RefusesOtherSchemasAndFiles) {
  { Registry reg = open(); }
  raw_exec("PRAGMA user_version = 2");
  auto newer = Registry::open(path_);
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.error().message.find("schema version 2"), std::string::npos) << newer.error().message;

  const std::string other = (dir_ / "other.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE x (y)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto foreign = Registry::open(other);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("no sedge schema version"), std::string::npos) << foreign.error().message;

  const std::string text = (dir_ / "text.db").string();
  std::ofstream(text) << "this is not a database, just some text that is long enough to have a header..........\n";
  auto notdb = Registry::open(text);
  ASSERT_FALSE(notdb.ok());
  EXPECT_NE(notdb.error().message.find("file is not a database"), std::string::npos) << notdb.error().message;

  auto nodir = Registry::open((dir_ / "missing" / "registry.db").string());
  ASSERT_FALSE(nodir.ok());
  EXPECT_NE(nodir.error().message.find("unable to open database file"), std::string::npos) << nodir.error().message;
}

}  // namespace
}  // namespace sedge::conductor

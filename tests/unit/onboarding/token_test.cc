#include "onboarding/conductor/token.h"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

namespace sedge::conductor {
namespace {

constexpr int64_t kNow = 1'760'000'000;

TokenClaims sample_claims() {
  TokenClaims c;
  c.router_id = "branch-01";
  c.identity_kind = "ek";
  c.identity_sha256 = std::string(64, 'a');
  c.mac = "52:54:00:12:34:56";
  c.conductor_pin = std::string(64, 'b');
  c.conductor = "conductor.test:930";
  c.jti = "0123456789abcdef0123456789abcdef";
  c.iat = kNow - 10;
  c.exp = kNow + 600;
  return c;
}

std::string b64url(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                                static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string unb64url(std::string s) {
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  const size_t pad = (4 - s.size() % 4) % 4;
  s.append(pad, '=');
  std::string out(s.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                                static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

struct Keys {
  Ed25519Key signing = std::move(Ed25519Key::generate().value());
  Ed25519Key verifying = signing.public_only();
};

TEST(OnboardingToken, IssuedTokenVerifiesAndCarriesEveryClaim) {
  Keys k;
  const TokenClaims claims = sample_claims();
  auto token = issue_token(claims, k.signing);
  ASSERT_TRUE(token.ok()) << token.error().message;
  const size_t dot = token->find('.');
  ASSERT_NE(dot, std::string::npos);
  EXPECT_EQ(token->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), std::string::npos)
      << "compact form is base64url without padding";
  const auto json = nlohmann::json::parse(unb64url(token->substr(0, dot)));
  EXPECT_EQ(json["v"], kTokenVersion);
  EXPECT_EQ(json["router_id"], "branch-01");
  EXPECT_EQ(json["identity_kind"], "ek");
  EXPECT_EQ(json["identity_sha256"], claims.identity_sha256);
  EXPECT_EQ(json["mac"], claims.mac);
  EXPECT_EQ(json["conductor_pin"], claims.conductor_pin);
  EXPECT_EQ(json["conductor"], "conductor.test:930");
  EXPECT_EQ(json["jti"], claims.jti);
  EXPECT_EQ(json["iat"], claims.iat);
  EXPECT_EQ(json["exp"], claims.exp);
  EXPECT_EQ(unb64url(token->substr(dot + 1)).size(), 64u);

  auto verified = verify_token(*token, k.verifying, kNow);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(*verified, claims);
  // The private key verifies too (it holds the public part).
  EXPECT_TRUE(verify_token(*token, k.signing, kNow).ok());
}

TEST(OnboardingToken, TheIdevidIdentityRoundTripsInTheSameBindingField) {
  Keys k;
  TokenClaims claims = sample_claims();
  claims.identity_kind = "idevid";
  claims.identity_sha256 = std::string(64, 'c');
  auto token = issue_token(claims, k.signing);
  ASSERT_TRUE(token.ok()) << token.error().message;
  auto read = verify_token(*token, k.verifying, kNow);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, claims);
  const auto json = nlohmann::json::parse(unb64url(token->substr(0, token->find('.'))));
  EXPECT_EQ(json["identity_kind"], "idevid");
  EXPECT_FALSE(json.contains("ek_sha256")) << "one binding field for both identities";
  claims.identity_kind = "iak";
  EXPECT_FALSE(issue_token(claims, k.signing).ok());
}

TEST(OnboardingToken, ValidityWindowIsIatInclusiveExpExclusive) {
  Keys k;
  const TokenClaims claims = sample_claims();
  auto token = issue_token(claims, k.signing);
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(verify_token(*token, k.verifying, claims.iat).ok());
  EXPECT_TRUE(verify_token(*token, k.verifying, claims.exp - 1).ok());

  auto expired = verify_token(*token, k.verifying, claims.exp);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, kTokenExpired);
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);

  auto early = verify_token(*token, k.verifying, claims.iat - 1);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, kTokenNotYetValid);
  EXPECT_NE(early.error().message.find("not valid before"), std::string::npos);
}

TEST(OnboardingToken, AnotherKeyIsABadSignature) {
  Keys k, other;
  auto token = issue_token(sample_claims(), k.signing);
  ASSERT_TRUE(token.ok());
  auto r = verify_token(*token, other.verifying, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTokenBadSignature);
  EXPECT_NE(r.error().message.find("signature"), std::string::npos);
}

TEST(OnboardingToken, TamperedPayloadIsABadSignature) {
  Keys k;
  auto token = issue_token(sample_claims(), k.signing);
  ASSERT_TRUE(token.ok());
  const size_t dot = token->find('.');
  // Re-encode claims naming another router, keep the signature.
  auto json = nlohmann::json::parse(unb64url(token->substr(0, dot)));
  json["router_id"] = "branch-02";
  const std::string forged = b64url(json.dump()) + token->substr(dot);
  auto r = verify_token(forged, k.verifying, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTokenBadSignature);
  // A later expiry, likewise.
  json = nlohmann::json::parse(unb64url(token->substr(0, dot)));
  json["exp"] = kNow + 86400 * 365;
  r = verify_token(b64url(json.dump()) + token->substr(dot), k.verifying, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTokenBadSignature);
}

TEST(OnboardingToken, TamperedSignatureIsABadSignature) {
  Keys k;
  auto token = issue_token(sample_claims(), k.signing);
  ASSERT_TRUE(token.ok());
  const size_t dot = token->find('.');
  std::string sig = unb64url(token->substr(dot + 1));
  for (size_t i : {size_t{0}, size_t{31}, size_t{63}}) {
    std::string bad = sig;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = verify_token(token->substr(0, dot + 1) + b64url(bad), k.verifying, kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, kTokenBadSignature) << i;
  }
}

TEST(OnboardingToken, MalformedTokensAreRefusedBeforeTheSignature) {
  Keys k;
  auto token = issue_token(sample_claims(), k.signing);
  ASSERT_TRUE(token.ok());
  const size_t dot = token->find('.');
  const std::string payload = token->substr(0, dot), sig = token->substr(dot + 1);
  const std::string cases[] = {
      "",
      ".",
      payload,
      payload + ".",
      "." + sig,
      payload + "." + sig + "." + sig,
      payload + "." + sig + "=",
      payload + "=." + sig,
      payload + "." + sig.substr(0, sig.size() - 2),
      payload + "." + sig + "AAAA",
      payload.substr(0, 10) + "+" + payload.substr(11) + "." + sig,
      payload + " ." + sig,
      std::string(kMaxTokenLength + 1, 'A'),
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.substr(0, 60));
    auto r = verify_token(c, k.verifying, kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, kTokenMalformed) << r.error().message;
    EXPECT_NE(r.error().message.find("malformed"), std::string::npos);
  }
  // Non-canonical base64url (unused low bits set in the last character) is refused too.
  const char last = sig.back();
  std::string noncanon = sig;
  ASSERT_NE(std::string_view("AQgw").find(last), std::string_view::npos) << "64 bytes end in 4 unused zero bits";
  noncanon.back() = static_cast<char>(last + 1);
  auto r = verify_token(payload + "." + noncanon, k.verifying, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTokenMalformed) << r.error().message;
}

// Signs arbitrary claims JSON, bypassing issue_token's checks, as a buggy or hostile issuer would.
std::string sign_raw(const std::string& json, const Ed25519Key& key) {
  const std::string payload = b64url(json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char sig[64];
  size_t len = sizeof sig;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key.get()), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(payload.data()), payload.size()), 1);
  EVP_MD_CTX_free(ctx);
  return payload + "." + b64url(std::string_view(reinterpret_cast<const char*>(sig), len));
}

nlohmann::json sample_json() {
  const TokenClaims c = sample_claims();
  return {{"v", kTokenVersion},
          {"router_id", c.router_id},
          {"identity_kind", c.identity_kind},
          {"identity_sha256", c.identity_sha256},
          {"mac", c.mac},
          {"conductor_pin", c.conductor_pin},
          {"conductor", c.conductor},
          {"jti", c.jti},
          {"iat", c.iat},
          {"exp", c.exp}};
}

TEST(OnboardingToken, WrongVersionIsItsOwnReason) {
  Keys k;
  ASSERT_TRUE(verify_token(sign_raw(sample_json().dump(), k.signing), k.verifying, kNow).ok());
  // Version 1 is the EK-only format (ek_sha256): refused as a version, not as malformed.
  for (const nlohmann::json& v :
       {nlohmann::json(1), nlohmann::json(3), nlohmann::json(0), nlohmann::json(-1)}) {
    auto j = sample_json();
    j["v"] = v;
    auto r = verify_token(sign_raw(j.dump(), k.signing), k.verifying, kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, kTokenWrongVersion) << r.error().message;
    EXPECT_NE(r.error().message.find("version"), std::string::npos);
  }
  // A version 3 token may carry different claims: still "wrong version", not "malformed".
  auto v2 = nlohmann::json{{"v", 3}, {"something", "else"}};
  auto r = verify_token(sign_raw(v2.dump(), k.signing), k.verifying, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTokenWrongVersion);
  TokenClaims c = sample_claims();
  c.v = 3;
  EXPECT_FALSE(issue_token(c, k.signing).ok());
}

TEST(OnboardingToken, SignedButMalformedClaimsAreRefused) {
  Keys k;
  auto with = [](const char* key, nlohmann::json value) {
    auto j = sample_json();
    if (value.is_null()) {
      j.erase(key);
    } else {
      j[key] = value;
    }
    return j.dump();
  };
  const std::string cases[] = {
      "[]",
      "not json",
      with("v", "1"),
      with("v", 1.5),
      with("router_id", nullptr),
      with("router_id", ""),
      with("router_id", "has space"),
      with("router_id", 7),
      with("identity_sha256", std::string(63, 'a')),
      with("identity_sha256", std::string(64, 'A')),
      with("identity_sha256", nullptr),
      with("identity_kind", "iak"),
      with("identity_kind", nullptr),
      with("ek_sha256", std::string(64, 'a')),
      with("mac", "52:54:00:12:34"),
      with("mac", "52-54-00-12-34-56"),
      with("conductor_pin", std::string(64, 'g')),
      with("conductor", "conductor.test"),
      with("conductor", "conductor.test:0"),
      with("conductor", "conductor.test:65536"),
      with("conductor", ":930"),
      with("jti", "0123"),
      with("iat", "now"),
      with("exp", kNow - 20),
      with("exp", 1e12),
      with("extra", "claim"),
  };
  for (const auto& json : cases) {
    SCOPED_TRACE(json);
    auto r = verify_token(sign_raw(json, k.signing), k.verifying, kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, kTokenMalformed) << r.error().message;
  }
  EXPECT_TRUE(verify_token(sign_raw(with("conductor", "[2001:db8::1]:930"), k.signing), k.verifying, kNow).ok());
}

TEST(OnboardingToken, RouterReadsClaimsWithoutTheKey) {
  Keys k;
  const TokenClaims claims = sample_claims();
  auto token = issue_token(claims, k.signing);
  ASSERT_TRUE(token.ok());
  auto read = read_claims_unverified(*token);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, claims);
  // Shape is still checked, and the same limits apply.
  for (const std::string& bad : {std::string(""), std::string("abc"), "." + token->substr(token->find('.') + 1),
                                 std::string(kMaxTokenLength + 1, 'A'), token->substr(0, token->find('.')) + ".x.y"}) {
    auto r = read_claims_unverified(bad);
    ASSERT_FALSE(r.ok()) << bad.substr(0, 40);
    EXPECT_EQ(r.error().code, kTokenMalformed);
  }
  auto v2 = nlohmann::json{{"v", 1}};
  auto r = read_claims_unverified(b64url(v2.dump()) + ".AAAA");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, kTokenWrongVersion);
}

TEST(OnboardingToken, IssueChecksClaimsAndNeedsThePrivateKey) {
  Keys k;
  TokenClaims c = sample_claims();
  c.mac = "52:54:00:12:34:5G";
  EXPECT_FALSE(issue_token(c, k.signing).ok());
  c = sample_claims();
  c.exp = c.iat;
  EXPECT_FALSE(issue_token(c, k.signing).ok());
  EXPECT_FALSE(issue_token(sample_claims(), k.verifying).ok());
}

TEST(OnboardingToken, KeysRoundTripThroughPemAndRaw) {
  Keys k;
  auto pem = k.signing.private_pem();
  ASSERT_TRUE(pem.ok());
  EXPECT_NE(pem->view().find("BEGIN PRIVATE KEY"), std::string_view::npos);
  auto reloaded = Ed25519Key::from_private_pem(*pem);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  EXPECT_EQ(reloaded->public_raw(), k.signing.public_raw());
  auto token = issue_token(sample_claims(), *reloaded);
  ASSERT_TRUE(token.ok());

  auto from_pem = Ed25519Key::from_public_pem(k.signing.public_pem());
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().message;
  EXPECT_FALSE(from_pem->has_private());
  EXPECT_TRUE(verify_token(*token, *from_pem, kNow).ok());
  auto from_raw = Ed25519Key::from_public_raw(k.signing.public_raw());
  ASSERT_TRUE(from_raw.ok());
  EXPECT_TRUE(verify_token(*token, *from_raw, kNow).ok());

  EXPECT_FALSE(Ed25519Key::from_public_raw(std::vector<uint8_t>(31, 1)).ok());
  EXPECT_FALSE(Ed25519Key::from_private_pem(Secret(std::string_view("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))).ok());
  // An EC key is not Ed25519.
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  auto not_ed = Ed25519Key::from_private_pem(Secret(std::string_view(data, static_cast<size_t>(n))));
  BIO_free(bio);
  EVP_PKEY_free(ec);
  EXPECT_FALSE(not_ed.ok());
}

TEST(OnboardingToken, JtiIsFreshAndPinMatchesTheSpki) {
  auto a = new_jti(), b = new_jti();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);

  // SHA-256("abc"), the FIPS 180-2 example.
  const std::string abc = "abc";
  const std::span<const uint8_t> abc_bytes(reinterpret_cast<const uint8_t*>(abc.data()), abc.size());
  EXPECT_EQ(sha256_hex(abc_bytes), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  Keys k;
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(k.signing.get(), &der);
  ASSERT_GT(len, 0);
  const std::vector<uint8_t> spki(der, der + len);
  OPENSSL_free(der);
  const std::string pin = sha256_hex(spki);
  EXPECT_TRUE(pin_matches(pin, spki));
  std::vector<uint8_t> other = spki;
  other.back() ^= 1;
  EXPECT_FALSE(pin_matches(pin, other));
  EXPECT_FALSE(pin_matches(pin.substr(2), spki));
  EXPECT_FALSE(pin_matches("zz" + pin.substr(2), spki));
}

}  // namespace
}  // namespace sedge::conductor

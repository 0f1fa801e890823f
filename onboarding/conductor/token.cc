#include "onboarding/conductor/token.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/hex.h"

namespace sedge::conductor {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr size_t kSignatureSize = 64;

bool is_lower_hex(std::string_view s, size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Strict base64url without padding (common/base64.h: canonical only, so that one token has
// exactly one spelling).
bool unbase64url(std::string_view in, Bytes& out) {
  auto decoded = base64url_decode(in);
  if (!decoded) return false;
  out = std::move(*decoded);
  return true;
}

Error malformed(const std::string& why) { return Error{"onboarding token malformed: " + why, kTokenMalformed}; }

bool is_router_id(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':';
  });
}

bool is_mac(std::string_view s) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i % 3 == 2) {
      if (c != ':') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// "host:port" or "[v6]:port"; host letters, digits, '.', '-'; port 1-65535.
bool is_host_port(std::string_view s) {
  if (s.size() > 255) return false;
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = s.substr(0, colon), port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.front() == '0' ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  if (std::stoi(std::string(port)) > 65535) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
    return std::all_of(host.begin(), host.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    });
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

Status check_claims(const TokenClaims& c) {
  if (c.v != kTokenVersion) return Error{"onboarding token version " + std::to_string(c.v) + " (this conductor reads " + std::to_string(kTokenVersion) + ")", kTokenWrongVersion};
  if (!is_router_id(c.router_id)) return malformed("router_id must be 1-128 of A-Z a-z 0-9 - _ . :");
  if (c.identity_kind != "ek" && c.identity_kind != "idevid")
    return malformed("identity_kind must be ek or idevid");
  if (!is_lower_hex(c.identity_sha256, 64))
    return malformed("identity_sha256 must be 64 lower-case hex digits");
  if (!is_mac(c.mac)) return malformed("mac must be aa:bb:cc:dd:ee:ff (lower case)");
  if (!is_lower_hex(c.conductor_pin, 64)) return malformed("conductor_pin must be 64 lower-case hex digits");
  if (!is_host_port(c.conductor)) return malformed("conductor must be host:port");
  if (!is_lower_hex(c.jti, 32)) return malformed("jti must be 32 lower-case hex digits");
  if (c.iat < 0 || c.exp <= c.iat) return malformed("exp must come after iat, both non-negative");
  return {};
}

}  // namespace

// ---------------------------------------------------------------- keys

Result<Ed25519Key> Ed25519Key::generate() {
  PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!k) return Error{"cannot generate an Ed25519 key", EIO};
  return Ed25519Key(std::move(k), true);
}

Result<Ed25519Key> Ed25519Key::from_private_pem(const Secret& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.bytes().data(), static_cast<int>(pem.size())));
  if (!bio) return Error{"out of memory", ENOMEM};
  PkeyPtr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k) return Error{"not a PEM private key", EINVAL};
  if (EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519) return Error{"the private key is not Ed25519", EINVAL};
  return Ed25519Key(std::move(k), true);
}

Result<Ed25519Key> Ed25519Key::from_public_raw(std::span<const uint8_t> raw) {
  if (raw.size() != 32) return Error{"an Ed25519 public key is 32 bytes", EINVAL};
  PkeyPtr k(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!k) return Error{"invalid Ed25519 public key", EINVAL};
  return Ed25519Key(std::move(k), false);
}

Result<Ed25519Key> Ed25519Key::from_public_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Error{"out of memory", ENOMEM};
  PkeyPtr k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!k) return Error{"not a PEM public key", EINVAL};
  if (EVP_PKEY_get_id(k.get()) != EVP_PKEY_ED25519) return Error{"the public key is not Ed25519", EINVAL};
  return Ed25519Key(std::move(k), false);
}

std::vector<uint8_t> Ed25519Key::public_raw() const {
  std::vector<uint8_t> out(32);
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key_.get(), out.data(), &len) != 1) return {};
  out.resize(len);
  return out;
}

std::string Ed25519Key::public_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<Secret> Ed25519Key::private_pem() const {
  if (!has_private_) return Error{"this Ed25519 key has no private part", EINVAL};
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Error{"cannot encode the Ed25519 private key", EIO};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return Secret(std::string_view(data, static_cast<size_t>(n)));
}

Ed25519Key Ed25519Key::public_only() const {
  const auto raw = public_raw();
  return Ed25519Key(PkeyPtr(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size())), false);
}

// ---------------------------------------------------------------- helpers

Result<std::string> new_jti() {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof b) != 1) return Error{"the random generator failed", EIO};
  return to_hex(b);
}

std::string sha256_hex(std::span<const uint8_t> der) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(der.data(), der.size(), digest, &len, EVP_sha256(), nullptr) != 1) return {};
  return to_hex(std::span<const uint8_t>(digest, len));
}

bool pin_matches(std::string_view conductor_pin, std::span<const uint8_t> spki_der) {
  auto expected = from_hex(conductor_pin);
  auto actual = from_hex(sha256_hex(spki_der));
  if (!expected || !actual || expected->size() != 32) return false;
  return constant_time_equal(*expected, *actual);
}

// ---------------------------------------------------------------- claims

Result<TokenClaims> parse_claims(std::string_view text) {
  if (text.size() > kMaxTokenLength) return malformed("claims longer than " + std::to_string(kMaxTokenLength) + " bytes");
  const auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return malformed("claims are not a JSON object");
  // The version first: another version may have other claims.
  const auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer()) return malformed("no integer claim v");
  if (v->is_number_unsigned() ? v->get<uint64_t>() != uint64_t{kTokenVersion} : v->get<int64_t>() != kTokenVersion)
    return Error{"onboarding token version " + v->dump() + " (this conductor reads " + std::to_string(kTokenVersion) + ")", kTokenWrongVersion};

  static constexpr std::string_view kStrings[] = {
      "router_id", "identity_kind", "identity_sha256", "mac", "conductor_pin", "conductor", "jti"};
  static constexpr std::string_view kTimes[] = {"iat", "exp"};
  for (const auto& [key, value] : j.items()) {
    const bool known = key == "v" || std::find(std::begin(kStrings), std::end(kStrings), key) != std::end(kStrings) ||
                       std::find(std::begin(kTimes), std::end(kTimes), key) != std::end(kTimes);
    if (!known) return malformed("unknown claim '" + key.substr(0, 32) + "'");
  }
  TokenClaims c;
  std::string* fields[] = {&c.router_id, &c.identity_kind, &c.identity_sha256,
                           &c.mac,       &c.conductor_pin, &c.conductor,
                           &c.jti};
  for (size_t i = 0; i < std::size(kStrings); ++i) {
    const auto it = j.find(kStrings[i]);
    if (it == j.end() || !it->is_string()) return malformed("no string claim " + std::string(kStrings[i]));
    *fields[i] = it->get<std::string>();
  }
  int64_t* times[] = {&c.iat, &c.exp};
  for (size_t i = 0; i < std::size(kTimes); ++i) {
    const auto it = j.find(kTimes[i]);
    if (it == j.end() || !it->is_number_integer()) return malformed("no integer claim " + std::string(kTimes[i]));
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return malformed(std::string(kTimes[i]) + " out of range");
    *times[i] = it->get<int64_t>();
  }
  if (auto s = check_claims(c); !s) return s.error();
  return c;
}

Result<std::string> issue_token(const TokenClaims& claims, const Ed25519Key& key) {
  if (auto s = check_claims(claims); !s) return s.error().context("issuing");
  if (!key.has_private()) return Error{"issuing an onboarding token needs the private key", EINVAL};
  const nlohmann::json j = {{"v", claims.v},
                            {"router_id", claims.router_id},
                            {"identity_kind", claims.identity_kind},
                            {"identity_sha256", claims.identity_sha256},
                            {"mac", claims.mac},
                            {"conductor_pin", claims.conductor_pin},
                            {"conductor", claims.conductor},
                            {"jti", claims.jti},
                            {"iat", claims.iat},
                            {"exp", claims.exp}};
  const std::string json = j.dump();
  const std::string payload = base64url_encode(std::span(reinterpret_cast<const uint8_t*>(json.data()), json.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  uint8_t sig[kSignatureSize];
  size_t sig_len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sig_len, reinterpret_cast<const unsigned char*>(payload.data()), payload.size()) != 1)
    return Error{"signing the onboarding token failed", EIO};
  std::string token = payload + "." + base64url_encode(std::span<const uint8_t>(sig, sig_len));
  if (token.size() > kMaxTokenLength) return Error{"onboarding token would be longer than " + std::to_string(kMaxTokenLength) + " bytes", EMSGSIZE};
  return token;
}

Result<TokenClaims> verify_token(std::string_view token, const Ed25519Key& key, int64_t now) {
  if (token.size() > kMaxTokenLength) return malformed("longer than " + std::to_string(kMaxTokenLength) + " bytes");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos)
    return malformed("not two parts separated by one '.'");
  const std::string_view payload = token.substr(0, dot), sig_text = token.substr(dot + 1);
  Bytes json, sig;
  if (payload.empty() || !unbase64url(payload, json)) return malformed("claims are not base64url");
  if (!unbase64url(sig_text, sig) || sig.size() != kSignatureSize) return malformed("signature is not 64 bytes of base64url");

  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return Error{"cannot set up Ed25519 verification", EIO};
  if (EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(payload.data()), payload.size()) != 1)
    return Error{"onboarding token signature does not verify (altered, or signed by another conductor key)", kTokenBadSignature};

  auto claims = parse_claims(std::string_view(reinterpret_cast<const char*>(json.data()), json.size()));
  if (!claims) return claims.error();
  if (now < claims->iat)
    return Error{"onboarding token not valid before " + std::to_string(claims->iat) + " (now " + std::to_string(now) + ")", kTokenNotYetValid};
  if (now >= claims->exp)
    return Error{"onboarding token expired at " + std::to_string(claims->exp) + " (now " + std::to_string(now) + ")", kTokenExpired};
  return claims;
}

Result<TokenClaims> read_claims_unverified(std::string_view token) {
  if (token.size() > kMaxTokenLength) return malformed("longer than " + std::to_string(kMaxTokenLength) + " bytes");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos)
    return malformed("not two parts separated by one '.'");
  Bytes json;
  if (dot == 0 || !unbase64url(token.substr(0, dot), json)) return malformed("claims are not base64url");
  return parse_claims(std::string_view(reinterpret_cast<const char*>(json.data()), json.size()));
}

}  // namespace sedge::conductor

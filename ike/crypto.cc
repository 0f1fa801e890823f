#include "ike/crypto.h"

#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "common/log.h"
#include "common/openssl.h"
#include "ike/proposal.h"

namespace sedge::ike {
namespace {

Error ssl_error(const char* what) { return Error{std::string(what) + " failed in OpenSSL", EPROTO}; }

Bytes concat(std::initializer_list<std::span<const uint8_t>> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes be64(uint64_t v) {
  Bytes b;
  put64(b, v);
  return b;
}

constexpr size_t kSalt = 4, kGcmIv = 8, kGcmIcv = 16, kCbcBlock = 16;

const EVP_MD* prf_md(uint16_t prf) {
  switch (prf) {
    case kPrfHmacSha1: return EVP_sha1();
    case kPrfHmacSha256: return EVP_sha256();
    case kPrfHmacSha384: return EVP_sha384();
    case kPrfHmacSha512: return EVP_sha512();
    default: return nullptr;
  }
}

const EVP_MD* integ_md(uint16_t integ) {
  switch (integ) {
    case kIntegHmacSha256_128: return EVP_sha256();
    case kIntegHmacSha384_192: return EVP_sha384();
    case kIntegHmacSha512_256: return EVP_sha512();
    default: return nullptr;
  }
}

Bytes hmac(const EVP_MD* md, std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len);
  out.resize(len);
  return out;
}

const EVP_CIPHER* gcm_cipher(size_t key_size) {
  return key_size == 32 ? EVP_aes_256_gcm() : key_size == 24 ? EVP_aes_192_gcm() : key_size == 16 ? EVP_aes_128_gcm() : nullptr;
}
const EVP_CIPHER* cbc_cipher(size_t key_size) {
  return key_size == 32 ? EVP_aes_256_cbc() : key_size == 24 ? EVP_aes_192_cbc() : key_size == 16 ? EVP_aes_128_cbc() : nullptr;
}

}  // namespace

size_t prf_size(uint16_t prf) {
  const EVP_MD* md = prf_md(prf);
  return md ? static_cast<size_t>(EVP_MD_get_size(md)) : 0;
}
size_t integ_key_size(uint16_t integ) {
  const EVP_MD* md = integ_md(integ);
  return md ? static_cast<size_t>(EVP_MD_get_size(md)) : 0;
}
size_t integ_icv_size(uint16_t integ) { return integ_key_size(integ) / 2; }

Bytes prf(uint16_t prf_id, std::span<const uint8_t> key, std::span<const uint8_t> data) {
  const EVP_MD* md = prf_md(prf_id);
  return md ? hmac(md, key, data) : Bytes{};
}
Bytes prf(std::span<const uint8_t> key, std::span<const uint8_t> data) { return prf(kPrfHmacSha256, key, data); }
Bytes prf(const PrfKey& key, std::span<const uint8_t> data) { return prf(key.prf_id(), key.bytes(), data); }

Secret prf_plus(uint16_t prf_id, std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t length) {
  Secret out(length);
  Bytes t;
  size_t filled = 0;
  for (unsigned n = 1; filled < length && n <= 255; ++n) {
    Bytes input = t;
    input.insert(input.end(), seed.begin(), seed.end());
    input.push_back(static_cast<uint8_t>(n));
    OPENSSL_cleanse(t.data(), t.size());
    t = prf(prf_id, key, input);
    OPENSSL_cleanse(input.data(), input.size());
    if (t.empty()) break;
    const size_t take = std::min(t.size(), length - filled);
    std::memcpy(out.mutable_bytes().data() + filled, t.data(), take);
    filled += take;
  }
  OPENSSL_cleanse(t.data(), t.size());
  return out;
}
Secret prf_plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t length) {
  return prf_plus(kPrfHmacSha256, key, seed, length);
}

Bytes integ_icv(uint16_t integ, std::span<const uint8_t> key, std::span<const uint8_t> data) {
  const EVP_MD* md = integ_md(integ);
  if (!md) return {};
  Bytes full = hmac(md, key, data);
  full.resize(integ_icv_size(integ));
  return full;
}

// ---- Suites ----

std::string Suite::ike_name() const {
  return proposal_name({encr, key_bits, integ, prf, dh_group, false}, ProposalKind::ike);
}

std::string Suite::esp_name() const {
  return proposal_name({esp_encr, esp_key_bits, esp_integ, 0, 0, esn}, ProposalKind::esp);
}

Result<Suite> parse_suite(std::string_view ike, std::string_view esp) {
  auto i = parse_proposal(ike, ProposalKind::ike);
  if (!i) return i.error();
  auto e = parse_proposal(esp, ProposalKind::esp);  // its DH group is the PFS group of rekeys (parse_pfs_group)
  if (!e) return e.error();
  Suite suite;
  suite.encr = i->encr;
  suite.key_bits = i->key_bits;
  suite.integ = i->integ;
  suite.prf = i->prf;
  suite.dh_group = i->dh_group;
  suite.esp_encr = e->encr;
  suite.esp_key_bits = e->key_bits;
  suite.esp_integ = e->integ;
  suite.esn = e->esn;
  return suite;
}

std::vector<Transform> ike_transforms(const Suite& s) {
  std::vector<Transform> t = {{kTransformEncr, s.encr, s.key_bits}, {kTransformPrf, s.prf, std::nullopt}};
  if (!s.aead()) t.push_back({kTransformInteg, s.integ, std::nullopt});
  t.push_back({kTransformDh, s.dh_group, std::nullopt});
  return t;
}

std::vector<Transform> esp_transforms(const Suite& s) {
  std::vector<Transform> t;
  if (s.esp_encr == kEncrNull) {
    t.push_back({kTransformEncr, kEncrNull, std::nullopt});
  } else {
    t.push_back({kTransformEncr, s.esp_encr, s.esp_key_bits});
  }
  if (!s.esp_aead()) t.push_back({kTransformInteg, s.esp_integ, std::nullopt});
  t.push_back({kTransformEsn, static_cast<uint16_t>(s.esn ? 1 : 0), std::nullopt});
  return t;
}

bool same_transforms(const std::vector<Transform>& a, const std::vector<Transform>& b) {
  if (a.size() != b.size()) return false;
  return std::all_of(a.begin(), a.end(), [&](const Transform& t) { return std::find(b.begin(), b.end(), t) != b.end(); });
}

std::optional<Proposal> choose_proposal(const std::vector<Proposal>& offered, uint8_t protocol, const std::vector<Transform>& ours) {
  for (const auto& p : offered) {
    if (p.protocol != protocol) continue;
    const bool offers_esn = std::any_of(p.transforms.begin(), p.transforms.end(), [](const Transform& t) { return t.type == kTransformEsn; });
    Proposal chosen{p.number, protocol, p.spi, {}};
    bool all = true;
    for (const auto& t : ours) {
      if (t.type == kTransformEsn && !offers_esn && t.id == 0) continue;  // no ESN transform: no ESN
      if (std::find(p.transforms.begin(), p.transforms.end(), t) == p.transforms.end()) {
        all = false;
        break;
      }
      chosen.transforms.push_back(t);
    }
    if (all) return chosen;
  }
  return std::nullopt;
}

// ---- Key exchange ----

namespace {

struct Group {
  uint16_t id;
  const char* type;  // OpenSSL key type
  const char* name;  // OpenSSL group name
  size_t public_size, secret_size;
};
constexpr Group kGroups[] = {
    {14, "DH", "modp_2048", 256, 256}, {15, "DH", "modp_3072", 384, 384}, {19, "EC", "P-256", 64, 32},
    {20, "EC", "P-384", 96, 48},       {21, "EC", "P-521", 132, 66},      {31, "X25519", "", 32, 32},
};

const Group* group_of(uint16_t id) {
  for (const auto& g : kGroups) {
    if (g.id == id) return &g;
  }
  return nullptr;
}

bool is_modp(const Group& g) { return std::strcmp(g.type, "DH") == 0; }
bool is_ecp(const Group& g) { return std::strcmp(g.type, "EC") == 0; }

PkeyPtr generate_key(const Group& g) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, g.type, nullptr));
  if (!ctx) return nullptr;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(g.name), 0),
                         OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  const bool ok = EVP_PKEY_keygen_init(ctx.get()) > 0 && (g.id == 31 || EVP_PKEY_CTX_set_params(ctx.get(), params) > 0) &&
                  EVP_PKEY_generate(ctx.get(), &key) > 0;
  PkeyPtr owned(key);
  if (!ok) return nullptr;
  return owned;
}

// The public value as the KE payload carries it.
Bytes public_of(EVP_PKEY* key, const Group& g) {
  if (is_modp(g)) {
    BIGNUM* pub = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PUB_KEY, &pub) <= 0) return {};
    const BignumPtr owned(pub);
    Bytes out(g.public_size);
    const int n = BN_bn2binpad(pub, out.data(), static_cast<int>(out.size()));
    return n < 0 ? Bytes{} : out;
  }
  Bytes point(g.public_size + 1);
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(), &len) <= 0) return {};
  point.resize(len);
  if (is_ecp(g)) {
    if (point.empty() || point[0] != 0x04) return {};
    point.erase(point.begin());  // drop the uncompressed-point prefix: x || y (RFC 5903 7)
  }
  return point;
}

// A key of the group from its values (the peer's public value; or, for tests, a key pair).
PkeyPtr key_from(const Group& g, std::span<const uint8_t> public_value, std::span<const uint8_t> private_value) {
  if (g.id == 31) {
    return PkeyPtr(private_value.empty()
                       ? EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, public_value.data(), public_value.size())
                       : EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_value.data(), private_value.size()));
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  BignumPtr pub_bn;
  SecretBignumPtr priv_bn;
  Bytes encoded;
  bool ok = bld && OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, g.name, 0) > 0;
  if (ok && is_modp(g)) {
    pub_bn.reset(BN_bin2bn(public_value.data(), static_cast<int>(public_value.size()), nullptr));
    ok = pub_bn && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub_bn.get()) > 0;
  } else if (ok) {
    encoded.push_back(0x04);
    encoded.insert(encoded.end(), public_value.begin(), public_value.end());
    ok = OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded.size()) > 0;
  }
  if (ok && !private_value.empty()) {
    priv_bn.reset(BN_secure_new());
    ok = priv_bn && BN_bin2bn(private_value.data(), static_cast<int>(private_value.size()), priv_bn.get()) &&
         OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv_bn.get()) > 0;
  }
  const ParamsPtr params(ok ? OSSL_PARAM_BLD_to_param(bld.get()) : nullptr);
  const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, g.type, nullptr));
  EVP_PKEY* key = nullptr;
  const int selection = private_value.empty() ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR;
  if (!(params && ctx && EVP_PKEY_fromdata_init(ctx.get()) > 0 && EVP_PKEY_fromdata(ctx.get(), &key, selection, params.get()) > 0)) {
    key = nullptr;
  }
  return PkeyPtr(key);
}

}  // namespace

bool KeyExchange::supported(uint16_t group) { return group_of(group) != nullptr; }
size_t KeyExchange::public_size(uint16_t group) {
  const Group* g = group_of(group);
  return g ? g->public_size : 0;
}

Result<KeyExchange> KeyExchange::generate(uint16_t group) {
  const Group* g = group_of(group);
  if (!g) return Error{"DH group " + std::to_string(group) + " is not supported", ENOTSUP};
  KeyExchange kx;
  kx.group_ = group;
  kx.key_ = generate_key(*g);
  if (!kx.key_) return ssl_error("generating a key exchange key");
  kx.public_ = public_of(kx.key_.get(), *g);
  if (kx.public_.size() != g->public_size) return ssl_error("reading the key exchange public value");
  return kx;
}

Result<KeyExchange> KeyExchange::from_private(uint16_t group, std::span<const uint8_t> private_value,
                                              std::span<const uint8_t> public_value) {
  const Group* g = group_of(group);
  if (!g) return Error{"DH group " + std::to_string(group) + " is not supported", ENOTSUP};
  if (private_value.empty()) return Error{"no private value", EINVAL};
  if (!(g->id == 31 && public_value.empty()) && public_value.size() != g->public_size) {
    return Error{"a group " + std::to_string(group) + " public value is " + std::to_string(g->public_size) + " bytes", EINVAL};
  }
  PkeyPtr key = key_from(*g, public_value, private_value);
  if (!key) return Error{"the group " + std::to_string(group) + " key pair is invalid", EINVAL};
  KeyExchange kx;
  kx.group_ = group;
  kx.key_ = std::move(key);
  kx.public_ = public_of(kx.key_.get(), *g);
  bool pair = kx.public_.size() == g->public_size;
  if (pair && g->id == 31) {
    pair = public_value.empty() || Bytes(public_value.begin(), public_value.end()) == kx.public_;
  } else if (pair) {
    const PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, kx.key_.get(), nullptr));
    pair = check && EVP_PKEY_pairwise_check(check.get()) > 0;
  }
  if (!pair) return Error{"the group " + std::to_string(group) + " public value does not belong to the private value", EINVAL};
  return kx;
}

KeyExchange::KeyExchange(KeyExchange&&) noexcept = default;
KeyExchange& KeyExchange::operator=(KeyExchange&&) noexcept = default;
KeyExchange::~KeyExchange() = default;

Result<Secret> KeyExchange::shared_secret(std::span<const uint8_t> peer_public) const {
  const Group* g = group_of(group_);
  if (!g) return Error{"no key exchange", EINVAL};
  if (peer_public.size() != g->public_size) {
    return Error{"the peer's group " + std::to_string(group_) + " public value is not " + std::to_string(g->public_size) + " bytes",
                 EBADMSG};
  }
  const PkeyPtr peer = key_from(*g, peer_public, {});
  if (!peer) return Error{"the peer's key exchange public value is invalid", EBADMSG};
  // RFC 6989's checks, which are enough for these groups: MODP primes are safe primes, so
  // 1 < y < p-1 (the full subgroup test, y^q mod p, would cost a 2048-bit exponentiation, three
  // times the exchange itself); the ECP curves have cofactor 1, so a point on the curve. X25519
  // needs none (an all-zero result is refused by OpenSSL, RFC 8031).
  const PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, peer.get(), nullptr));
  if (!check || (g->id != 31 && EVP_PKEY_public_check_quick(check.get()) <= 0)) {
    return Error{"the peer's key exchange public value is invalid (RFC 6989 check)", EBADMSG};
  }
  const PkeyCtxPtr dctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
  // g^ir: MODP padded to the prime's length (RFC 7296 2.14), ECP the x coordinate (RFC 5903 7),
  // X25519 32 bytes.
  Secret out(g->secret_size);
  size_t len = g->secret_size;
  const bool ok = dctx && EVP_PKEY_derive_init(dctx.get()) > 0 && (!is_modp(*g) || EVP_PKEY_CTX_set_dh_pad(dctx.get(), 1) > 0) &&
                  EVP_PKEY_derive_set_peer_ex(dctx.get(), peer.get(), 0) > 0 &&
                  EVP_PKEY_derive(dctx.get(), out.mutable_bytes().data(), &len) > 0;
  if (!ok || len != g->secret_size) return Error{"the key exchange with the peer's value failed (invalid public value?)", EBADMSG};
  return out;
}

// ---- Key derivation ----

Bytes skeyseed(uint16_t prf_id, std::span<const uint8_t> ni, std::span<const uint8_t> nr, std::span<const uint8_t> g_ir) {
  const Bytes nonces = concat({ni, nr});
  return prf(prf_id, nonces, g_ir);
}

Bytes rekey_skeyseed(const PrfKey& old_sk_d, std::span<const uint8_t> g_ir_new, std::span<const uint8_t> ni,
                     std::span<const uint8_t> nr) {
  Bytes input = concat({g_ir_new, ni, nr});
  Bytes out = prf(old_sk_d, input);
  OPENSSL_cleanse(input.data(), input.size());
  return out;
}

Secret ike_keymat(uint16_t prf_id, std::span<const uint8_t> seed_key, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                  uint64_t spi_i, uint64_t spi_r, size_t length) {
  const Bytes si = be64(spi_i), sr = be64(spi_r);
  return prf_plus(prf_id, seed_key, concat({ni, nr, si, sr}), length);
}

Secret child_keymat(const PrfKey& sk_d, std::span<const uint8_t> g_ir_new, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                    size_t length) {
  Bytes seed = concat({g_ir_new, ni, nr});
  Secret out = prf_plus(sk_d.prf_id(), sk_d.bytes(), seed, length);
  OPENSSL_cleanse(seed.data(), seed.size());
  return out;
}

IkeKeys split_ike_keys(const Suite& suite, std::span<const uint8_t> seed_key, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                       uint64_t spi_i, uint64_t spi_r) {
  const size_t p = prf_size(suite.prf), a = suite.aead() ? 0 : integ_key_size(suite.integ), e = suite.key_and_salt();
  Secret all = ike_keymat(suite.prf, seed_key, ni, nr, spi_i, spi_r, p + 2 * a + 2 * e + 2 * p);
  size_t at = 0;
  auto next = [&](size_t len) {
    Secret s(all.bytes().subspan(at, len));
    at += len;
    return s;
  };
  IkeKeys k;
  k.sk_d = PrfKey(next(p), suite.prf);
  Secret ai = next(a), ar = next(a);
  Secret ei = next(e), er = next(e);
  k.sk_ei = SkKey(suite.encr, std::move(ei), suite.integ, std::move(ai));
  k.sk_er = SkKey(suite.encr, std::move(er), suite.integ, std::move(ar));
  k.sk_pi = PrfKey(next(p), suite.prf);
  k.sk_pr = PrfKey(next(p), suite.prf);
  return k;
}

IkeKeys derive_ike_keys(const Suite& suite, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                        uint64_t spi_i, uint64_t spi_r) {
  Bytes seed_key = skeyseed(suite.prf, ni, nr, g_ir);
  IkeKeys k = split_ike_keys(suite, seed_key, ni, nr, spi_i, spi_r);
  OPENSSL_cleanse(seed_key.data(), seed_key.size());
  return k;
}

ChildKeys derive_child_keys(const Suite& suite, const Secret& sk_d, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                            std::span<const uint8_t> g_ir) {
  const size_t e = suite.esp_key_size(), a = suite.esp_aead() ? 0 : integ_key_size(suite.esp_integ);
  const PrfKey key(sk_d.clone(), suite.prf);
  Secret keymat = child_keymat(key, g_ir, ni, nr, 2 * (e + a));
  auto part = [&](size_t at, size_t len) { return Secret(keymat.bytes().subspan(at, len)); };
  return {part(0, e), part(e + a, e), part(e, a), part(2 * e + a, a)};
}

// ---- The Encrypted payload ----

namespace {

// The SK (or SKF) payload's generic header after the IKE header, then `lead` (SKF: the
// fragment number and total, RFC 7383 2.5); `body` is the payload's length less 4, lead included.
Bytes sk_prefix(Header& header, uint8_t inner_first, size_t body, uint8_t type = kSk, std::span<const uint8_t> lead = {}) {
  header.first_payload = type;
  header.length = static_cast<uint32_t>(kHeaderSize + 4 + body);
  Bytes msg = serialize_header(header);
  const size_t sk_len = 4 + body;
  msg.insert(msg.end(), {inner_first, 0});
  put16(msg, static_cast<uint16_t>(sk_len));
  msg.insert(msg.end(), lead.begin(), lead.end());
  return msg;
}

Bytes seal_gcm(const SkKey& key, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint64_t iv_counter,
               uint8_t type = kSk, std::span<const uint8_t> lead = {}) {
  // Plaintext: the payloads, then a pad-length byte of 0 (GCM needs no padding).
  Bytes plain(inner.begin(), inner.end());
  plain.push_back(0);
  const Bytes iv = be64(iv_counter);
  const size_t key_size = key.size() - kSalt;
  Bytes msg = sk_prefix(header, inner_first, lead.size() + kGcmIv + plain.size() + kGcmIcv, type, lead);
  const size_t aad_len = msg.size();  // IKE header + SK generic header (RFC 5282 5.1), SKF's numbers (RFC 7383 2.5)
  msg.insert(msg.end(), iv.begin(), iv.end());
  Bytes nonce(key.bytes().begin() + static_cast<long>(key_size), key.bytes().end());
  nonce.insert(nonce.end(), iv.begin(), iv.end());
  CipherCtxPtr c(EVP_CIPHER_CTX_new());
  int len = 0;
  Bytes out(plain.size());
  Bytes tag(kGcmIcv);
  EVP_EncryptInit_ex(c.get(), gcm_cipher(key_size), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr);
  EVP_EncryptInit_ex(c.get(), nullptr, nullptr, key.bytes().data(), nonce.data());
  EVP_EncryptUpdate(c.get(), nullptr, &len, msg.data(), static_cast<int>(aad_len));
  EVP_EncryptUpdate(c.get(), out.data(), &len, plain.data(), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(c.get(), out.data() + len, &len);
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmIcv), tag.data());
  msg.insert(msg.end(), out.begin(), out.end());
  msg.insert(msg.end(), tag.begin(), tag.end());
  OPENSSL_cleanse(plain.data(), plain.size());
  return msg;
}

// RFC 7296 3.14: IV | E(payloads | padding | pad length) | ICV, the ICV (truncated HMAC)
// over the whole message up to it.
Bytes seal_cbc(const SkKey& key, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint8_t type = kSk,
               std::span<const uint8_t> lead = {}) {
  const size_t icv = integ_icv_size(key.integ());
  const size_t pad = (kCbcBlock - (inner.size() + 1) % kCbcBlock) % kCbcBlock;
  Bytes plain(inner.begin(), inner.end());
  plain.insert(plain.end(), pad, 0);
  plain.push_back(static_cast<uint8_t>(pad));
  const Bytes iv = random_bytes(kCbcBlock);
  Bytes msg = sk_prefix(header, inner_first, lead.size() + kCbcBlock + plain.size() + icv, type, lead);
  msg.insert(msg.end(), iv.begin(), iv.end());
  CipherCtxPtr c(EVP_CIPHER_CTX_new());
  int len = 0;
  Bytes out(plain.size());
  EVP_EncryptInit_ex(c.get(), cbc_cipher(key.size()), nullptr, key.bytes().data(), iv.data());
  EVP_CIPHER_CTX_set_padding(c.get(), 0);
  EVP_EncryptUpdate(c.get(), out.data(), &len, plain.data(), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(c.get(), out.data() + len, &len);
  msg.insert(msg.end(), out.begin(), out.end());
  const Bytes mac = integ_icv(key.integ(), key.integ_key().bytes(), msg);
  msg.insert(msg.end(), mac.begin(), mac.end());
  OPENSSL_cleanse(plain.data(), plain.size());
  return msg;
}

bool valid_key(const SkKey& key) {
  if (key.encr() == kEncrAesGcm16) return key.size() > kSalt && gcm_cipher(key.size() - kSalt);
  if (key.encr() == kEncrAesCbc) return cbc_cipher(key.size()) && integ_key_size(key.integ()) == key.integ_key().size() && key.integ_key().size() > 0;
  return false;
}

Result<Bytes> unpad(Bytes plain) {
  if (plain.empty()) return Error{"SK payload without a pad length", EBADMSG};
  const uint8_t pad = plain.back();
  if (static_cast<size_t>(pad) + 1 > plain.size()) return Error{"SK payload padding longer than its content", EBADMSG};
  plain.resize(plain.size() - pad - 1);
  return plain;
}

}  // namespace

Bytes seal(const SkKey& key, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint64_t iv_counter) {
  if (!valid_key(key)) {
    log::error("IKE: an SK payload key of " + std::to_string(key.size()) + " bytes does not fit its algorithm; nothing sent");
    return {};
  }
  return key.encr() == kEncrAesCbc ? seal_cbc(key, header, inner_first, inner) : seal_gcm(key, header, inner_first, inner, iv_counter);
}

Bytes seal(const Secret& key_and_salt, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint64_t iv_counter) {
  return seal(SkKey(key_and_salt.clone()), header, inner_first, inner, iv_counter);
}

namespace {

// Checks and decrypts the Encrypted (or Encrypted Fragment) payload that ends `wire`: its IV
// starts at `iv_at`, and everything before it is the AAD (AES-GCM); with AES-CBC the ICV covers
// the whole message and is checked before anything is decrypted. The content without padding.
Result<Bytes> open_content(const SkKey& key, std::span<const uint8_t> wire, size_t iv_at) {
  if (!valid_key(key)) return Error{"the SK payload key does not fit its algorithm", EINVAL};
  if (iv_at > wire.size()) return Error{"SK payload longer than the message", EBADMSG};
  const auto body = wire.subspan(iv_at);
  Bytes plain;
  if (key.encr() == kEncrAesCbc) {
    const size_t icv = integ_icv_size(key.integ());
    if (body.size() < kCbcBlock + kCbcBlock + icv || (body.size() - kCbcBlock - icv) % kCbcBlock != 0) {
      return Error{"SK payload is not IV, whole AES blocks and an ICV", EBADMSG};
    }
    const auto authenticated = wire.subspan(0, wire.size() - icv);
    const Bytes expected = integ_icv(key.integ(), key.integ_key().bytes(), authenticated);
    if (!constant_time_equal(expected, wire.subspan(wire.size() - icv))) {
      return Error{"SK payload integrity check failed (wrong keys or a tampered message)", EBADMSG};
    }
    const size_t ct_len = body.size() - kCbcBlock - icv;
    plain.resize(ct_len);
    CipherCtxPtr c(EVP_CIPHER_CTX_new());
    int len = 0, fin = 0;
    const bool ok = EVP_DecryptInit_ex(c.get(), cbc_cipher(key.size()), nullptr, key.bytes().data(), body.data()) > 0 &&
                    EVP_CIPHER_CTX_set_padding(c.get(), 0) > 0 &&
                    EVP_DecryptUpdate(c.get(), plain.data(), &len, body.data() + kCbcBlock, static_cast<int>(ct_len)) > 0 &&
                    EVP_DecryptFinal_ex(c.get(), plain.data() + len, &fin) > 0;
    if (!ok) return Error{"SK payload decryption failed", EBADMSG};
    return unpad(std::move(plain));
  }
  if (body.size() < kGcmIv + kGcmIcv + 1) return Error{"SK payload too short", EBADMSG};
  const size_t key_size = key.size() - kSalt;
  Bytes nonce(key.bytes().begin() + static_cast<long>(key_size), key.bytes().end());
  nonce.insert(nonce.end(), body.begin(), body.begin() + kGcmIv);
  const size_t ct_len = body.size() - kGcmIv - kGcmIcv;
  plain.resize(ct_len);
  Bytes tag(body.end() - kGcmIcv, body.end());
  CipherCtxPtr c(EVP_CIPHER_CTX_new());
  int len = 0;
  EVP_DecryptInit_ex(c.get(), gcm_cipher(key_size), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr);
  EVP_DecryptInit_ex(c.get(), nullptr, nullptr, key.bytes().data(), nonce.data());
  EVP_DecryptUpdate(c.get(), nullptr, &len, wire.data(), static_cast<int>(iv_at));
  EVP_DecryptUpdate(c.get(), plain.data(), &len, body.data() + kGcmIv, static_cast<int>(ct_len));
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmIcv), tag.data());
  if (EVP_DecryptFinal_ex(c.get(), plain.data() + len, &len) <= 0) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return Error{"SK payload integrity check failed (wrong keys or a tampered message)", EBADMSG};
  }
  return unpad(std::move(plain));
}

}  // namespace

Result<std::vector<Payload>> open(const SkKey& key, const Message& m, std::span<const uint8_t> wire) {
  const Payload* sk = m.find(kSk);
  if (!sk) return Error{"no Encrypted (SK) payload", EBADMSG};
  if (sk->body.size() > wire.size()) return Error{"SK payload longer than the message", EBADMSG};
  auto content = open_content(key, wire, wire.size() - sk->body.size());  // SK is the last payload
  if (!content) return content.error();
  auto payloads = parse_payloads(sk->inner_first, *content);
  OPENSSL_cleanse(content->data(), content->size());
  return payloads;
}

Bytes seal_fragment(const SkKey& key, Header header, uint8_t inner_first, uint16_t number, uint16_t total,
                    std::span<const uint8_t> chunk, uint64_t iv_counter) {
  if (!valid_key(key)) {
    log::error("IKE: an SKF payload key of " + std::to_string(key.size()) + " bytes does not fit its algorithm; nothing sent");
    return {};
  }
  Bytes lead;
  put16(lead, number);
  put16(lead, total);
  return key.encr() == kEncrAesCbc ? seal_cbc(key, header, inner_first, chunk, kSkf, lead)
                                   : seal_gcm(key, header, inner_first, chunk, iv_counter, kSkf, lead);
}

Result<Bytes> open_fragment(const SkKey& key, const Message& m, std::span<const uint8_t> wire) {
  const Payload* skf = m.find(kSkf);
  if (!skf || skf->body.size() < 4) return Error{"no Encrypted Fragment (SKF) payload", EBADMSG};
  if (skf->body.size() > wire.size()) return Error{"SKF payload longer than the message", EBADMSG};
  return open_content(key, wire, wire.size() - skf->body.size() + 4);  // after the fragment number and total
}

Result<std::vector<Payload>> open(const Secret& key_and_salt, const Message& m, std::span<const uint8_t> wire) {
  return open(SkKey(key_and_salt.clone()), m, wire);
}

Bytes psk_auth(const Secret& psk, std::span<const uint8_t> message, std::span<const uint8_t> nonce, const PrfKey& sk_p,
               std::span<const uint8_t> id_body) {
  static constexpr std::string_view kPad = "Key Pad for IKEv2";
  Bytes pad_key = prf(sk_p.prf_id(), psk.bytes(), std::span(reinterpret_cast<const uint8_t*>(kPad.data()), kPad.size()));
  const Bytes id_mac = prf(sk_p, id_body);
  const Bytes octets = concat({message, nonce, id_mac});
  Bytes auth = prf(sk_p.prf_id(), pad_key, octets);
  OPENSSL_cleanse(pad_key.data(), pad_key.size());
  return auth;
}

Bytes random_bytes(size_t n) {
  Bytes b(n);
  RAND_bytes(b.data(), static_cast<int>(n));
  return b;
}

uint64_t random_ike_spi() {
  uint64_t spi = 0;
  while (spi == 0) spi = get64(random_bytes(8), 0);
  return spi;
}

Bytes nat_hash(uint64_t spi_i, uint64_t spi_r, const Address& a) {
  Bytes in;
  put64(in, spi_i);
  put64(in, spi_r);
  const auto ip = a.ip_bytes();
  in.insert(in.end(), ip.begin(), ip.end());
  put16(in, a.port);
  Bytes out(SHA_DIGEST_LENGTH);
  SHA1(in.data(), in.size(), out.data());
  return out;
}

}  // namespace sedge::ike

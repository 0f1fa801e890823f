#include "ike/crypto.h"

#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstring>
#include <optional>

namespace sedge::ike {
namespace {

Error ssl_error(const char* what) { return Error{std::string(what) + " failed in OpenSSL", EPROTO}; }

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

Bytes concat(std::initializer_list<std::span<const uint8_t>> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes be64(uint64_t v) {
  Bytes b(8);
  for (int i = 7; i >= 0; --i, v >>= 8) b[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
  return b;
}

constexpr size_t kPrfSize = 32, kSalt = 4, kIv = 8, kIcv = 16;

// AES-GCM by the key's size (the 4-byte salt follows the key).
const EVP_CIPHER* gcm_for(const Secret& key_and_salt) {
  return key_and_salt.size() == 32 + kSalt ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
}
size_t key_size(const Secret& key_and_salt) { return key_and_salt.size() - kSalt; }

}  // namespace

Bytes prf(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes out(kPrfSize);
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len);
  return out;
}

Secret prf_plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t length) {
  Secret out(length);
  Bytes t;
  size_t filled = 0;
  for (uint8_t n = 1; filled < length; ++n) {
    Bytes input = t;
    input.insert(input.end(), seed.begin(), seed.end());
    input.push_back(n);
    t = prf(key, input);
    const size_t take = std::min(t.size(), length - filled);
    std::memcpy(out.mutable_bytes().data() + filled, t.data(), take);
    filled += take;
  }
  OPENSSL_cleanse(t.data(), t.size());
  return out;
}

Result<Suite> parse_suite(std::string_view ike, std::string_view esp) {
  Suite suite;
  const auto unsupported = [&](std::string_view what) {
    return Error{"proposal '" + std::string(ike) + "' / '" + std::string(esp) + "': sedge's IKE engine does not do " +
                     std::string(what) + " yet (it does aes128gcm16 or aes256gcm16, prfsha256, modp2048, ecp256, curve25519)",
                 ENOTSUP};
  };
  auto tokens = [](std::string_view p) {
    std::vector<std::string_view> out;
    for (size_t pos = 0; pos <= p.size();) {
      const size_t dash = std::min(p.find('-', pos), p.size());
      out.push_back(p.substr(pos, dash - pos));
      pos = dash + 1;
    }
    return out;
  };
  bool prf = false, dh = false;
  std::optional<uint16_t> ike_bits;
  for (auto t : tokens(ike)) {
    if (t == "aes128gcm16") ike_bits = 128;
    else if (t == "aes256gcm16") ike_bits = 256;
    else if (t == "prfsha256") prf = true;
    else if (t == "modp2048") suite.dh_group = 14, dh = true;
    else if (t == "ecp256") suite.dh_group = 19, dh = true;
    else if (t == "curve25519" || t == "x25519") suite.dh_group = 31, dh = true;
    else return unsupported(t);
  }
  if (!ike_bits || !prf || !dh) return unsupported("an IKE proposal without AES-GCM-16, prfsha256 and a DH group");
  std::optional<uint16_t> esp_bits;
  for (auto t : tokens(esp)) {
    if (t == "aes128gcm16") esp_bits = 128;
    else if (t == "aes256gcm16") esp_bits = 256;
  }
  if (!esp_bits || *esp_bits != *ike_bits) return unsupported("different AES key sizes for IKE and ESP");
  suite.key_bits = *ike_bits;
  return suite;
}

namespace {

EVP_PKEY* generate_key(uint16_t group) {
  const char* type = group == 14 ? "DH" : group == 19 ? "EC" : "X25519";
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  if (!ctx) return nullptr;
  char name[16];
  std::snprintf(name, sizeof name, "%s", group == 14 ? "modp_2048" : "P-256");
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, name, 0), OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  const bool ok = EVP_PKEY_keygen_init(ctx) > 0 && (group == 31 || EVP_PKEY_CTX_set_params(ctx, params) > 0) &&
                  EVP_PKEY_generate(ctx, &key) > 0;
  EVP_PKEY_CTX_free(ctx);
  return ok ? key : nullptr;
}

// The public value as the KE payload carries it.
Bytes public_of(EVP_PKEY* key, uint16_t group) {
  if (group == 14) {
    BIGNUM* pub = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PUB_KEY, &pub) <= 0) return {};
    Bytes out(256);
    BN_bn2binpad(pub, out.data(), 256);
    BN_free(pub);
    return out;
  }
  Bytes point(group == 19 ? 65 : 32);
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(), &len) <= 0) return {};
  point.resize(len);
  if (group == 19) point.erase(point.begin());  // drop the 0x04 uncompressed-point prefix
  return point;
}

// The peer's public value as a key of the same group (EVP_PKEY_derive validates it).
EVP_PKEY* peer_key(uint16_t group, std::span<const uint8_t> value) {
  if (group == 31) return EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, value.data(), value.size());
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, group == 14 ? "DH" : "EC", nullptr);
  char name[16];
  std::snprintf(name, sizeof name, "%s", group == 14 ? "modp_2048" : "P-256");
  Bytes encoded;
  unsigned char native[256];
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, name, 0);
  if (group == 14) {
    BIGNUM* y = BN_bin2bn(value.data(), static_cast<int>(value.size()), nullptr);
    BN_bn2nativepad(y, native, sizeof native);
    BN_free(y);
    params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PUB_KEY, native, sizeof native);
  } else {
    encoded.push_back(0x04);
    encoded.insert(encoded.end(), value.begin(), value.end());
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded.size());
  }
  params[2] = OSSL_PARAM_construct_end();
  EVP_PKEY* peer = nullptr;
  const bool made = ctx && EVP_PKEY_fromdata_init(ctx) > 0 && EVP_PKEY_fromdata(ctx, &peer, EVP_PKEY_PUBLIC_KEY, params) > 0;
  EVP_PKEY_CTX_free(ctx);
  return made ? peer : nullptr;
}

size_t public_size(uint16_t group) { return group == 14 ? 256 : group == 19 ? 64 : 32; }

}  // namespace

Result<KeyExchange> KeyExchange::generate(uint16_t group) {
  if (group != 14 && group != 19 && group != 31) return Error{"DH group " + std::to_string(group) + " is not supported", ENOTSUP};
  KeyExchange kx;
  kx.group_ = group;
  EVP_PKEY* key = generate_key(group);
  if (!key) return ssl_error("generating a key exchange key");
  kx.key_ = key;
  kx.public_ = public_of(key, group);
  if (kx.public_.size() != public_size(group)) return ssl_error("reading the key exchange public value");
  return kx;
}

KeyExchange::KeyExchange(KeyExchange&& o) noexcept : key_(o.key_), group_(o.group_), public_(std::move(o.public_)) { o.key_ = nullptr; }
KeyExchange& KeyExchange::operator=(KeyExchange&& o) noexcept {
  std::swap(key_, o.key_);
  std::swap(group_, o.group_);
  std::swap(public_, o.public_);
  return *this;
}
KeyExchange::~KeyExchange() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

Result<Secret> KeyExchange::shared_secret(std::span<const uint8_t> peer_public) const {
  const size_t size = public_size(group_);
  if (peer_public.size() != size) {
    return Error{"the peer's group " + std::to_string(group_) + " public value is not " + std::to_string(size) + " bytes", EBADMSG};
  }
  EVP_PKEY* peer = peer_key(group_, peer_public);
  if (!peer) return Error{"the peer's key exchange public value is invalid", EBADMSG};
  EVP_PKEY_CTX* dctx = EVP_PKEY_CTX_new_from_pkey(nullptr, static_cast<EVP_PKEY*>(key_), nullptr);
  // g^ir: MODP padded to the prime's length (RFC 7296 2.14), ECP the x coordinate (RFC 5903),
  // X25519 32 bytes (an all-zero result is refused by OpenSSL, RFC 8031).
  const size_t out_size = group_ == 14 ? 256 : 32;
  Secret out(out_size);
  size_t len = out_size;
  const bool ok = dctx && EVP_PKEY_derive_init(dctx) > 0 && (group_ != 14 || EVP_PKEY_CTX_set_dh_pad(dctx, 1) > 0) &&
                  EVP_PKEY_derive_set_peer_ex(dctx, peer, 1) > 0 && EVP_PKEY_derive(dctx, out.mutable_bytes().data(), &len) > 0;
  EVP_PKEY_CTX_free(dctx);
  EVP_PKEY_free(peer);
  if (!ok || len != out_size) return Error{"the key exchange with the peer's value failed (invalid public value?)", EBADMSG};
  return out;
}

IkeKeys derive_ike_keys(const Suite& suite, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                        std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r) {
  Bytes nonces = concat({ni, nr});
  Bytes skeyseed = prf(nonces, g_ir);
  const Bytes si = be64(spi_i), sr = be64(spi_r);
  const Bytes seed = concat({ni, nr, si, sr});
  const size_t e = suite.key_and_salt();
  Secret all = prf_plus(skeyseed, seed, kPrfSize + 2 * e + 2 * kPrfSize);  // SK_a* are empty for AEAD
  OPENSSL_cleanse(skeyseed.data(), skeyseed.size());
  auto part = [&](size_t at, size_t len) { return Secret(all.bytes().subspan(at, len)); };
  IkeKeys k;
  k.sk_d = part(0, kPrfSize);
  k.sk_ei = part(kPrfSize, e);
  k.sk_er = part(kPrfSize + e, e);
  k.sk_pi = part(kPrfSize + 2 * e, kPrfSize);
  k.sk_pr = part(2 * kPrfSize + 2 * e, kPrfSize);
  return k;
}

ChildKeys derive_child_keys(const Suite& suite, const Secret& sk_d, std::span<const uint8_t> ni, std::span<const uint8_t> nr) {
  const size_t e = suite.key_and_salt();
  Secret keymat = prf_plus(sk_d.bytes(), concat({ni, nr}), 2 * e);
  return {Secret(keymat.bytes().subspan(0, e)), Secret(keymat.bytes().subspan(e, e))};
}

Bytes seal(const Secret& key_and_salt, Header header, uint8_t inner_first, std::span<const uint8_t> inner, uint64_t iv_counter) {
  // Plaintext: the payloads, then a pad-length byte of 0 (GCM needs no padding).
  Bytes plain(inner.begin(), inner.end());
  plain.push_back(0);
  const Bytes iv = be64(iv_counter);
  const size_t sk_len = 4 + kIv + plain.size() + kIcv;
  header.first_payload = kSk;
  header.length = static_cast<uint32_t>(kHeaderSize + sk_len);
  Bytes msg = serialize_header(header);
  msg.insert(msg.end(), {inner_first, 0, static_cast<uint8_t>(sk_len >> 8), static_cast<uint8_t>(sk_len)});
  const size_t aad_len = msg.size();  // IKE header + SK generic header (RFC 5282 5.1)
  msg.insert(msg.end(), iv.begin(), iv.end());
  Bytes nonce(key_and_salt.bytes().begin() + static_cast<long>(key_size(key_and_salt)), key_and_salt.bytes().end());
  nonce.insert(nonce.end(), iv.begin(), iv.end());
  CipherCtx c;
  int len = 0;
  Bytes out(plain.size());
  Bytes tag(kIcv);
  EVP_EncryptInit_ex(c.ctx, gcm_for(key_and_salt), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr);
  EVP_EncryptInit_ex(c.ctx, nullptr, nullptr, key_and_salt.bytes().data(), nonce.data());
  EVP_EncryptUpdate(c.ctx, nullptr, &len, msg.data(), static_cast<int>(aad_len));
  EVP_EncryptUpdate(c.ctx, out.data(), &len, plain.data(), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(c.ctx, out.data() + len, &len);
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kIcv), tag.data());
  msg.insert(msg.end(), out.begin(), out.end());
  msg.insert(msg.end(), tag.begin(), tag.end());
  OPENSSL_cleanse(plain.data(), plain.size());
  return msg;
}

Result<std::vector<Payload>> open(const Secret& key_and_salt, const Message& m, std::span<const uint8_t> wire) {
  const Payload* sk = m.find(kSk);
  if (!sk) return Error{"no Encrypted (SK) payload", EBADMSG};
  if (sk->body.size() < kIv + kIcv + 1) return Error{"SK payload too short", EBADMSG};
  const size_t sk_start = wire.size() - sk->body.size() - 4;  // SK is the last payload
  const size_t aad_len = sk_start + 4;
  Bytes nonce(key_and_salt.bytes().begin() + static_cast<long>(key_size(key_and_salt)), key_and_salt.bytes().end());
  nonce.insert(nonce.end(), sk->body.begin(), sk->body.begin() + kIv);
  const size_t ct_len = sk->body.size() - kIv - kIcv;
  Bytes plain(ct_len);
  Bytes tag(sk->body.end() - kIcv, sk->body.end());
  CipherCtx c;
  int len = 0;
  EVP_DecryptInit_ex(c.ctx, gcm_for(key_and_salt), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr);
  EVP_DecryptInit_ex(c.ctx, nullptr, nullptr, key_and_salt.bytes().data(), nonce.data());
  EVP_DecryptUpdate(c.ctx, nullptr, &len, wire.data(), static_cast<int>(aad_len));
  EVP_DecryptUpdate(c.ctx, plain.data(), &len, sk->body.data() + kIv, static_cast<int>(ct_len));
  EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kIcv), tag.data());
  if (EVP_DecryptFinal_ex(c.ctx, plain.data() + len, &len) <= 0) {
    return Error{"SK payload integrity check failed (wrong keys or a tampered message)", EBADMSG};
  }
  const uint8_t pad = plain.back();
  if (static_cast<size_t>(pad) + 1 > plain.size()) return Error{"SK payload padding longer than its content", EBADMSG};
  plain.resize(plain.size() - pad - 1);
  return parse_payloads(sk->inner_first, plain);
}

Bytes psk_auth(const Secret& psk, std::span<const uint8_t> message, std::span<const uint8_t> nonce, const Secret& sk_p,
               std::span<const uint8_t> id_body) {
  static constexpr std::string_view kPad = "Key Pad for IKEv2";
  Bytes pad_key = prf(psk.bytes(), std::span(reinterpret_cast<const uint8_t*>(kPad.data()), kPad.size()));
  const Bytes id_mac = prf(sk_p.bytes(), id_body);
  const Bytes octets = concat({message, nonce, id_mac});
  Bytes auth = prf(pad_key, octets);
  OPENSSL_cleanse(pad_key.data(), pad_key.size());
  return auth;
}

Bytes random_bytes(size_t n) {
  Bytes b(n);
  RAND_bytes(b.data(), static_cast<int>(n));
  return b;
}

Bytes nat_hash(uint64_t spi_i, uint64_t spi_r, const sockaddr_in& a) {
  uint8_t in[8 + 8 + 4 + 2];
  for (int i = 0; i < 8; ++i) {
    in[i] = static_cast<uint8_t>(spi_i >> (56 - 8 * i));
    in[8 + i] = static_cast<uint8_t>(spi_r >> (56 - 8 * i));
  }
  std::memcpy(in + 16, &a.sin_addr, 4);
  std::memcpy(in + 20, &a.sin_port, 2);
  Bytes out(SHA_DIGEST_LENGTH);
  SHA1(in, sizeof in, out.data());
  return out;
}

}  // namespace sedge::ike

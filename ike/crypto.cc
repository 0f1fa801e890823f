#include "ike/crypto.h"

#include <openssl/core_names.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

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

constexpr size_t kPrfSize = 32, kGcmKey = 16, kSalt = 4, kIv = 8, kIcv = 16;

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

Result<DhGroup14> DhGroup14::generate() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
  if (!ctx) return ssl_error("creating a DH context");
  DhGroup14 dh;
  char group[] = "modp_2048";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0), OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  const bool ok = EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_params(ctx, params) > 0 && EVP_PKEY_generate(ctx, &key) > 0;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return ssl_error("generating a MODP-2048 key");
  dh.key_ = key;
  BIGNUM* pub = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PUB_KEY, &pub) <= 0) return ssl_error("reading the DH public value");
  dh.public_.assign(256, 0);
  BN_bn2binpad(pub, dh.public_.data(), 256);
  BN_free(pub);
  return dh;
}

DhGroup14::DhGroup14(DhGroup14&& o) noexcept : key_(o.key_), public_(std::move(o.public_)) { o.key_ = nullptr; }
DhGroup14& DhGroup14::operator=(DhGroup14&& o) noexcept {
  std::swap(key_, o.key_);
  std::swap(public_, o.public_);
  return *this;
}
DhGroup14::~DhGroup14() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

Result<Secret> DhGroup14::shared_secret(std::span<const uint8_t> peer_public) const {
  if (peer_public.size() != 256) return Error{"the peer's MODP-2048 public value is not 256 bytes", EBADMSG};
  // The peer's key: the same group parameters with its public value.
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
  BIGNUM* y = BN_bin2bn(peer_public.data(), static_cast<int>(peer_public.size()), nullptr);
  char group[] = "modp_2048";
  unsigned char ybuf[256];
  BN_bn2nativepad(y, ybuf, sizeof ybuf);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                         OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PUB_KEY, ybuf, sizeof ybuf), OSSL_PARAM_construct_end()};
  EVP_PKEY* peer = nullptr;
  const bool made = pctx && EVP_PKEY_fromdata_init(pctx) > 0 && EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) > 0;
  EVP_PKEY_CTX_free(pctx);
  BN_free(y);
  if (!made) return Error{"the peer's DH public value is invalid", EBADMSG};
  EVP_PKEY_CTX* dctx = EVP_PKEY_CTX_new_from_pkey(nullptr, static_cast<EVP_PKEY*>(key_), nullptr);
  size_t len = 256;
  Secret out(256);
  // The shared secret is padded to the prime's length (RFC 7296 2.14: g^ir has the modulus size).
  const bool ok = dctx && EVP_PKEY_derive_init(dctx) > 0 && EVP_PKEY_CTX_set_dh_pad(dctx, 1) > 0 &&
                  EVP_PKEY_derive_set_peer_ex(dctx, peer, 1) > 0 && EVP_PKEY_derive(dctx, out.mutable_bytes().data(), &len) > 0;
  EVP_PKEY_CTX_free(dctx);
  EVP_PKEY_free(peer);
  if (!ok || len != 256) return Error{"Diffie-Hellman with the peer's value failed (invalid public value?)", EBADMSG};
  return out;
}

IkeKeys derive_ike_keys(std::span<const uint8_t> g_ir, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                        uint64_t spi_i, uint64_t spi_r) {
  Bytes nonces = concat({ni, nr});
  Bytes skeyseed = prf(nonces, g_ir);
  const Bytes si = be64(spi_i), sr = be64(spi_r);
  const Bytes seed = concat({ni, nr, si, sr});
  const size_t e = kGcmKey + kSalt;
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

ChildKeys derive_child_keys(const Secret& sk_d, std::span<const uint8_t> ni, std::span<const uint8_t> nr) {
  const size_t e = kGcmKey + kSalt;
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
  Bytes nonce(key_and_salt.bytes().begin() + kGcmKey, key_and_salt.bytes().end());
  nonce.insert(nonce.end(), iv.begin(), iv.end());
  CipherCtx c;
  int len = 0;
  Bytes out(plain.size());
  Bytes tag(kIcv);
  EVP_EncryptInit_ex(c.ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr);
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
  Bytes nonce(key_and_salt.bytes().begin() + kGcmKey, key_and_salt.bytes().end());
  nonce.insert(nonce.end(), sk->body.begin(), sk->body.begin() + kIv);
  const size_t ct_len = sk->body.size() - kIv - kIcv;
  Bytes plain(ct_len);
  Bytes tag(sk->body.end() - kIcv, sk->body.end());
  CipherCtx c;
  int len = 0;
  EVP_DecryptInit_ex(c.ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr);
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

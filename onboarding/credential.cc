#include "onboarding/credential.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "common/bytes.h"
#include "common/openssl.h"

namespace sedge::onboarding {
namespace {

constexpr uint32_t kCredentialMagic = 0xBADCC0DE;
constexpr uint32_t kCredentialVersion = 1;

using KdfPtr = OpenSslPtr<EVP_KDF, EVP_KDF_free>;
using KdfCtxPtr = OpenSslPtr<EVP_KDF_CTX, EVP_KDF_CTX_free>;

// `length` bytes from OpenSSL's KDF `name` with `params`; the context holds the key and is
// cleared by EVP_KDF_CTX_free.
Result<Secret> derive(const char* what, const char* name, const OSSL_PARAM* params, size_t length) {
  const KdfPtr kdf(EVP_KDF_fetch(nullptr, name, nullptr));
  const KdfCtxPtr ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) return Error{std::string(what) + ": OpenSSL has no " + name, EIO};
  Secret out(length);
  if (EVP_KDF_derive(ctx.get(), out.mutable_bytes().data(), length, params) != 1)
    return Error{std::string(what) + ": " + name + " failed", EIO};
  return out;
}

Error crypto_error(const std::string& what) { return Error{"make_credential: " + what, EIO}; }

Result<Bytes> hmac(uint16_t hash_alg, ByteView key, ByteView data) {
  const char* md = openssl_digest_name(hash_alg);
  if (!md) return Error{"unsupported hash " + alg_name(hash_alg), EINVAL};
  Bytes out(EVP_MAX_MD_SIZE);
  size_t len = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, md, nullptr, key.data(), key.size(), data.data(), data.size(), out.data(),
                 out.size(), &len)) {
    return Error{"HMAC failed", EIO};
  }
  out.resize(len);
  return out;
}

// The RSA branch of secret sharing: seed encrypted with OAEP, label "IDENTITY\0".
Result<Bytes> rsa_encrypt_seed(const PublicArea& ek, const Secret& seed) {
  auto key = public_key(ek);
  if (!key) return key.error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  const char* md = openssl_digest_name(ek.name_alg);
  static constexpr char kLabel[] = "IDENTITY";  // with its NUL: 9 bytes
  auto* label = static_cast<unsigned char*>(OPENSSL_memdup(kLabel, sizeof kLabel));
  if (!ctx || !label || EVP_PKEY_encrypt_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx.get(), md, nullptr) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx.get(), md, nullptr) <= 0 ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, sizeof kLabel) <= 0) {
    OPENSSL_free(label);
    return crypto_error("setting up RSA-OAEP to the EK");
  }
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, seed.bytes().data(), seed.size()) <= 0) return crypto_error("RSA-OAEP");
  Bytes out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, seed.bytes().data(), seed.size()) <= 0) return crypto_error("RSA-OAEP");
  out.resize(len);
  return out;
}

// The ECC branch: one-pass Diffie-Hellman with an ephemeral key; the encrypted secret is the
// ephemeral public point (TPMS_ECC_POINT), the seed KDFe(Z, "IDENTITY", ephemeral x, EK x).
Result<Bytes> ecc_share_seed(const PublicArea& ek, Secret& seed) {
  auto key = public_key(ek);
  if (!key) return key.error();
  const PkeyPtr ek_key = std::move(*key);
  PkeyCtxPtr gen(EVP_PKEY_CTX_new_from_pkey(nullptr, ek_key.get(), nullptr));
  EVP_PKEY* eph_raw = nullptr;
  if (!gen || EVP_PKEY_keygen_init(gen.get()) <= 0 || EVP_PKEY_generate(gen.get(), &eph_raw) <= 0) {
    return crypto_error("generating the ephemeral ECC key");
  }
  const PkeyPtr eph(eph_raw);
  const size_t len = ek.curve == kCurveP256 ? 32 : 48;
  Bytes point(1 + 2 * len);
  size_t got = 0;
  if (EVP_PKEY_get_octet_string_param(eph.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(), &got) <= 0 ||
      got != point.size() || point[0] != 4) {
    return crypto_error("reading the ephemeral point");
  }
  const Bytes eph_x(point.begin() + 1, point.begin() + 1 + static_cast<ptrdiff_t>(len));
  const Bytes eph_y(point.begin() + 1 + static_cast<ptrdiff_t>(len), point.end());
  PkeyCtxPtr derive(EVP_PKEY_CTX_new_from_pkey(nullptr, eph.get(), nullptr));
  size_t zlen = 0;
  if (!derive || EVP_PKEY_derive_init(derive.get()) <= 0 || EVP_PKEY_derive_set_peer(derive.get(), ek_key.get()) <= 0 ||
      EVP_PKEY_derive(derive.get(), nullptr, &zlen) <= 0) {
    return crypto_error("ECDH with the EK");
  }
  Secret z(zlen);
  if (EVP_PKEY_derive(derive.get(), z.mutable_bytes().data(), &zlen) <= 0 || zlen != len) return crypto_error("ECDH with the EK");
  // The EK's x as the TPM holds it: padded to the curve's size.
  Bytes ek_x(len - std::min(len, ek.ecc_x.size()), 0);
  ek_x.insert(ek_x.end(), ek.ecc_x.begin(), ek.ecc_x.end());
  auto s = kdfe(ek.name_alg, z.bytes(), "IDENTITY", eph_x, ek_x, 8 * digest_size(ek.name_alg));
  if (!s) return s.error();
  seed = std::move(*s);
  Bytes out;
  put_tpm2b(out, eph_x);
  put_tpm2b(out, eph_y);
  return out;
}

}  // namespace

Result<Secret> kdfa(uint16_t hash_alg, ByteView key, const std::string& label, ByteView context_u, ByteView context_v,
                    size_t bits) {
  const char* md = openssl_digest_name(hash_alg);
  if (!md) return Error{"KDFa: unsupported hash " + alg_name(hash_alg), EINVAL};
  if (bits == 0 || bits % 8 != 0 || bits > 0xffffffffu) return Error{"KDFa: the output size must be a positive multiple of 8 bits", EINVAL};
  // SP 800-108 counter mode with HMAC is KDFa: OpenSSL's KBKDF puts the 32-bit counter first,
  // then the label ("salt"), the 0x00 separator, the context ("info") and [L]32 with L the
  // output size in bits.
  Bytes context(context_u.begin(), context_u.end());
  context.insert(context.end(), context_v.begin(), context_v.end());
  int use_l = 1, use_separator = 1;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, const_cast<char*>("COUNTER"), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, const_cast<char*>("HMAC"), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(key.data()), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(label.data()), label.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, context.data(), context.size()),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_L, &use_l),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_SEPARATOR, &use_separator),
      OSSL_PARAM_construct_end(),
  };
  return derive("KDFa", OSSL_KDF_NAME_KBKDF, params, bits / 8);
}

Result<Secret> kdfe(uint16_t hash_alg, ByteView z, const std::string& label, ByteView party_u, ByteView party_v,
                    size_t bits) {
  const char* md = openssl_digest_name(hash_alg);
  if (!md) return Error{"KDFe: unsupported hash " + alg_name(hash_alg), EINVAL};
  if (bits == 0 || bits % 8 != 0) return Error{"KDFe: the output size must be a positive multiple of 8 bits", EINVAL};
  // SP 800-56C's one-step KDF with a hash is KDFe: H([i]32 || Z || FixedInfo), the fixed info
  // being label || 0x00 || partyU || partyV.
  Bytes info(label.begin(), label.end());
  info.push_back(0);
  info.insert(info.end(), party_u.begin(), party_u.end());
  info.insert(info.end(), party_v.begin(), party_v.end());
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(z.data()), z.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  return derive("KDFe", OSSL_KDF_NAME_SSKDF, params, bits / 8);
}

Result<Credential> make_credential(const PublicArea& ek, ByteView ak_name, const Secret& secret) {
  const size_t hlen = digest_size(ek.name_alg);
  if (hlen == 0) return Error{"make_credential: the EK's nameAlg " + alg_name(ek.name_alg) + " is not supported", EINVAL};
  if ((ek.attributes & (attr::kRestricted | attr::kDecrypt)) != (attr::kRestricted | attr::kDecrypt)) {
    return Error{"make_credential: the EK is not a restricted decryption key", EINVAL};
  }
  if (ek.sym_alg != alg::kAes || ek.sym_mode != alg::kCfb) return Error{"make_credential: the EK's symmetric algorithm is not AES-CFB", EINVAL};
  if (secret.empty() || secret.size() > hlen) {
    return Error{"make_credential: the secret must be 1 to " + std::to_string(hlen) + " bytes", EINVAL};
  }
  if (ak_name.size() < 2 || digest_size(get16(ak_name, 0)) + 2 != ak_name.size()) {
    return Error{"make_credential: the AK name is not nameAlg || digest", EINVAL};
  }

  Secret seed;
  Bytes encrypted_seed;
  if (ek.type == alg::kRsa) {
    seed = Secret(hlen);
    if (RAND_bytes(seed.mutable_bytes().data(), static_cast<int>(hlen)) != 1) return crypto_error("no random seed");
    auto c = rsa_encrypt_seed(ek, seed);
    if (!c) return c.error();
    encrypted_seed = std::move(*c);
  } else if (ek.type == alg::kEcc) {
    auto c = ecc_share_seed(ek, seed);
    if (!c) return c.error();
    encrypted_seed = std::move(*c);
  } else {
    return Error{"make_credential: the EK is neither RSA nor ECC", EINVAL};
  }

  auto sym_key = kdfa(ek.name_alg, seed.bytes(), "STORAGE", ak_name, {}, ek.sym_bits);
  if (!sym_key) return sym_key.error();
  auto hmac_key = kdfa(ek.name_alg, seed.bytes(), "INTEGRITY", {}, {}, 8 * hlen);
  if (!hmac_key) return hmac_key.error();

  // encIdentity: the secret as a TPM2B_DIGEST, AES-CFB with a zero IV.
  Bytes size;
  put16(size, static_cast<uint16_t>(secret.size()));
  Secret plain(2 + secret.size());
  std::copy(size.begin(), size.end(), plain.mutable_bytes().begin());
  std::memcpy(plain.mutable_bytes().data() + 2, secret.bytes().data(), secret.size());
  const EVP_CIPHER* cipher = ek.sym_bits == 128 ? EVP_aes_128_cfb128() : ek.sym_bits == 192 ? EVP_aes_192_cfb128() : EVP_aes_256_cfb128();
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  const uint8_t iv[16] = {};
  Bytes enc_identity(plain.size());
  int outl = 0, finl = 0;
  if (!ctx || !EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, sym_key->bytes().data(), iv) ||
      !EVP_EncryptUpdate(ctx.get(), enc_identity.data(), &outl, plain.bytes().data(), static_cast<int>(plain.size())) ||
      !EVP_EncryptFinal_ex(ctx.get(), enc_identity.data() + outl, &finl) ||
      static_cast<size_t>(outl + finl) != enc_identity.size()) {
    return crypto_error("AES-CFB");
  }

  Bytes mac_input = enc_identity;
  mac_input.insert(mac_input.end(), ak_name.begin(), ak_name.end());
  auto outer = hmac(ek.name_alg, hmac_key->bytes(), mac_input);
  if (!outer) return outer.error();

  Bytes body;
  put_tpm2b(body, *outer);
  body.insert(body.end(), enc_identity.begin(), enc_identity.end());
  Credential c;
  put_tpm2b(c.id_object, body);
  put_tpm2b(c.encrypted_secret, encrypted_seed);
  return c;
}

Bytes credential_file(const Credential& c) {
  Bytes out;
  put32(out, kCredentialMagic);
  put32(out, kCredentialVersion);
  out.insert(out.end(), c.id_object.begin(), c.id_object.end());
  out.insert(out.end(), c.encrypted_secret.begin(), c.encrypted_secret.end());
  return out;
}

Status check_credential(const Credential& c) {
  WireReader id(c.id_object);
  auto body = id.tpm2b("TPM2B_ID_OBJECT", 0xffff);
  if (!body) return body.error();
  if (auto e = id.expect_end("TPM2B_ID_OBJECT"); !e) return e;
  WireReader inner(*body);
  auto mac = inner.tpm2b("integrityHMAC", 64);
  if (!mac) return mac.error().context("TPM2B_ID_OBJECT");
  if (inner.remaining() < 2) return Error{"TPM2B_ID_OBJECT: no encIdentity", EBADMSG};
  WireReader sec(c.encrypted_secret);
  auto s = sec.tpm2b("TPM2B_ENCRYPTED_SECRET", 0xffff);
  if (!s) return s.error();
  if (s->empty()) return Error{"TPM2B_ENCRYPTED_SECRET is empty", EBADMSG};
  return sec.expect_end("TPM2B_ENCRYPTED_SECRET");
}

Result<Credential> parse_credential_file(ByteView bytes) {
  WireReader r(bytes);
  auto magic = r.u32("magic");
  if (!magic) return magic.error();
  if (*magic != kCredentialMagic) return Error{"not a credential file (wrong magic)", EBADMSG};
  auto version = r.u32("version");
  if (!version) return version.error();
  if (*version != kCredentialVersion) return Error{"credential file version " + std::to_string(*version) + " is not 1", EBADMSG};
  Credential c;
  auto id = r.tpm2b("TPM2B_ID_OBJECT", 0xffff);
  if (!id) return id.error();
  put_tpm2b(c.id_object, *id);
  auto sec = r.tpm2b("TPM2B_ENCRYPTED_SECRET", 0xffff);
  if (!sec) return sec.error();
  put_tpm2b(c.encrypted_secret, *sec);
  if (auto e = r.expect_end("credential"); !e) return e.error();
  if (auto e = check_credential(c); !e) return e.error();
  return c;
}

}  // namespace sedge::onboarding

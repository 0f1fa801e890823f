#include "onboarding/tpm_wire.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace sedge::onboarding {
namespace {

// TCG EK Credential Profile: PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256 (policy A of the
// low-range templates) and policy B with SHA-384 (the high-range templates: PolicyOR of policy
// A and PolicyAuthorizeNV).
constexpr uint8_t kPolicyASha256[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
                                        0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
                                        0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};
constexpr uint8_t kPolicyBSha384[48] = {0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc,
                                        0xf5, 0xfd, 0x3a, 0x1a, 0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4,
                                        0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca, 0xcb, 0x47, 0xba, 0x09,
                                        0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12};

constexpr size_t kMaxRsaBytes = 512;  // TPM2B_PUBLIC_KEY_RSA: up to RSA-4096
constexpr size_t kMaxEccBytes = 128;  // TPM2B_ECC_PARAMETER
constexpr size_t kMaxDigest = 64;     // TPMU_HA

Error bad(const std::string& what) { return Error{"malformed TPM public area: " + what, EBADMSG}; }

bool is_hash(uint16_t a) { return digest_size(a) != 0; }

const char* curve_group(uint16_t curve) {
  switch (curve) {
    case kCurveP256: return "prime256v1";
    case kCurveP384: return "secp384r1";
    default: return nullptr;
  }
}

size_t curve_bytes(uint16_t curve) {
  switch (curve) {
    case kCurveP256: return 32;
    case kCurveP384: return 48;
    default: return 0;
  }
}

}  // namespace

// ---- readers and writers ----

Result<uint8_t> WireReader::u8(const char* field) {
  if (remaining() < 1) return Error{std::string("truncated at ") + field, EBADMSG};
  return data_[pos_++];
}

Result<uint16_t> WireReader::u16(const char* field) {
  if (remaining() < 2) return Error{std::string("truncated at ") + field, EBADMSG};
  const uint16_t v = get16(data_, pos_);
  pos_ += 2;
  return v;
}

Result<uint32_t> WireReader::u32(const char* field) {
  if (remaining() < 4) return Error{std::string("truncated at ") + field, EBADMSG};
  const uint32_t v = get32(data_, pos_);
  pos_ += 4;
  return v;
}

Result<uint64_t> WireReader::u64(const char* field) {
  if (remaining() < 8) return Error{std::string("truncated at ") + field, EBADMSG};
  const uint64_t v = get64(data_, pos_);
  pos_ += 8;
  return v;
}

Result<Bytes> WireReader::raw(const char* field, size_t n) {
  if (remaining() < n) return Error{std::string("truncated at ") + field, EBADMSG};
  Bytes out(data_.begin() + static_cast<ptrdiff_t>(pos_), data_.begin() + static_cast<ptrdiff_t>(pos_ + n));
  pos_ += n;
  return out;
}

Result<Bytes> WireReader::tpm2b(const char* field, size_t max) {
  auto n = u16(field);
  if (!n) return n.error();
  if (*n > max) return Error{std::string(field) + " is " + std::to_string(*n) + " bytes, more than " + std::to_string(max), EBADMSG};
  return raw(field, *n);
}

Status WireReader::expect_end(const char* what) const {
  if (remaining() != 0) return Error{std::to_string(remaining()) + " bytes after the " + what, EBADMSG};
  return {};
}

void put_tpm2b(Bytes& out, ByteView data) {
  put16(out, static_cast<uint16_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
}

// ---- algorithms ----

size_t digest_size(uint16_t hash_alg) {
  switch (hash_alg) {
    case alg::kSha1: return 20;
    case alg::kSha256: return 32;
    case alg::kSha384: return 48;
    case alg::kSha512: return 64;
    default: return 0;
  }
}

const char* openssl_digest_name(uint16_t hash_alg) {
  switch (hash_alg) {
    case alg::kSha1: return "SHA1";
    case alg::kSha256: return "SHA256";
    case alg::kSha384: return "SHA384";
    case alg::kSha512: return "SHA512";
    default: return nullptr;
  }
}

std::string alg_name(uint16_t a) {
  switch (a) {
    case alg::kRsa: return "rsa";
    case alg::kSha1: return "sha1";
    case alg::kAes: return "aes";
    case alg::kKeyedHash: return "keyedhash";
    case alg::kSha256: return "sha256";
    case alg::kSha384: return "sha384";
    case alg::kSha512: return "sha512";
    case alg::kNull: return "null";
    case alg::kRsassa: return "rsassa";
    case alg::kRsapss: return "rsapss";
    case alg::kEcdsa: return "ecdsa";
    case alg::kEcc: return "ecc";
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%04x", a);
      return buf;
    }
  }
}

// ---- TPMT_PUBLIC ----

Result<PublicArea> parse_tpmt_public(ByteView bytes) {
  WireReader r(bytes);
  PublicArea p;
#define READ(var, fn, field)          \
  do {                                \
    auto v_ = r.fn(field);            \
    if (!v_) return bad(v_.error().message); \
    var = *v_;                        \
  } while (0)
  READ(p.type, u16, "type");
  if (p.type != alg::kRsa && p.type != alg::kEcc) return bad("object type " + alg_name(p.type) + " is not RSA or ECC");
  READ(p.name_alg, u16, "nameAlg");
  if (!is_hash(p.name_alg)) return bad("nameAlg " + alg_name(p.name_alg) + " is not a supported hash");
  READ(p.attributes, u32, "objectAttributes");
  {
    auto v = r.tpm2b("authPolicy", kMaxDigest);
    if (!v) return bad(v.error().message);
    p.auth_policy = std::move(*v);
  }
  READ(p.sym_alg, u16, "symmetric.algorithm");
  if (p.sym_alg != alg::kNull) {
    if (p.sym_alg != alg::kAes) return bad("symmetric algorithm " + alg_name(p.sym_alg) + " is not AES or NULL");
    READ(p.sym_bits, u16, "symmetric.keyBits");
    READ(p.sym_mode, u16, "symmetric.mode");
    if (p.sym_bits != 128 && p.sym_bits != 192 && p.sym_bits != 256) return bad("AES key size " + std::to_string(p.sym_bits));
  }
  READ(p.scheme, u16, "scheme");
  if (p.type == alg::kRsa) {
    switch (p.scheme) {
      case alg::kNull:
      case alg::kRsaes: break;
      case alg::kRsassa:
      case alg::kRsapss:
      case alg::kOaep: READ(p.scheme_hash, u16, "scheme.hashAlg"); break;
      default: return bad("RSA scheme " + alg_name(p.scheme));
    }
    READ(p.rsa_bits, u16, "rsa.keyBits");
    if (p.rsa_bits != 1024 && p.rsa_bits != 2048 && p.rsa_bits != 3072 && p.rsa_bits != 4096) {
      return bad("RSA key size " + std::to_string(p.rsa_bits));
    }
    READ(p.rsa_exponent, u32, "rsa.exponent");
    auto n = r.tpm2b("unique.rsa", kMaxRsaBytes);
    if (!n) return bad(n.error().message);
    p.rsa_modulus = std::move(*n);
  } else {
    switch (p.scheme) {
      case alg::kNull: break;
      case alg::kEcdsa:
      case alg::kEcdh:
      case alg::kEcschnorr: READ(p.scheme_hash, u16, "scheme.hashAlg"); break;
      case alg::kEcdaa:
        READ(p.scheme_hash, u16, "scheme.hashAlg");
        READ(p.scheme_count, u16, "scheme.count");
        break;
      default: return bad("ECC scheme " + alg_name(p.scheme));
    }
    READ(p.curve, u16, "ecc.curveID");
    READ(p.kdf, u16, "ecc.kdf");
    if (p.kdf != alg::kNull) READ(p.kdf_hash, u16, "ecc.kdf.hashAlg");
    auto x = r.tpm2b("unique.ecc.x", kMaxEccBytes);
    if (!x) return bad(x.error().message);
    auto y = r.tpm2b("unique.ecc.y", kMaxEccBytes);
    if (!y) return bad(y.error().message);
    p.ecc_x = std::move(*x);
    p.ecc_y = std::move(*y);
  }
#undef READ
  if (p.scheme != alg::kNull && !is_hash(p.scheme_hash)) return bad("scheme hash " + alg_name(p.scheme_hash));
  if (auto end = r.expect_end("TPMT_PUBLIC"); !end) return bad(end.error().message);
  return p;
}

Result<PublicArea> parse_public(ByteView bytes) {
  WireReader r(bytes);
  auto inner = r.tpm2b("TPM2B_PUBLIC.size", 0xffff);
  if (!inner) return bad(inner.error().message);
  if (auto end = r.expect_end("TPM2B_PUBLIC"); !end) return bad(end.error().message);
  if (inner->empty()) return bad("empty TPM2B_PUBLIC");
  return parse_tpmt_public(*inner);
}

Bytes marshal_tpmt_public(const PublicArea& p) {
  Bytes out;
  put16(out, p.type);
  put16(out, p.name_alg);
  put32(out, p.attributes);
  put_tpm2b(out, p.auth_policy);
  put16(out, p.sym_alg);
  if (p.sym_alg != alg::kNull) {
    put16(out, p.sym_bits);
    put16(out, p.sym_mode);
  }
  put16(out, p.scheme);
  if (p.scheme != alg::kNull && p.scheme != alg::kRsaes) put16(out, p.scheme_hash);
  if (p.scheme == alg::kEcdaa) put16(out, p.scheme_count);
  if (p.type == alg::kRsa) {
    put16(out, p.rsa_bits);
    put32(out, p.rsa_exponent);
    put_tpm2b(out, p.rsa_modulus);
  } else {
    put16(out, p.curve);
    put16(out, p.kdf);
    if (p.kdf != alg::kNull) put16(out, p.kdf_hash);
    put_tpm2b(out, p.ecc_x);
    put_tpm2b(out, p.ecc_y);
  }
  return out;
}

Bytes marshal_public(const PublicArea& p) {
  Bytes out;
  put_tpm2b(out, marshal_tpmt_public(p));
  return out;
}

Result<Bytes> object_name(const PublicArea& p) {
  const char* md = openssl_digest_name(p.name_alg);
  if (!md) return Error{"unsupported nameAlg " + alg_name(p.name_alg), EINVAL};
  const Bytes body = marshal_tpmt_public(p);
  Bytes name;
  put16(name, p.name_alg);
  name.resize(2 + digest_size(p.name_alg));
  unsigned int len = 0;
  if (!EVP_Digest(body.data(), body.size(), name.data() + 2, &len, EVP_get_digestbyname(md), nullptr)) {
    return Error{"hashing the public area failed", EIO};
  }
  return name;
}

// ---- templates ----

uint32_t ek_certificate_index(EkProfile profile) {
  switch (profile) {
    case EkProfile::kRsa2048: return 0x01c00002;
    case EkProfile::kEccP256: return 0x01c0000a;
    case EkProfile::kEccP384: return 0x01c00016;
  }
  return 0;
}

const char* ek_profile_name(EkProfile profile) {
  switch (profile) {
    case EkProfile::kRsa2048: return "rsa2048";
    case EkProfile::kEccP256: return "ecc-p256";
    case EkProfile::kEccP384: return "ecc-p384";
  }
  return "?";
}

Result<EkProfile> parse_ek_profile(const std::string& name) {
  for (auto p : {EkProfile::kRsa2048, EkProfile::kEccP256, EkProfile::kEccP384}) {
    if (name == ek_profile_name(p)) return p;
  }
  return Error{"unknown EK profile '" + name + "' (rsa2048, ecc-p256 or ecc-p384)", EINVAL};
}

PublicArea ek_template(EkProfile profile) {
  PublicArea t;
  t.attributes = attr::kFixedTpm | attr::kFixedParent | attr::kSensitiveDataOrigin | attr::kAdminWithPolicy |
                 attr::kRestricted | attr::kDecrypt;
  t.sym_alg = alg::kAes;
  t.sym_mode = alg::kCfb;
  t.scheme = alg::kNull;
  switch (profile) {
    case EkProfile::kRsa2048:
      t.type = alg::kRsa;
      t.name_alg = alg::kSha256;
      t.auth_policy.assign(std::begin(kPolicyASha256), std::end(kPolicyASha256));
      t.sym_bits = 128;
      t.rsa_bits = 2048;
      t.rsa_modulus.assign(256, 0);
      break;
    case EkProfile::kEccP256:
      t.type = alg::kEcc;
      t.name_alg = alg::kSha256;
      t.auth_policy.assign(std::begin(kPolicyASha256), std::end(kPolicyASha256));
      t.sym_bits = 128;
      t.curve = kCurveP256;
      t.ecc_x.assign(32, 0);
      t.ecc_y.assign(32, 0);
      break;
    case EkProfile::kEccP384:
      t.type = alg::kEcc;
      t.name_alg = alg::kSha384;
      t.attributes |= attr::kUserWithAuth;
      t.auth_policy.assign(std::begin(kPolicyBSha384), std::end(kPolicyBSha384));
      t.sym_bits = 256;
      t.curve = kCurveP384;
      break;
  }
  return t;
}

PublicArea srk_template(uint16_t type) {
  PublicArea t;
  t.type = type;
  t.name_alg = alg::kSha256;
  t.attributes = attr::kFixedTpm | attr::kFixedParent | attr::kSensitiveDataOrigin | attr::kUserWithAuth | attr::kNoDa |
                 attr::kRestricted | attr::kDecrypt;
  t.sym_alg = alg::kAes;
  t.sym_bits = 128;
  t.sym_mode = alg::kCfb;
  if (type == alg::kRsa) {
    t.rsa_bits = 2048;
  } else {
    t.curve = kCurveP256;
  }
  return t;
}

PublicArea ak_template(uint16_t type) {
  PublicArea t;
  t.type = type;
  t.name_alg = alg::kSha256;
  t.attributes = attr::kFixedTpm | attr::kFixedParent | attr::kSensitiveDataOrigin | attr::kUserWithAuth |
                 attr::kRestricted | attr::kSign;
  t.scheme_hash = alg::kSha256;
  if (type == alg::kRsa) {
    t.scheme = alg::kRsassa;
    t.rsa_bits = 2048;
  } else {
    t.scheme = alg::kEcdsa;
    t.curve = kCurveP256;
  }
  return t;
}

PublicArea tls_key_template(uint16_t type) {
  PublicArea t;
  t.type = type;
  t.name_alg = alg::kSha256;
  t.attributes = attr::kFixedTpm | attr::kFixedParent | attr::kSensitiveDataOrigin | attr::kUserWithAuth | attr::kSign;
  if (type == alg::kRsa) {
    t.rsa_bits = 2048;
  } else {
    t.curve = kCurveP256;
  }
  return t;
}

Status check_ak_attributes(const PublicArea& p) {
  struct Need {
    uint32_t bit;
    const char* name;
  };
  for (const Need& n : {Need{attr::kFixedTpm, "fixedTPM"}, Need{attr::kFixedParent, "fixedParent"},
                        Need{attr::kSensitiveDataOrigin, "sensitiveDataOrigin"}, Need{attr::kRestricted, "restricted"},
                        Need{attr::kSign, "sign"}}) {
    if (!(p.attributes & n.bit)) return Error{std::string("not an attestation key: ") + n.name + " is not set", EACCES};
  }
  if (p.attributes & attr::kDecrypt) return Error{"not an attestation key: decrypt is set", EACCES};
  if (p.type == alg::kRsa) {
    if (p.scheme != alg::kRsassa && p.scheme != alg::kRsapss) return Error{"the RSA attestation key's scheme is " + alg_name(p.scheme) + ", not RSASSA or RSAPSS", EACCES};
    if (p.rsa_bits < 2048) return Error{"the attestation key's RSA modulus is shorter than 2048 bits", EACCES};
  } else if (p.type == alg::kEcc) {
    if (p.scheme != alg::kEcdsa) return Error{"the ECC attestation key's scheme is " + alg_name(p.scheme) + ", not ECDSA", EACCES};
    if (!curve_group(p.curve)) return Error{"the attestation key's curve is not P-256 or P-384", EACCES};
  } else {
    return Error{"the attestation key is neither RSA nor ECC", EACCES};
  }
  if (digest_size(p.scheme_hash) < 32) return Error{"the attestation key signs with " + alg_name(p.scheme_hash) + ", not SHA-256 or stronger", EACCES};
  if (digest_size(p.name_alg) < 32) return Error{"the attestation key's nameAlg is " + alg_name(p.name_alg), EACCES};
  return {};
}

Status check_idevid_attributes(const PublicArea& p) {
  struct Need {
    uint32_t bit;
    const char* name;
  };
  for (const Need& n :
       {Need{attr::kFixedTpm, "fixedTPM"}, Need{attr::kFixedParent, "fixedParent"},
        Need{attr::kSensitiveDataOrigin, "sensitiveDataOrigin"}, Need{attr::kSign, "sign"}}) {
    if (!(p.attributes & n.bit))
      return Error{std::string("not an IDevID key: ") + n.name + " is not set", EACCES};
  }
  if (p.attributes & attr::kDecrypt) return Error{"not an IDevID key: decrypt is set", EACCES};
  if (p.type == alg::kRsa && p.rsa_bits < 2048)
    return Error{"the IDevID key's RSA modulus is shorter than 2048 bits", EACCES};
  if (p.type == alg::kEcc && !curve_group(p.curve))
    return Error{"the IDevID key's curve is not P-256 or P-384", EACCES};
  if (p.type != alg::kRsa && p.type != alg::kEcc)
    return Error{"the IDevID key is neither RSA nor ECC", EACCES};
  if (digest_size(p.name_alg) < 32)
    return Error{"the IDevID key's nameAlg is " + alg_name(p.name_alg), EACCES};
  return {};
}

// ---- OpenSSL keys ----

Result<PkeyPtr> public_key(const PublicArea& p) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) return Error{"out of memory", ENOMEM};
  BignumPtr n, e;
  const char* type = nullptr;
  Bytes point;
  if (p.type == alg::kRsa) {
    if (p.rsa_modulus.empty() || p.rsa_modulus.size() * 8 != p.rsa_bits) return Error{"the RSA public area's modulus does not have keyBits bits", EBADMSG};
    type = "RSA";
    n.reset(BN_bin2bn(p.rsa_modulus.data(), static_cast<int>(p.rsa_modulus.size()), nullptr));
    e.reset(BN_new());
    if (!n || !e) return Error{"out of memory", ENOMEM};
    BN_set_word(e.get(), p.rsa_exponent ? p.rsa_exponent : 65537);
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
  } else if (p.type == alg::kEcc) {
    const char* group = curve_group(p.curve);
    const size_t len = curve_bytes(p.curve);
    if (!group) return Error{"unsupported ECC curve " + std::to_string(p.curve), EBADMSG};
    if (p.ecc_x.size() > len || p.ecc_y.size() > len || p.ecc_x.empty() || p.ecc_y.empty()) return Error{"the ECC public point has the wrong size for its curve", EBADMSG};
    type = "EC";
    point.push_back(4);
    point.insert(point.end(), len - p.ecc_x.size(), 0);
    point.insert(point.end(), p.ecc_x.begin(), p.ecc_x.end());
    point.insert(point.end(), len - p.ecc_y.size(), 0);
    point.insert(point.end(), p.ecc_y.begin(), p.ecc_y.end());
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  } else {
    return Error{"the public area is neither RSA nor ECC", EBADMSG};
  }
  ParamsPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  n.reset();
  e.reset();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return Error{"the public area does not hold a valid public key", EBADMSG};
  }
  PkeyPtr key(raw);
  if (p.type == alg::kEcc) {
    // fromdata does not check that the point is on the curve; the public check does.
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) <= 0) return Error{"the ECC public point is not on its curve", EBADMSG};
  }
  return key;
}

Result<Bytes> public_key_der(const PublicArea& p) {
  auto key = public_key(p);
  if (!key) return key.error();
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key->get(), &der);
  if (len <= 0) return Error{"cannot encode the public key as SubjectPublicKeyInfo", EIO};
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

bool same_key(const PublicArea& p, EVP_PKEY* key) {
  auto mine = public_key(p);
  return mine && key && EVP_PKEY_eq(mine->get(), key) == 1;
}

Result<PublicArea> ek_public_from_key(EkProfile profile, EVP_PKEY* key) {
  PublicArea p = ek_template(profile);
  if (p.type == alg::kRsa) {
    BIGNUM* raw_n = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &raw_n) <= 0) return Error{"the EK key is not RSA", EINVAL};
    const BignumPtr n(raw_n);
    p.rsa_modulus.assign(static_cast<size_t>(BN_num_bytes(n.get())), 0);
    BN_bn2bin(n.get(), p.rsa_modulus.data());
    if (p.rsa_modulus.size() != 256) return Error{"the EK key is not RSA-2048", EINVAL};
  } else {
    char group[64] = {};
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, nullptr) <= 0 ||
        std::strcmp(group, curve_group(p.curve)) != 0) {
      return Error{std::string("the EK key is not on ") + curve_group(p.curve), EINVAL};
    }
    const size_t len = curve_bytes(p.curve);
    Bytes point(1 + 2 * len);
    size_t got = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(), &got) <= 0 ||
        got != point.size() || point[0] != 4) {
      return Error{"cannot read the EK's ECC point", EINVAL};
    }
    p.ecc_x.assign(point.begin() + 1, point.begin() + 1 + static_cast<ptrdiff_t>(len));
    p.ecc_y.assign(point.begin() + 1 + static_cast<ptrdiff_t>(len), point.end());
  }
  return p;
}

Result<PublicArea> ek_public_from_raw(EkProfile profile, ByteView modulus_or_x, ByteView y) {
  PublicArea p = ek_template(profile);
  if (p.type == alg::kRsa) {
    if (!y.empty()) return Error{"an RSA EK has no y coordinate", EINVAL};
    if (modulus_or_x.size() != p.rsa_bits / 8u || modulus_or_x[0] == 0) return Error{"the EK modulus is not 2048 bits", EINVAL};
    p.rsa_modulus.assign(modulus_or_x.begin(), modulus_or_x.end());
  } else {
    const size_t len = curve_bytes(p.curve);
    if (modulus_or_x.empty() || y.empty() || modulus_or_x.size() > len || y.size() > len) {
      return Error{"the EK point does not fit its curve", EINVAL};
    }
    p.ecc_x.assign(len - modulus_or_x.size(), 0);
    p.ecc_x.insert(p.ecc_x.end(), modulus_or_x.begin(), modulus_or_x.end());
    p.ecc_y.assign(len - y.size(), 0);
    p.ecc_y.insert(p.ecc_y.end(), y.begin(), y.end());
  }
  auto key = public_key(p);  // validates the modulus or that the point is on the curve
  if (!key) return key.error().context("the EK");
  return p;
}

}  // namespace sedge::onboarding

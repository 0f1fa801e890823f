#include "onboarding/quote.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

#include "common/openssl.h"

namespace sedge::onboarding {
namespace {

constexpr size_t kMaxName = 2 + 64;  // TPMU_NAME: a TPMT_HA
constexpr size_t kMaxData = 2 + 64;  // TPM2B_DATA: sizeof(TPMT_HA)
constexpr uint32_t kMaxBanks = 16;   // HASH_COUNT well above any TPM's
constexpr uint8_t kMaxSelect = 4;    // PCR_SELECT_MAX: up to 32 PCRs

Error bad_attest(const std::string& what) { return Error{"malformed quote: " + what, EBADMSG}; }
Error bad_sig(const std::string& what) { return Error{"malformed quote signature: " + what, EBADMSG}; }

}  // namespace

namespace {

// Reads one field into `var`, or returns the error with the structure's prefix (bad()).
#define READ(var, expr)                      \
  do {                                       \
    auto v_ = (expr);                        \
    if (!v_) return bad(v_.error().message); \
    var = std::move(*v_);                    \
  } while (0)

// TPMS_ATTEST up to its attested union: magic, type (which must be `type`), qualifiedSigner,
// extraData, clockInfo, firmwareVersion.
template <typename Bad>
Status parse_attest_header(WireReader& r, uint16_t type, const char* type_name, Attest& a,
                           Bad bad) {
  READ(a.magic, r.u32("magic"));
  if (a.magic != kTpmGeneratedValue)
    return bad("magic is not TPM_GENERATED_VALUE (not made by a TPM)");
  READ(a.type, r.u16("type"));
  if (a.type != type) return bad("type " + std::to_string(a.type) + " is not " + type_name);
  READ(a.qualified_signer, r.tpm2b("qualifiedSigner", kMaxName));
  READ(a.extra_data, r.tpm2b("extraData", kMaxData));
  READ(a.clock, r.u64("clockInfo.clock"));
  READ(a.reset_count, r.u32("clockInfo.resetCount"));
  READ(a.restart_count, r.u32("clockInfo.restartCount"));
  uint8_t safe = 0;
  READ(safe, r.u8("clockInfo.safe"));
  if (safe > 1) return bad("clockInfo.safe is not a boolean");
  a.safe = safe == 1;
  READ(a.firmware_version, r.u64("firmwareVersion"));
  return {};
}

Error bad_certify(const std::string& what) {
  return Error{"malformed certify: " + what, EBADMSG};
}

}  // namespace

Result<Attest> parse_attest(ByteView bytes) {
  WireReader r(bytes);
  Attest a;
  auto bad = bad_attest;
  if (auto h = parse_attest_header(r, kStAttestQuote, "TPM_ST_ATTEST_QUOTE", a, bad); !h)
    return h.error();
  uint32_t count = 0;
  READ(count, r.u32("pcrSelect.count"));
  if (count > kMaxBanks)
    return bad("pcrSelect.count " + std::to_string(count) + " is more than " +
               std::to_string(kMaxBanks));
  for (uint32_t i = 0; i < count; ++i) {
    PcrSelection sel;
    READ(sel.hash, r.u16("pcrSelections.hash"));
    if (digest_size(sel.hash) == 0)
      return bad("PCR bank hash " + alg_name(sel.hash) + " is not supported");
    uint8_t size = 0;
    READ(size, r.u8("pcrSelections.sizeofSelect"));
    if (size > kMaxSelect)
      return bad("pcrSelections.sizeofSelect " + std::to_string(size) + " is more than 4");
    Bytes bits;
    READ(bits, r.raw("pcrSelections.pcrSelect", size));
    for (unsigned b = 0; b < 8u * size; ++b) {
      if (bits[b / 8] & (1u << (b % 8))) sel.pcrs.push_back(b);
    }
    a.pcr_select.push_back(std::move(sel));
  }
  READ(a.pcr_digest, r.tpm2b("pcrDigest", 64));
  if (auto e = r.expect_end("TPMS_ATTEST"); !e) return bad(e.error().message);
  return a;
}

Result<CertifyAttest> parse_certify(ByteView bytes) {
  WireReader r(bytes);
  CertifyAttest c;
  auto bad = bad_certify;
  if (auto h = parse_attest_header(r, kStAttestCertify, "TPM_ST_ATTEST_CERTIFY", c.header, bad); !h)
    return h.error();
  READ(c.name, r.tpm2b("certifyInfo.name", kMaxName));
  READ(c.qualified_name, r.tpm2b("certifyInfo.qualifiedName", kMaxName));
  if (c.name.empty()) return bad("certifyInfo.name is empty");
  if (auto e = r.expect_end("TPMS_ATTEST"); !e) return bad(e.error().message);
  return c;
}
#undef READ

Result<Signature> parse_signature(ByteView bytes) {
  WireReader r(bytes);
  Signature s;
  auto sig_alg = r.u16("sigAlg");
  if (!sig_alg) return bad_sig(sig_alg.error().message);
  s.sig_alg = *sig_alg;
  auto hash = r.u16("signature.hash");
  if (!hash) return bad_sig(hash.error().message);
  s.hash = *hash;
  if (digest_size(s.hash) == 0) return bad_sig("hash " + alg_name(s.hash) + " is not supported");
  if (s.sig_alg == alg::kRsassa || s.sig_alg == alg::kRsapss) {
    auto v = r.tpm2b("signature.rsa", 512);
    if (!v) return bad_sig(v.error().message);
    if (v->empty()) return bad_sig("empty RSA signature");
    s.rsa = std::move(*v);
  } else if (s.sig_alg == alg::kEcdsa) {
    auto rr = r.tpm2b("signature.ecdsa.r", 128);
    if (!rr) return bad_sig(rr.error().message);
    auto ss = r.tpm2b("signature.ecdsa.s", 128);
    if (!ss) return bad_sig(ss.error().message);
    if (rr->empty() || ss->empty()) return bad_sig("empty ECDSA r or s");
    s.r = std::move(*rr);
    s.s = std::move(*ss);
  } else {
    return bad_sig("signature algorithm " + alg_name(s.sig_alg) + " is not RSASSA, RSAPSS or ECDSA");
  }
  if (auto e = r.expect_end("TPMT_SIGNATURE"); !e) return bad_sig(e.error().message);
  return s;
}

Bytes pcr_select_bits(const PcrSelection& sel) {
  Bytes bits(3, 0);
  for (unsigned p : sel.pcrs) {
    if (p / 8 >= bits.size()) bits.resize(p / 8 + 1, 0);
    bits[p / 8] = static_cast<uint8_t>(bits[p / 8] | (1u << (p % 8)));
  }
  return bits;
}

Status verify_tpm_signature(EVP_PKEY* key, const Signature& sig, ByteView signed_bytes) {
  const bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
  if (rsa != (sig.sig_alg == alg::kRsassa || sig.sig_alg == alg::kRsapss))
    return Error{"the signature (" + alg_name(sig.sig_alg) + ") is not of the key's type", EACCES};
  if (digest_size(sig.hash) < 32)
    return Error{"the signature's hash " + alg_name(sig.hash) + " is too weak", EACCES};
  Bytes der;
  if (sig.sig_alg == alg::kEcdsa) {
    // OpenSSL verifies DER ECDSA-Sig-Value.
    EcdsaSigPtr es(ECDSA_SIG_new());
    BignumPtr r(BN_bin2bn(sig.r.data(), static_cast<int>(sig.r.size()), nullptr));
    BignumPtr s(BN_bin2bn(sig.s.data(), static_cast<int>(sig.s.size()), nullptr));
    if (!es || !r || !s || !ECDSA_SIG_set0(es.get(), r.get(), s.get())) return Error{"out of memory", ENOMEM};
    (void)r.release();  // now the signature's
    (void)s.release();
    unsigned char* p = nullptr;
    const int len = i2d_ECDSA_SIG(es.get(), &p);
    es.reset();
    if (len <= 0) return bad_sig("cannot encode r and s");
    der.assign(p, p + len);
    OPENSSL_free(p);
  } else {
    der = sig.rsa;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), &pctx, openssl_digest_name(sig.hash), nullptr,
                                      nullptr, key, nullptr) <= 0) {
    return Error{"cannot set up the signature check", EIO};
  }
  if (sig.sig_alg == alg::kRsapss) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0) {
      return Error{"cannot set up RSA-PSS", EIO};
    }
  } else if (sig.sig_alg == alg::kRsassa) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) return Error{"cannot set up RSASSA", EIO};
  }
  if (EVP_DigestVerify(ctx.get(), der.data(), der.size(), signed_bytes.data(),
                       signed_bytes.size()) != 1) {
    return Error{"the signature does not verify", EACCES};
  }
  return {};
}

namespace {

bool equal_bytes(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

Result<Attest> verify_quote(const PublicArea& ak, ByteView attest, ByteView signature,
                            ByteView nonce) {
  if (auto ok = check_ak_attributes(ak); !ok) return ok.error();
  auto sig = parse_signature(signature);
  if (!sig) return sig.error();
  auto quote = parse_attest(attest);
  if (!quote) return quote.error();
  if (sig->sig_alg != ak.scheme || sig->hash != ak.scheme_hash) {
    return Error{"the quote is signed with " + alg_name(sig->sig_alg) + "/" + alg_name(sig->hash) +
                     ", not the AK's " + alg_name(ak.scheme) + "/" + alg_name(ak.scheme_hash),
                 EACCES};
  }
  auto key = public_key(ak);
  if (!key) return key.error().context("the AK");
  if (auto v = verify_tpm_signature(key->get(), *sig, attest); !v) {
    return Error{"the quote's signature does not verify with the AK", EACCES};
  }
  if (!equal_bytes(quote->extra_data, nonce)) {
    return Error{"the quote is not over the expected nonce (replayed or for another session)", EACCES};
  }
  return quote;
}

Result<CertifyAttest> verify_certify(EVP_PKEY* signer, ByteView attest, ByteView signature,
                                     ByteView qualifying, ByteView object_name) {
  auto sig = parse_signature(signature);
  if (!sig) return sig.error();
  auto certify = parse_certify(attest);
  if (!certify) return certify.error();
  if (auto v = verify_tpm_signature(signer, *sig, attest); !v) {
    return Error{"the certify signature does not verify with the IDevID key: " + v.error().message,
                 EACCES};
  }
  if (!equal_bytes(certify->header.extra_data, qualifying)) {
    return Error{"the certify is not over the expected nonce (replayed or for another session)",
                 EACCES};
  }
  if (!equal_bytes(certify->name, object_name)) {
    return Error{"the certify is for object " + to_hex(certify->name) + ", not the AK " +
                     to_hex(Bytes(object_name.begin(), object_name.end())),
                 EACCES};
  }
  return certify;
}

Result<Bytes> pcr_composite_digest(uint16_t hash_alg, const std::vector<Bytes>& pcr_values) {
  const char* md = openssl_digest_name(hash_alg);
  if (!md) return Error{"unsupported hash " + alg_name(hash_alg), EINVAL};
  MdCtxPtr ctx(EVP_MD_CTX_new());
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (!ctx || !EVP_DigestInit_ex(ctx.get(), EVP_get_digestbyname(md), nullptr)) return Error{"hash failed", EIO};
  for (const Bytes& v : pcr_values) EVP_DigestUpdate(ctx.get(), v.data(), v.size());
  if (!EVP_DigestFinal_ex(ctx.get(), out.data(), &len)) return Error{"hash failed", EIO};
  out.resize(len);
  return out;
}

}  // namespace sedge::onboarding

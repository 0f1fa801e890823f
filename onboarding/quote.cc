#include "onboarding/quote.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

namespace sedge::onboarding {
namespace {

constexpr size_t kMaxName = 2 + 64;  // TPMU_NAME: a TPMT_HA
constexpr size_t kMaxData = 2 + 64;  // TPM2B_DATA: sizeof(TPMT_HA)
constexpr uint32_t kMaxBanks = 16;   // HASH_COUNT well above any TPM's
constexpr uint8_t kMaxSelect = 4;    // PCR_SELECT_MAX: up to 32 PCRs

Error bad_attest(const std::string& what) { return Error{"malformed quote: " + what, EBADMSG}; }
Error bad_sig(const std::string& what) { return Error{"malformed quote signature: " + what, EBADMSG}; }

}  // namespace

Result<Attest> parse_attest(ByteView bytes) {
  WireReader r(bytes);
  Attest a;
#define READ(var, fn, field)                       \
  do {                                             \
    auto v_ = r.fn(field);                         \
    if (!v_) return bad_attest(v_.error().message); \
    var = *v_;                                     \
  } while (0)
  READ(a.magic, u32, "magic");
  if (a.magic != kTpmGeneratedValue) return bad_attest("magic is not TPM_GENERATED_VALUE (not made by a TPM)");
  READ(a.type, u16, "type");
  if (a.type != kStAttestQuote) return bad_attest("type " + std::to_string(a.type) + " is not TPM_ST_ATTEST_QUOTE");
  {
    auto v = r.tpm2b("qualifiedSigner", kMaxName);
    if (!v) return bad_attest(v.error().message);
    a.qualified_signer = std::move(*v);
    auto d = r.tpm2b("extraData", kMaxData);
    if (!d) return bad_attest(d.error().message);
    a.extra_data = std::move(*d);
  }
  READ(a.clock, u64, "clockInfo.clock");
  READ(a.reset_count, u32, "clockInfo.resetCount");
  READ(a.restart_count, u32, "clockInfo.restartCount");
  uint8_t safe = 0;
  READ(safe, u8, "clockInfo.safe");
  if (safe > 1) return bad_attest("clockInfo.safe is not a boolean");
  a.safe = safe == 1;
  READ(a.firmware_version, u64, "firmwareVersion");
  uint32_t count = 0;
  READ(count, u32, "pcrSelect.count");
  if (count > kMaxBanks) return bad_attest("pcrSelect.count " + std::to_string(count) + " is more than " + std::to_string(kMaxBanks));
  for (uint32_t i = 0; i < count; ++i) {
    PcrSelection sel;
    READ(sel.hash, u16, "pcrSelections.hash");
    if (digest_size(sel.hash) == 0) return bad_attest("PCR bank hash " + alg_name(sel.hash) + " is not supported");
    uint8_t size = 0;
    READ(size, u8, "pcrSelections.sizeofSelect");
    if (size > kMaxSelect) return bad_attest("pcrSelections.sizeofSelect " + std::to_string(size) + " is more than 4");
    auto bits = r.raw("pcrSelections.pcrSelect", size);
    if (!bits) return bad_attest(bits.error().message);
    for (unsigned b = 0; b < 8u * size; ++b) {
      if ((*bits)[b / 8] & (1u << (b % 8))) sel.pcrs.push_back(b);
    }
    a.pcr_select.push_back(std::move(sel));
  }
  {
    auto d = r.tpm2b("pcrDigest", 64);
    if (!d) return bad_attest(d.error().message);
    a.pcr_digest = std::move(*d);
  }
#undef READ
  if (auto e = r.expect_end("TPMS_ATTEST"); !e) return bad_attest(e.error().message);
  return a;
}

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

Result<Attest> verify_quote(const PublicArea& ak, ByteView attest, ByteView signature, ByteView nonce) {
  if (auto ok = check_ak_attributes(ak); !ok) return ok.error();
  auto sig = parse_signature(signature);
  if (!sig) return sig.error();
  auto quote = parse_attest(attest);
  if (!quote) return quote.error();
  if (sig->sig_alg != ak.scheme || sig->hash != ak.scheme_hash) {
    return Error{"the quote is signed with " + alg_name(sig->sig_alg) + "/" + alg_name(sig->hash) + ", not the AK's " +
                     alg_name(ak.scheme) + "/" + alg_name(ak.scheme_hash),
                 EACCES};
  }
  Bytes der;
  if (sig->sig_alg == alg::kEcdsa) {
    // OpenSSL verifies DER ECDSA-Sig-Value.
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(sig->r.data(), static_cast<int>(sig->r.size()), nullptr);
    BIGNUM* s = BN_bin2bn(sig->s.data(), static_cast<int>(sig->s.size()), nullptr);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(es);
      return Error{"out of memory", ENOMEM};
    }
    unsigned char* p = nullptr;
    const int len = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    if (len <= 0) return bad_sig("cannot encode r and s");
    der.assign(p, p + len);
    OPENSSL_free(p);
  } else {
    der = sig->rsa;
  }
  auto key = public_key(ak);
  if (!key) return key.error().context("the AK");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> owned(*key, EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), &pctx, openssl_digest_name(sig->hash), nullptr, nullptr, owned.get(), nullptr) <= 0) {
    return Error{"cannot set up the signature check", EIO};
  }
  if (sig->sig_alg == alg::kRsapss) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0) {
      return Error{"cannot set up RSA-PSS", EIO};
    }
  } else if (sig->sig_alg == alg::kRsassa) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) return Error{"cannot set up RSASSA", EIO};
  }
  if (EVP_DigestVerify(ctx.get(), der.data(), der.size(), attest.data(), attest.size()) != 1) {
    return Error{"the quote's signature does not verify with the AK", EACCES};
  }
  if (quote->extra_data.size() != nonce.size() || CRYPTO_memcmp(quote->extra_data.data(), nonce.data(), nonce.size()) != 0) {
    return Error{"the quote is not over the expected nonce (replayed or for another session)", EACCES};
  }
  return quote;
}

Result<Bytes> pcr_composite_digest(uint16_t hash_alg, const std::vector<Bytes>& pcr_values) {
  const char* md = openssl_digest_name(hash_alg);
  if (!md) return Error{"unsupported hash " + alg_name(hash_alg), EINVAL};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (!ctx || !EVP_DigestInit_ex(ctx.get(), EVP_get_digestbyname(md), nullptr)) return Error{"hash failed", EIO};
  for (const Bytes& v : pcr_values) EVP_DigestUpdate(ctx.get(), v.data(), v.size());
  if (!EVP_DigestFinal_ex(ctx.get(), out.data(), &len)) return Error{"hash failed", EIO};
  out.resize(len);
  return out;
}

}  // namespace sedge::onboarding

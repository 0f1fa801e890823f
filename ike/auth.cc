#include "ike/auth.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>

#include "common/openssl.h"

namespace sedge::ike {
namespace {

const EVP_MD* md_for(uint16_t hash) {
  switch (hash) {
    case kHashSha1: return EVP_sha1();
    case kHashSha256: return EVP_sha256();
    case kHashSha384: return EVP_sha384();
    case kHashSha512: return EVP_sha512();
    default: return nullptr;
  }
}

const char* hash_name(uint16_t hash) {
  switch (hash) {
    case kHashSha1: return "SHA-1";
    case kHashSha256: return "SHA2-256";
    case kHashSha384: return "SHA2-384";
    case kHashSha512: return "SHA2-512";
    default: return "an unknown hash";
  }
}

uint16_t hash_from_nid(int nid) {
  switch (nid) {
    case NID_sha1: return kHashSha1;
    case NID_sha256: return kHashSha256;
    case NID_sha384: return kHashSha384;
    case NID_sha512: return kHashSha512;
    default: return 0;
  }
}

size_t hash_size(uint16_t hash) {
  const EVP_MD* md = md_for(hash);
  return md ? static_cast<size_t>(EVP_MD_get_size(md)) : 0;
}

// The digest AlgorithmIdentifier inside PSS parameters: OID and NULL (RFC 7427 A.4).
Bytes digest_algid(uint16_t hash) {
  const auto last = static_cast<uint8_t>(hash - 1);  // 2.16.840.1.101.3.4.2.{1,2,3}
  return {0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, last, 0x05, 0x00};
}

Bytes tlv(uint8_t tag, const Bytes& content) {  // short lengths only (< 128)
  Bytes out{tag, static_cast<uint8_t>(content.size())};
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Status set_pss(EVP_PKEY_CTX* pctx, const EVP_MD* mgf1, int salt) {
  if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mgf1) <= 0 ||
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) <= 0) {
    ERR_clear_error();
    return Error{"OpenSSL refused the RSASSA-PSS parameters", EINVAL};
  }
  return {};
}

Result<Bytes> raw_sign(EVP_PKEY* key, uint16_t hash, bool pss, std::span<const uint8_t> data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = md_for(hash);
  if (EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    ERR_clear_error();
    return Error{"cannot sign with the private key", EINVAL};
  }
  if (pss) {
    if (auto st = set_pss(pctx, md, static_cast<int>(hash_size(hash))); !st) return st.error();
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) return Error{"signing failed", EINVAL};
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    ERR_clear_error();
    return Error{"signing failed", EINVAL};
  }
  sig.resize(len);
  return sig;
}

bool raw_verify(EVP_PKEY* key, const SignatureAlgorithm& alg, std::span<const uint8_t> data, std::span<const uint8_t> sig) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx.get(), &pctx, md_for(alg.hash), nullptr, key) == 1;
  if (ok && alg.scheme == SignatureScheme::rsa_pss) {
    ok = set_pss(pctx, md_for(alg.mgf1_hash), static_cast<int>(alg.salt_length)).ok();
  }
  ok = ok && EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
  ERR_clear_error();
  return ok;
}

// ECDSA signatures as RFC 4754 carries them (r | s, each the curve's size) and as DER.
Result<Bytes> der_to_rs(std::span<const uint8_t> der, size_t half) {
  const unsigned char* p = der.data();
  EcdsaSigPtr s(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!s) return Error{"bad ECDSA signature", EINVAL};
  Bytes out(2 * half);
  const bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(s.get()), out.data(), static_cast<int>(half)) > 0 &&
                  BN_bn2binpad(ECDSA_SIG_get0_s(s.get()), out.data() + half, static_cast<int>(half)) > 0;
  if (!ok) return Error{"bad ECDSA signature", EINVAL};
  return out;
}

Result<Bytes> rs_to_der(std::span<const uint8_t> rs) {
  if (rs.empty() || rs.size() % 2) return Error{"the ECDSA signature has an odd length", EBADMSG};
  const size_t half = rs.size() / 2;
  EcdsaSigPtr s(ECDSA_SIG_new());
  BignumPtr r(BN_bin2bn(rs.data(), static_cast<int>(half), nullptr));
  BignumPtr sv(BN_bin2bn(rs.data() + half, static_cast<int>(half), nullptr));
  if (s && ECDSA_SIG_set0(s.get(), r.get(), sv.get()) == 1) {
    (void)r.release();  // now the signature's
    (void)sv.release();
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(s.get(), &der);
  Bytes out(der, der + std::max(len, 0));
  OPENSSL_free(der);
  return out;
}

int ec_bits_of(EVP_PKEY* key) {
  if (!EVP_PKEY_is_a(key, "EC")) return 0;
  return EVP_PKEY_get_bits(key);
}

std::string scheme_name(const SignatureAlgorithm& a) {
  switch (a.scheme) {
    case SignatureScheme::rsa_pss: return std::string("RSASSA-PSS with ") + hash_name(a.hash);
    case SignatureScheme::rsa_pkcs1: return std::string("RSA PKCS#1 v1.5 with ") + hash_name(a.hash);
    case SignatureScheme::ecdsa: return std::string("ECDSA with ") + hash_name(a.hash);
  }
  return "?";
}

}  // namespace

Bytes algorithm_identifier(SignatureScheme scheme, uint16_t hash) {
  const auto h = static_cast<uint8_t>(hash);
  switch (scheme) {
    case SignatureScheme::rsa_pkcs1:  // 1.2.840.113549.1.1.{11,12,13}
      return {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, static_cast<uint8_t>(0x0b + h - 2), 0x05, 0x00};
    case SignatureScheme::ecdsa:  // 1.2.840.10045.4.3.{2,3,4}
      return {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, h};
    case SignatureScheme::rsa_pss: {
      const Bytes pss_oid{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a};
      const Bytes mgf1_oid{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
      const Bytes params = tlv(0x30, cat({tlv(0xa0, digest_algid(hash)), tlv(0xa1, tlv(0x30, cat({mgf1_oid, digest_algid(hash)}))),
                                          tlv(0xa2, {0x02, 0x01, static_cast<uint8_t>(hash_size(hash))})}));
      return tlv(0x30, cat({pss_oid, params}));
    }
  }
  return {};
}

Result<SignatureAlgorithm> parse_algorithm_identifier(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509AlgorPtr alg(d2i_X509_ALGOR(nullptr, &p, static_cast<long>(der.size())));
  if (!alg || p != der.data() + der.size()) {
    ERR_clear_error();
    return Error{"the signature's AlgorithmIdentifier is not DER", EBADMSG};
  }
  const ASN1_OBJECT* obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg.get());
  const int nid = OBJ_obj2nid(obj);
  SignatureAlgorithm out;
  switch (nid) {
    case NID_sha256WithRSAEncryption: return SignatureAlgorithm{SignatureScheme::rsa_pkcs1, kHashSha256, 0, 0};
    case NID_sha384WithRSAEncryption: return SignatureAlgorithm{SignatureScheme::rsa_pkcs1, kHashSha384, 0, 0};
    case NID_sha512WithRSAEncryption: return SignatureAlgorithm{SignatureScheme::rsa_pkcs1, kHashSha512, 0, 0};
    case NID_ecdsa_with_SHA256: return SignatureAlgorithm{SignatureScheme::ecdsa, kHashSha256, 0, 0};
    case NID_ecdsa_with_SHA384: return SignatureAlgorithm{SignatureScheme::ecdsa, kHashSha384, 0, 0};
    case NID_ecdsa_with_SHA512: return SignatureAlgorithm{SignatureScheme::ecdsa, kHashSha512, 0, 0};
    case NID_rsassaPss: break;
    default: {
      char name[128] = {};
      OBJ_obj2txt(name, sizeof name, obj, 0);
      return Error{std::string("signature algorithm ") + name + " is not accepted (SHA-2 with RSA, RSASSA-PSS or ECDSA)", EACCES};
    }
  }
  if (ptype != V_ASN1_SEQUENCE) return Error{"RSASSA-PSS without parameters (SHA-1 defaults) is not accepted", EACCES};
  const auto* seq = static_cast<const ASN1_STRING*>(pval);
  const unsigned char* q = ASN1_STRING_get0_data(seq);
  RsaPssParamsPtr params(d2i_RSA_PSS_PARAMS(nullptr, &q, ASN1_STRING_length(seq)));
  if (!params) {
    ERR_clear_error();
    return Error{"malformed RSASSA-PSS parameters", EBADMSG};
  }
  out.scheme = SignatureScheme::rsa_pss;
  out.hash = params->hashAlgorithm ? hash_from_nid(OBJ_obj2nid(params->hashAlgorithm->algorithm)) : kHashSha1;
  out.mgf1_hash = kHashSha1;
  if (params->maskGenAlgorithm) {
    if (OBJ_obj2nid(params->maskGenAlgorithm->algorithm) != NID_mgf1 || !params->maskGenAlgorithm->parameter ||
        params->maskGenAlgorithm->parameter->type != V_ASN1_SEQUENCE) {
      return Error{"RSASSA-PSS with a mask generation function other than MGF1", EACCES};
    }
    const ASN1_STRING* m = params->maskGenAlgorithm->parameter->value.sequence;
    const unsigned char* r = ASN1_STRING_get0_data(m);
    X509AlgorPtr mgf_md(d2i_X509_ALGOR(nullptr, &r, ASN1_STRING_length(m)));
    if (!mgf_md) {
      ERR_clear_error();
      return Error{"malformed MGF1 parameters", EBADMSG};
    }
    out.mgf1_hash = hash_from_nid(OBJ_obj2nid(mgf_md->algorithm));
  }
  out.salt_length = 20;
  if (params->saltLength) {
    const long salt = ASN1_INTEGER_get(params->saltLength);
    if (salt < 0 || salt > 1024) return Error{"RSASSA-PSS salt length out of range", EBADMSG};
    out.salt_length = static_cast<size_t>(salt);
  }
  if (params->trailerField && ASN1_INTEGER_get(params->trailerField) != 1) return Error{"RSASSA-PSS trailer field not 1", EBADMSG};
  if (out.hash < kHashSha256 || out.mgf1_hash < kHashSha256) {
    return Error{"RSASSA-PSS with SHA-1 (or an unknown hash) is not accepted", EACCES};
  }
  return out;
}

Bytes signature_hashes_notify_data() {
  Bytes b;
  for (uint16_t hash : {kHashSha256, kHashSha384, kHashSha512}) put16(b, hash);
  return b;
}

std::vector<uint16_t> peer_signature_hashes(const std::vector<Payload>& payloads) {
  std::vector<uint16_t> out;
  for (const auto& p : payloads) {
    if (p.type != kNotify) continue;
    auto n = decode_notify(p.body);
    if (!n || n->type != kNotifySignatureHashAlgorithms) continue;
    for (size_t i = 0; i + 1 < n->data.size(); i += 2) out.push_back(get16(n->data, i));
    if (out.empty()) out.push_back(0);  // an empty list still says RFC 7427 is understood
  }
  return out;
}

Bytes signed_octets(std::span<const uint8_t> message, std::span<const uint8_t> nonce, const PrfKey& sk_p,
                    std::span<const uint8_t> id_body) {
  const Bytes id_mac = prf(sk_p, id_body);
  Bytes out(message.begin(), message.end());
  out.insert(out.end(), nonce.begin(), nonce.end());
  out.insert(out.end(), id_mac.begin(), id_mac.end());
  return out;
}

Result<Bytes> sign_auth(const PrivateKey& key, std::span<const uint8_t> octets, const std::vector<uint16_t>& peer_hashes, bool rsa_pss) {
  auto takes = [&](uint16_t h) { return std::find(peer_hashes.begin(), peer_hashes.end(), h) != peer_hashes.end(); };
  if (peer_hashes.empty()) {  // the peer knows no RFC 7427: the classic methods
    if (key.rsa()) {
      auto sig = raw_sign(key.get(), kHashSha1, false, octets);
      if (!sig) return sig.error();
      return encode_typed(kAuthRsaSignature, *sig);
    }
    const int bits = key.ec_bits();
    const uint16_t hash = bits == 256 ? kHashSha256 : bits == 384 ? kHashSha384 : kHashSha512;
    const uint8_t method = bits == 256 ? kAuthEcdsaP256 : bits == 384 ? kAuthEcdsaP384 : kAuthEcdsaP521;
    auto der = raw_sign(key.get(), hash, false, octets);
    if (!der) return der.error();
    auto rs = der_to_rs(*der, static_cast<size_t>((bits + 7) / 8));
    if (!rs) return rs.error();
    return encode_typed(method, *rs);
  }
  SignatureScheme scheme = SignatureScheme::ecdsa;
  uint16_t hash = 0;
  if (key.ec()) {
    const int bits = key.ec_bits();
    hash = bits == 256 ? kHashSha256 : bits == 384 ? kHashSha384 : kHashSha512;
    if (!takes(hash)) {
      return Error{std::string("the peer's SIGNATURE_HASH_ALGORITHMS lack ") + hash_name(hash) + ", which our P-" +
                       std::to_string(bits) + " key signs with",
                   EPROTO};
    }
  } else {
    scheme = rsa_pss ? SignatureScheme::rsa_pss : SignatureScheme::rsa_pkcs1;
    for (uint16_t h : {kHashSha256, kHashSha384, kHashSha512}) {
      if (!hash && takes(h)) hash = h;
    }
    if (!hash) return Error{"the peer's SIGNATURE_HASH_ALGORITHMS name none of SHA2-256/384/512", EPROTO};
  }
  auto sig = raw_sign(key.get(), hash, scheme == SignatureScheme::rsa_pss, octets);
  if (!sig) return sig.error();
  const Bytes algid = algorithm_identifier(scheme, hash);
  Bytes data{static_cast<uint8_t>(algid.size())};
  data.insert(data.end(), algid.begin(), algid.end());
  data.insert(data.end(), sig->begin(), sig->end());
  return encode_typed(kAuthDigitalSignature, data);
}

Status verify_auth(EVP_PKEY* peer_key, std::span<const uint8_t> auth_body, std::span<const uint8_t> octets) {
  if (auth_body.size() < 5) return Error{"the AUTH payload is empty", EBADMSG};
  // X509_get0_pubkey gives none for a key OpenSSL cannot decode (an unknown algorithm).
  if (!peer_key) return Error{"the peer's certificate holds a public key OpenSSL cannot read", EACCES};
  const uint8_t method = auth_body[0];
  const auto data = auth_body.subspan(4);
  const bool rsa = EVP_PKEY_is_a(peer_key, "RSA");
  const int ec_bits = ec_bits_of(peer_key);
  SignatureAlgorithm alg;
  Bytes sig;
  switch (method) {
    case kAuthRsaSignature:
      if (!rsa) return Error{"auth method 1 (RSA signature) with a non-RSA certificate", EACCES};
      alg = {SignatureScheme::rsa_pkcs1, kHashSha1, 0, 0};
      sig.assign(data.begin(), data.end());
      break;
    case kAuthEcdsaP256:
    case kAuthEcdsaP384:
    case kAuthEcdsaP521: {
      const int want = method == kAuthEcdsaP256 ? 256 : method == kAuthEcdsaP384 ? 384 : 521;
      if (ec_bits != want) return Error{"auth method " + std::to_string(method) + " needs a P-" + std::to_string(want) + " certificate", EACCES};
      if (data.size() != 2 * static_cast<size_t>((want + 7) / 8)) return Error{"the ECDSA signature has the wrong length", EBADMSG};
      alg = {SignatureScheme::ecdsa, want == 256 ? kHashSha256 : want == 384 ? kHashSha384 : kHashSha512, 0, 0};
      auto der = rs_to_der(data);
      if (!der) return der.error();
      sig = std::move(*der);
      break;
    }
    case kAuthDigitalSignature: {
      const size_t len = data[0];
      if (len == 0 || data.size() < 1 + len + 1) return Error{"the digital signature AUTH is truncated", EBADMSG};
      auto parsed = parse_algorithm_identifier(data.subspan(1, len));
      if (!parsed) return parsed.error();
      alg = *parsed;
      if (alg.scheme == SignatureScheme::ecdsa ? ec_bits == 0 : !rsa) {
        return Error{"the peer signed with " + scheme_name(alg) + " but its certificate holds another kind of key", EACCES};
      }
      sig.assign(data.begin() + static_cast<std::ptrdiff_t>(1 + len), data.end());
      break;
    }
    case kAuthSharedKeyMic: return Error{"the peer authenticated with a pre-shared key, not its certificate", EACCES};
    default: return Error{"auth method " + std::to_string(method) + " is not supported", EACCES};
  }
  if (!raw_verify(peer_key, alg, octets, sig)) {
    return Error{"the peer's signature (" + scheme_name(alg) + ", auth method " + std::to_string(method) + ") does not verify",
                 EACCES};
  }
  return {};
}

Payload certreq_payload(const TrustStore& trust) {
  Bytes body{kCertX509Signature};
  const Bytes hashes = trust.certreq_hashes();
  body.insert(body.end(), hashes.begin(), hashes.end());
  return {kCertReq, false, body};
}

Result<LocalAuth> build_auth(const TunnelSpec& tunnel, std::span<const uint8_t> message, std::span<const uint8_t> nonce,
                             const PrfKey& sk_p, std::span<const uint8_t> id_body, const std::vector<uint16_t>& peer_hashes) {
  LocalAuth out;
  if (!tunnel.pubkey) {
    out.auth = {kAuth, false, encode_typed(kAuthSharedKeyMic, psk_auth(*tunnel.psk, message, nonce, sk_p, id_body))};
    return out;
  }
  const PubkeyAuth& pk = *tunnel.pubkey;
  auto body = sign_auth(pk.key, signed_octets(message, nonce, sk_p, id_body), peer_hashes, pk.rsa_pss);
  if (!body) return body.error();
  for (const auto& c : pk.chain) {
    Bytes cert{kCertX509Signature};
    const Bytes der = c.der();
    cert.insert(cert.end(), der.begin(), der.end());
    out.certs.push_back({kCert, false, std::move(cert)});
  }
  out.auth = {kAuth, false, std::move(*body)};
  return out;
}

Status verify_peer_auth(const TunnelSpec& tunnel, const std::vector<Payload>& inner, std::span<const uint8_t> message,
                        std::span<const uint8_t> nonce, const PrfKey& sk_p, std::span<const uint8_t> id_body) {
  const auto auth = std::find_if(inner.begin(), inner.end(), [](const Payload& p) { return p.type == kAuth; });
  if (auth == inner.end() || auth->body.size() < 5) return Error{"no AUTH payload", EBADMSG};
  if (!tunnel.pubkey) {
    const Bytes expected = psk_auth(*tunnel.psk, message, nonce, sk_p, id_body);
    if (auth->body[0] != kAuthSharedKeyMic) {
      return Error{"the peer used auth method " + std::to_string(auth->body[0]) + ", this tunnel a pre-shared key", EACCES};
    }
    if (!constant_time_equal(std::span(auth->body).subspan(4), expected)) {
      return Error{"the pre-shared key AUTH does not verify (a different key?)", EACCES};
    }
    return {};
  }
  std::vector<Certificate> certs;
  for (const auto& p : inner) {
    if (p.type != kCert) continue;
    if (p.body.empty() || p.body[0] != kCertX509Signature) {
      return Error{"a CERT payload with encoding " + std::to_string(p.body.empty() ? 0 : p.body[0]) + " (only X.509 signature, 4)",
                   EACCES};
    }
    auto c = Certificate::from_der(std::span(p.body).subspan(1));
    if (!c) return c.error().context("the peer's CERT payload");
    certs.push_back(std::move(*c));
  }
  if (certs.empty()) return Error{"the peer sent no certificate (CERT payload)", EACCES};
  const std::vector<Certificate> intermediates(certs.begin() + 1, certs.end());
  if (auto st = tunnel.pubkey->trust.verify(certs.front(), intermediates); !st) return st;
  if (id_body.size() < 4) return Error{"empty ID payload", EBADMSG};
  if (auto st = id_matches_certificate(certs.front(), id_body[0], id_body.subspan(4)); !st) return st;
  if (auto st = verify_auth(X509_get0_pubkey(certs.front().get()), auth->body, signed_octets(message, nonce, sk_p, id_body)); !st) {
    return st.error().context("certificate " + certs.front().subject());
  }
  return {};
}

}  // namespace sedge::ike

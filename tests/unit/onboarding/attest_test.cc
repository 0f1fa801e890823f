// The attestation primitives in software: the TPM wire parsers (on public areas, quotes and
// signatures a TPM made — swtpm, recorded under data/ with the names tpm2_readpublic printed),
// KDFa and KDFe (OpenSSL's KBKDF and SSKDF underneath) against fixed vectors from the TPM 2.0
// reference implementation and a public TPM test vector set, MakeCredential's output opened again with the EK's private key the
// way the TPM does, and the AK attribute check. The TPM's side of the same exchanges runs in
// the lab (tests/lab/onboarding/tpm_attest.sh).
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "onboarding/credential.h"
#include "onboarding/quote.h"
#include "onboarding/tpm_wire.h"

namespace sedge::onboarding {
namespace {

Bytes data_file(const std::string& name) {
  const char* src = std::getenv("SEDGE_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : ".") + "/tests/unit/onboarding/data/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes hex(const std::string& s) {
  auto b = from_hex(s);
  EXPECT_TRUE(b.ok()) << s;
  return b.ok() ? *b : Bytes{};
}

Bytes bytes_of(const Secret& s) { return Bytes(s.bytes().begin(), s.bytes().end()); }

// ---- KDFs ----

// KDFa's self-test vector of the TPM 2.0 reference implementation (TPM 2.0 Part 4,
// KdfTestData.h: the key, the label "KDFSELFTESTLABEL", contextU and contextV, 160 bits out),
// for each hash the reference code holds an answer for.
TEST(Kdf, KdfaTpmReferenceSelfTest) {
  const Bytes key = hex("271fa08bbdc5060ec3dfa928ff9b73123a12da0c");
  const Bytes u = hex("ce244f395dca7391"), v = hex("da504031ddf12e83");
  const struct {
    uint16_t hash;
    const char* out;
  } cases[] = {
      {alg::kSha1, "55b5a7184aa07423c47dae766c26a2377d7cf851"},
      {alg::kSha256, "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4"},
      {alg::kSha384, "1dce70c9113eb2dba47bd9cfc72bf46f45b09312"},
      {alg::kSha512, "8be2c1b85b78569b9fa759f5857c56d684810fd3"},
  };
  for (const auto& c : cases) {
    auto k = kdfa(c.hash, key, "KDFSELFTESTLABEL", u, v, 160);
    ASSERT_TRUE(k.ok()) << k.error().message;
    EXPECT_EQ(to_hex(bytes_of(*k)), c.out) << alg_name(c.hash);
  }
  // Only the concatenation of the two contexts counts, not where it is split.
  Bytes uv = u;
  uv.insert(uv.end(), v.begin(), v.end());
  auto joined = kdfa(alg::kSha256, key, "KDFSELFTESTLABEL", uv, {}, 160);
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(to_hex(bytes_of(*joined)), "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4");
}

// KDFe vectors of the public TPM crypto test vector set (tpm-test-vectors, vectors/kdfe.json:
// made with go-tpm and checked against a TPM simulator), those with whole-byte outputs: one
// hash block and a part of the next (SHA-256, 336 and 496 bits) and a part of one (SHA-384).
TEST(Kdf, KdfeTestVectors) {
  const struct {
    const char* name;
    uint16_t hash;
    const char *z, *use, *u, *v;
    size_t bits;
    const char* out;
  } cases[] = {
      {"35_SHA256_336", alg::kSha256, "8995a6318a0217c7c7bf543f50da29016c4ff2a1ea5daf54ebcb00", "INTEGRITY",
       "8852f14d8e9b68", "74ff", 336,
       "92343ef558feb95fd14838f9ca39c8618598a7eeb31af7fc276030b8c3ff326d4870f190e54abbec9da4"},
      {"38_SHA256_496", alg::kSha256, "00", "OBFUSCATE", "ebcb3cd4a002941ed496ef1d32a70b0b7f6f05b8a51803d5a9ff9b",
       "a1f79a7ee2beee21e2bfaee67769874687bfe21b2468fc8e721b6e967e12ff", 496,
       "dcd14d72e0d5d8ec15b5ea15ae060e02f0e042f3af7efbd73650bb4457d73b060ef8f78bdf8cea099fe98fad6359bcfe92c1c6be8a157c"
       "1064c85ada3ad2"},
      {"58_SHA384_232", alg::kSha384, "ff1f419e5f1dbb2077d6a82e82a928a56bedf5c8c223a10c6646ca5f0db99f91f0", "XOR",
       "6dcf4b9a62a0438b83c7e27d18ecd75075341ae7bd1d3a2615ff09885363abcef324eb1396816c3bb196",
       "004352c8abc6f41bc955e09f9eeab29e83b3451f", 232, "af807b1ff3cf665c976579e765cb93d6c1f35159364fb8e5b6f1742015"},
  };
  for (const auto& c : cases) {
    auto k = kdfe(c.hash, hex(c.z), c.use, hex(c.u), hex(c.v), c.bits);
    ASSERT_TRUE(k.ok()) << c.name << ": " << k.error().message;
    EXPECT_EQ(to_hex(bytes_of(*k)), c.out) << c.name;
  }
}

TEST(Kdf, RefusesBadArguments) {
  EXPECT_FALSE(kdfa(alg::kSha256, hex("00"), "X", {}, {}, 0).ok());
  EXPECT_FALSE(kdfa(alg::kSha256, hex("00"), "X", {}, {}, 12).ok());
  EXPECT_FALSE(kdfa(0x1234, hex("00"), "X", {}, {}, 128).ok());
  EXPECT_FALSE(kdfe(alg::kNull, hex("00"), "X", {}, {}, 128).ok());
}

// ---- public areas ----

TEST(PublicArea, ParsesTheTpmsRsaEkAndNamesItAsTheTpmDoes) {
  const Bytes wire = data_file("ek-rsa2048.pub");
  auto p = parse_public(wire);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->type, alg::kRsa);
  EXPECT_EQ(p->attributes, 0x000300b2u);
  EXPECT_EQ(p->rsa_modulus.size(), 256u);
  EXPECT_EQ(marshal_public(*p), wire);
  auto name = object_name(*p);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(to_hex(*name), "000be04f65a27a4f3cde47b373cc4915fe959e0d2751f8d87ca27c2a0de21003a7eb");
  // Everything but the key is the L-1 template.
  PublicArea t = ek_template(EkProfile::kRsa2048);
  t.rsa_modulus = p->rsa_modulus;
  EXPECT_EQ(marshal_public(t), wire);
}

TEST(PublicArea, ParsesTheHighRangeP384Ek) {
  const Bytes wire = data_file("ek-p384.pub");
  auto p = parse_public(wire);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->curve, kCurveP384);
  EXPECT_EQ(p->name_alg, alg::kSha384);
  EXPECT_EQ(to_hex(*object_name(*p)),
            "000c5b87908a05eacc9245086de09590bd1a26be1850ebc15ddc681bf1beb18842236f4e4bf5a665f449e0ed24aa5e909bd8");
  PublicArea t = ek_template(EkProfile::kEccP384);
  t.ecc_x = p->ecc_x;
  t.ecc_y = p->ecc_y;
  EXPECT_EQ(marshal_public(t), wire);
  // From the key alone (as in a certificate), the same public area.
  auto key = public_key(*p);
  ASSERT_TRUE(key.ok());
  auto again = ek_public_from_key(EkProfile::kEccP384, key->get());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(marshal_public(*again), wire);
}

TEST(PublicArea, EkFromRawKey) {
  const Bytes rsa = data_file("ek-rsa2048.pub");
  auto p = parse_public(rsa);
  ASSERT_TRUE(p.ok());
  auto again = ek_public_from_raw(EkProfile::kRsa2048, p->rsa_modulus);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(marshal_public(*again), rsa);
  const Bytes ecc = data_file("ek-p384.pub");
  auto e = parse_public(ecc);
  ASSERT_TRUE(e.ok());
  auto raw = ek_public_from_raw(EkProfile::kEccP384, e->ecc_x, e->ecc_y);
  ASSERT_TRUE(raw.ok()) << raw.error().message;
  EXPECT_EQ(marshal_public(*raw), ecc);
  Bytes off_curve = e->ecc_y;
  off_curve.back() ^= 1;
  EXPECT_FALSE(ek_public_from_raw(EkProfile::kEccP384, e->ecc_x, off_curve).ok());
  EXPECT_FALSE(ek_public_from_raw(EkProfile::kEccP256, e->ecc_x, e->ecc_y).ok());  // 48-byte coordinates
  EXPECT_FALSE(ek_public_from_raw(EkProfile::kRsa2048, Bytes(255, 1)).ok());
}

TEST(PublicArea, AkNamesMatchTheTpm) {
  EXPECT_EQ(to_hex(*object_name(*parse_public(data_file("ak-rsa.pub")))),
            "000bc134698e9fd9c18e9b58d089bbe518bd1a231064b050da680a4817d3b10a7471");
  EXPECT_EQ(to_hex(*object_name(*parse_public(data_file("ak-ecc.pub")))),
            "000b8d83680d298d4b9af5660c0920be2be2b43e1db2f1a1291f88f6e8f15157a824");
}

TEST(PublicArea, RefusesEveryTruncationAndTrailingBytes) {
  for (const char* f : {"ek-rsa2048.pub", "ek-p384.pub", "ak-ecc.pub"}) {
    const Bytes wire = data_file(f);
    for (size_t n = 0; n < wire.size(); ++n) {
      EXPECT_FALSE(parse_public(ByteView(wire.data(), n)).ok()) << f << " cut at " << n;
    }
    Bytes longer = wire;
    longer.push_back(0);
    EXPECT_FALSE(parse_public(longer).ok());
    // The inner size one too large, with a byte to match: refused as trailing inside.
    longer[1] = static_cast<uint8_t>(longer[1] + 1);
    auto r = parse_public(longer);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("malformed TPM public area"), std::string::npos);
  }
}

TEST(PublicArea, RefusesUnsupportedAlgorithmsAndOversizedFields) {
  Bytes wire = data_file("ak-ecc.pub");
  Bytes bad = wire;
  bad[2] = 0x00, bad[3] = 0x08;  // keyedhash
  EXPECT_NE(parse_public(bad).error().message.find("not RSA or ECC"), std::string::npos);
  bad = wire;
  bad[4] = 0x00, bad[5] = 0x05;  // nameAlg HMAC
  EXPECT_NE(parse_public(bad).error().message.find("nameAlg"), std::string::npos);
  // authPolicy size 0xffff.
  bad = wire;
  bad[10] = 0xff, bad[11] = 0xff;
  EXPECT_NE(parse_public(bad).error().message.find("authPolicy"), std::string::npos);
}

TEST(PublicArea, TemplatesRoundTrip) {
  for (auto prof : {EkProfile::kRsa2048, EkProfile::kEccP256, EkProfile::kEccP384}) {
    const Bytes w = marshal_public(ek_template(prof));
    auto p = parse_public(w);
    ASSERT_TRUE(p.ok()) << ek_profile_name(prof) << ": " << p.error().message;
    EXPECT_EQ(marshal_public(*p), w);
  }
  for (uint16_t t : {alg::kRsa, alg::kEcc}) {
    for (const PublicArea& a : {srk_template(t), ak_template(t), tls_key_template(t)}) {
      auto p = parse_public(marshal_public(a));
      ASSERT_TRUE(p.ok()) << p.error().message;
      EXPECT_EQ(marshal_public(*p), marshal_public(a));
    }
  }
  EXPECT_EQ(ek_certificate_index(EkProfile::kEccP256), 0x01c0000au);
  EXPECT_EQ(parse_ek_profile("ecc-p384").value(), EkProfile::kEccP384);
  EXPECT_FALSE(parse_ek_profile("dsa").ok());
}

// ---- AK attributes ----

TEST(AkAttributes, AcceptsTheTpmsAksAndRefusesEachMissingAttribute) {
  auto ak = parse_public(data_file("ak-rsa.pub"));
  ASSERT_TRUE(ak.ok());
  EXPECT_TRUE(check_ak_attributes(*ak).ok());
  EXPECT_TRUE(check_ak_attributes(*parse_public(data_file("ak-ecc.pub"))).ok());
  struct Case {
    uint32_t clear;
    const char* says;
  };
  for (const Case& c : {Case{attr::kFixedTpm, "fixedTPM"}, Case{attr::kFixedParent, "fixedParent"},
                        Case{attr::kSensitiveDataOrigin, "sensitiveDataOrigin"}, Case{attr::kRestricted, "restricted"},
                        Case{attr::kSign, "sign"}}) {
    PublicArea p = *ak;
    p.attributes &= ~c.clear;
    auto r = check_ak_attributes(p);
    ASSERT_FALSE(r.ok()) << c.says;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
  PublicArea p = *ak;
  p.attributes |= attr::kDecrypt;
  EXPECT_FALSE(check_ak_attributes(p).ok());
  p = *ak;
  p.scheme_hash = alg::kSha1;
  EXPECT_FALSE(check_ak_attributes(p).ok());
}

TEST(AkAttributes, RefusesTheKeyTpm2CreateMadeWithoutFixedTpm) {
  auto p = parse_public(data_file("ak-no-fixedtpm.pub"));
  ASSERT_TRUE(p.ok());
  auto r = check_ak_attributes(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("fixedTPM is not set"), std::string::npos);
  EXPECT_FALSE(check_ak_attributes(*parse_public(data_file("ek-rsa2048.pub"))).ok());
}

// ---- quotes ----

struct QuoteCase {
  const char* ak;
  const char* attest;
  const char* sig;
  const char* nonce;
};
const QuoteCase kRsaQuote{"ak-rsa.pub", "quote-rsa.attest", "quote-rsa.sig", "0011223344"};
const QuoteCase kEccQuote{"ak-ecc.pub", "quote-ecc.attest", "quote-ecc.sig", "00112233"};

TEST(Quote, VerifiesTheTpmsQuotes) {
  for (const QuoteCase& c : {kRsaQuote, kEccQuote}) {
    auto ak = parse_public(data_file(c.ak));
    ASSERT_TRUE(ak.ok());
    auto q = verify_quote(*ak, data_file(c.attest), data_file(c.sig), hex(c.nonce));
    ASSERT_TRUE(q.ok()) << c.ak << ": " << q.error().message;
    EXPECT_EQ(q->magic, kTpmGeneratedValue);
    EXPECT_EQ(q->type, kStAttestQuote);
    ASSERT_EQ(q->pcr_select.size(), 1u);
    EXPECT_EQ(q->pcr_select[0].hash, alg::kSha256);
    EXPECT_EQ(q->pcr_select[0].pcrs, (std::vector<unsigned>{0, 1, 7}));
    // swtpm's PCRs 0, 1 and 7 were never extended: three blocks of zeros.
    EXPECT_EQ(q->pcr_digest, *pcr_composite_digest(alg::kSha256, {Bytes(32, 0), Bytes(32, 0), Bytes(32, 0)}));
  }
}

TEST(Quote, RefusesWrongNonceTamperingAndAnotherAk) {
  auto ak = *parse_public(data_file("ak-rsa.pub"));
  const Bytes attest = data_file("quote-rsa.attest"), sig = data_file("quote-rsa.sig");
  auto r = verify_quote(ak, attest, sig, hex("0011223345"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nonce"), std::string::npos);
  for (size_t i = 0; i < attest.size(); ++i) {
    Bytes bad = attest;
    bad[i] ^= 0x01;
    EXPECT_FALSE(verify_quote(ak, bad, sig, hex("0011223344")).ok()) << "flipped byte " << i;
  }
  Bytes bad_sig = sig;
  bad_sig.back() ^= 0x80;
  EXPECT_FALSE(verify_quote(ak, attest, bad_sig, hex("0011223344")).ok());
  // The ECC AK's quote checked with the RSA AK, and the RSA quote with the ECC AK.
  EXPECT_FALSE(verify_quote(ak, data_file("quote-ecc.attest"), data_file("quote-ecc.sig"), hex("00112233")).ok());
  EXPECT_FALSE(verify_quote(*parse_public(data_file("ak-ecc.pub")), attest, sig, hex("0011223344")).ok());
  // An AK that is not one.
  auto loose = *parse_public(data_file("ak-no-fixedtpm.pub"));
  EXPECT_FALSE(verify_quote(loose, attest, sig, hex("0011223344")).ok());
}

TEST(Quote, ParsersRefuseTruncationTrailingBytesAndWrongHeaders) {
  for (const QuoteCase& c : {kRsaQuote, kEccQuote}) {
    const Bytes attest = data_file(c.attest), sig = data_file(c.sig);
    ASSERT_TRUE(parse_attest(attest).ok());
    ASSERT_TRUE(parse_signature(sig).ok());
    for (size_t n = 0; n < attest.size(); ++n) EXPECT_FALSE(parse_attest(ByteView(attest.data(), n)).ok()) << n;
    for (size_t n = 0; n < sig.size(); ++n) EXPECT_FALSE(parse_signature(ByteView(sig.data(), n)).ok()) << n;
    Bytes longer = attest;
    longer.push_back(0);
    EXPECT_FALSE(parse_attest(longer).ok());
    longer = sig;
    longer.push_back(0);
    EXPECT_FALSE(parse_signature(longer).ok());
    Bytes bad = attest;
    bad[0] = 0;
    EXPECT_NE(parse_attest(bad).error().message.find("magic"), std::string::npos);
    bad = attest;
    bad[5] = 0x17;  // TPM_ST_ATTEST_CERTIFY
    EXPECT_NE(parse_attest(bad).error().message.find("TPM_ST_ATTEST_QUOTE"), std::string::npos);
  }
}

// ---- MakeCredential, opened again the way the TPM does ----

// What TPM2_ActivateCredential does after recovering the seed: check the HMAC over encIdentity
// and the name, decrypt, unwrap the TPM2B_DIGEST.
Bytes open_credential(const PublicArea& ek, const Secret& seed, const Bytes& name, const Credential& c) {
  WireReader id(c.id_object);
  Bytes body = *id.tpm2b("id", 0xffff);
  WireReader in(body);
  const Bytes mac = *in.tpm2b("hmac", 64);
  const Bytes enc = *in.raw("enc", in.remaining());
  auto hmac_key = kdfa(ek.name_alg, seed.bytes(), "INTEGRITY", {}, {}, 8 * digest_size(ek.name_alg));
  Bytes msg = enc;
  msg.insert(msg.end(), name.begin(), name.end());
  Bytes expect(EVP_MAX_MD_SIZE);
  size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, openssl_digest_name(ek.name_alg), nullptr, hmac_key->bytes().data(), hmac_key->size(),
            msg.data(), msg.size(), expect.data(), expect.size(), &len);
  expect.resize(len);
  EXPECT_EQ(mac, expect) << "outer HMAC";
  auto sym = kdfa(ek.name_alg, seed.bytes(), "STORAGE", name, {}, ek.sym_bits);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const uint8_t iv[16] = {};
  EVP_DecryptInit_ex(ctx, ek.sym_bits == 128 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128(), nullptr, sym->bytes().data(), iv);
  Bytes plain(enc.size());
  int outl = 0;
  EVP_DecryptUpdate(ctx, plain.data(), &outl, enc.data(), static_cast<int>(enc.size()));
  EVP_CIPHER_CTX_free(ctx);
  WireReader p(plain);
  auto secret = p.tpm2b("secret", 64);
  EXPECT_TRUE(secret.ok());
  EXPECT_EQ(p.remaining(), 0u);
  return secret.ok() ? *secret : Bytes{};
}

EVP_PKEY* generate(const char* type, const char* param) {
  EVP_PKEY* k = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY_keygen_init(ctx);
  if (std::string(type) == "RSA") {
    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048);
  } else {
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(param), 0),
                           OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX_set_params(ctx, params);
  }
  EVP_PKEY_generate(ctx, &k);
  EVP_PKEY_CTX_free(ctx);
  return k;
}

TEST(MakeCredential, RsaEkOpensWithItsPrivateKey) {
  EVP_PKEY* priv = generate("RSA", nullptr);
  ASSERT_NE(priv, nullptr);
  auto ek = ek_public_from_key(EkProfile::kRsa2048, priv);
  ASSERT_TRUE(ek.ok()) << ek.error().message;
  const Bytes name = *object_name(*parse_public(data_file("ak-rsa.pub")));
  const Secret secret(hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
  auto c = make_credential(*ek, name, secret);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(check_credential(*c).ok());
  ASSERT_EQ(c->encrypted_secret.size(), 2u + 256u);
  // The seed, as the TPM recovers it: RSA-OAEP, SHA-256, label "IDENTITY\0".
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, priv, nullptr);
  EVP_PKEY_decrypt_init(ctx);
  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
  EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA256", nullptr);
  EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA256", nullptr);
  EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup("IDENTITY", 9), 9);
  Bytes seed(256);
  size_t len = seed.size();
  ASSERT_EQ(EVP_PKEY_decrypt(ctx, seed.data(), &len, c->encrypted_secret.data() + 2, 256), 1);
  seed.resize(len);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(priv);
  EXPECT_EQ(seed.size(), 32u);
  EXPECT_EQ(open_credential(*ek, Secret(seed), name, *c), bytes_of(secret));
  // The file form round-trips.
  auto back = parse_credential_file(credential_file(*c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->id_object, c->id_object);
  EXPECT_EQ(back->encrypted_secret, c->encrypted_secret);
}

TEST(MakeCredential, EccEkOpensWithEcdh) {
  for (auto [profile, group] : {std::pair{EkProfile::kEccP256, "prime256v1"}, std::pair{EkProfile::kEccP384, "secp384r1"}}) {
    EVP_PKEY* priv = generate("EC", group);
    ASSERT_NE(priv, nullptr);
    auto ek = ek_public_from_key(profile, priv);
    ASSERT_TRUE(ek.ok()) << ek.error().message;
    const Bytes name = *object_name(*parse_public(data_file("ak-ecc.pub")));
    const Secret secret(std::string_view("a secret of the conductor"));
    auto c = make_credential(*ek, name, secret);
    ASSERT_TRUE(c.ok()) << c.error().message;
    // The encrypted secret is the ephemeral point; Z = d_EK * Q_e, seed = KDFe.
    const size_t n = profile == EkProfile::kEccP256 ? 32 : 48;
    WireReader r(c->encrypted_secret);
    const Bytes point_bytes = *r.tpm2b("secret", 0xffff);
    WireReader point(point_bytes);
    PublicArea eph = *ek;
    eph.ecc_x = *point.tpm2b("x", 128);
    eph.ecc_y = *point.tpm2b("y", 128);
    ASSERT_EQ(eph.ecc_x.size(), n);
    auto eph_key = public_key(eph);
    ASSERT_TRUE(eph_key.ok());
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, priv, nullptr);
    EVP_PKEY_derive_init(ctx);
    EVP_PKEY_derive_set_peer(ctx, eph_key->get());
    Bytes z(n);
    size_t zl = z.size();
    ASSERT_EQ(EVP_PKEY_derive(ctx, z.data(), &zl), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(priv);
    auto seed = kdfe(ek->name_alg, z, "IDENTITY", eph.ecc_x, ek->ecc_x, 8 * digest_size(ek->name_alg));
    ASSERT_TRUE(seed.ok());
    EXPECT_EQ(open_credential(*ek, *seed, name, *c), bytes_of(secret)) << ek_profile_name(profile);
  }
}

TEST(MakeCredential, RefusesBadInputs) {
  auto ek = *parse_public(data_file("ek-rsa2048.pub"));
  const Bytes name = *object_name(*parse_public(data_file("ak-rsa.pub")));
  EXPECT_FALSE(make_credential(ek, name, Secret()).ok());
  EXPECT_FALSE(make_credential(ek, name, Secret(Bytes(33, 1))).ok());  // longer than SHA-256
  EXPECT_FALSE(make_credential(ek, Bytes(name.begin(), name.end() - 1), Secret(Bytes(16, 1))).ok());
  EXPECT_FALSE(make_credential(*parse_public(data_file("ak-rsa.pub")), name, Secret(Bytes(16, 1))).ok());
  EXPECT_TRUE(make_credential(ek, name, Secret(Bytes(32, 1))).ok());
  // Credential files: wrong magic, version, truncation, trailing bytes.
  auto c = *make_credential(ek, name, Secret(Bytes(32, 1)));
  const Bytes file = credential_file(c);
  for (size_t n = 0; n < file.size(); ++n) EXPECT_FALSE(parse_credential_file(ByteView(file.data(), n)).ok()) << n;
  Bytes bad = file;
  bad[0] = 0;
  EXPECT_FALSE(parse_credential_file(bad).ok());
  bad = file;
  bad[7] = 2;
  EXPECT_FALSE(parse_credential_file(bad).ok());
  bad = file;
  bad.push_back(0);
  EXPECT_FALSE(parse_credential_file(bad).ok());
}

}  // namespace
}  // namespace sedge::onboarding

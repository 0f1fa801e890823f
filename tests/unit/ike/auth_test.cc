// Certificate authentication: the RFC 7427 AlgorithmIdentifier blobs, signatures made and
// checked with each method, ID payloads against certificates, chain verification failures, and
// the whole IKE_AUTH check with CERT payloads. The PKI is made here with OpenSSL.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "ike/auth.h"
#include "ike/certs.h"

namespace sedge::ike {
namespace {

Bytes hex(std::string_view h) {
  Bytes out;
  for (size_t i = 0; i + 1 < h.size();) {
    if (h[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

using Key = std::shared_ptr<EVP_PKEY>;
Key ec_key(const char* curve) { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve), EVP_PKEY_free); }
Key rsa_key(size_t bits = 2048) { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits), EVP_PKEY_free); }

struct Issued {
  Certificate cert;
  Key key;
};

void add_ext(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(e, nullptr) << value;
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

// A certificate for `key` named `subject` (e.g. "CN=pop1,O=Example"), signed by `issuer`
// (itself when null), valid from `from_days` to `to_days` around now.
Issued issue(const std::string& subject, Key key, const Issued* issuer, const char* sans, bool ca, long from_days = -1,
             long to_days = 30) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
  auto name = encode_id_data(kIdDerAsn1Dn, subject);
  const unsigned char* p = name->data();
  X509_NAME* n = d2i_X509_NAME(nullptr, &p, static_cast<long>(name->size()));
  X509_set_subject_name(x, n);
  X509_NAME_free(n);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert.get()) : X509_get_subject_name(x));
  X509_set_pubkey(x, key.get());
  X509* signer = issuer ? issuer->cert.get() : x;
  add_ext(x, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  add_ext(x, signer, NID_subject_key_identifier, "hash");
  if (ca) add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (sans) add_ext(x, signer, NID_subject_alt_name, sans);
  X509_sign(x, issuer ? issuer->key.get() : key.get(), EVP_sha256());
  unsigned char* der = nullptr;
  const int len = i2d_X509(x, &der);
  auto cert = Certificate::from_der(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  X509_free(x);
  return {std::move(*cert), std::move(key)};
}

PrivateKey private_key(const Key& k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(b, &data);
  Secret pem(std::string_view(data, static_cast<size_t>(len)));
  BIO_free(b);
  return *PrivateKey::from_pem(pem);
}

TEST(AuthAlgorithms, Rfc7427AppendixABlobs) {
  EXPECT_EQ(algorithm_identifier(SignatureScheme::rsa_pkcs1, kHashSha256), hex("300d 0609 2a864886f70d01010b 0500"));
  EXPECT_EQ(algorithm_identifier(SignatureScheme::rsa_pkcs1, kHashSha384), hex("300d 0609 2a864886f70d01010c 0500"));
  EXPECT_EQ(algorithm_identifier(SignatureScheme::rsa_pkcs1, kHashSha512), hex("300d 0609 2a864886f70d01010d 0500"));
  EXPECT_EQ(algorithm_identifier(SignatureScheme::ecdsa, kHashSha256), hex("300a 0608 2a8648ce3d040302"));
  EXPECT_EQ(algorithm_identifier(SignatureScheme::ecdsa, kHashSha384), hex("300a 0608 2a8648ce3d040303"));
  EXPECT_EQ(algorithm_identifier(SignatureScheme::ecdsa, kHashSha512), hex("300a 0608 2a8648ce3d040304"));
  // RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt 32 (RFC 4055 parameters with NULL digest params).
  EXPECT_EQ(algorithm_identifier(SignatureScheme::rsa_pss, kHashSha256),
            hex("3041 0609 2a864886f70d01010a 3034 a00f 300d 0609 608648016503040201 0500 a11c 301a 0609 2a864886f70d010108 "
                "300d 0609 608648016503040201 0500 a203 020120"));
}

TEST(AuthAlgorithms, EveryBlobParsesBackAndIsCanonicalDer) {
  for (auto scheme : {SignatureScheme::rsa_pkcs1, SignatureScheme::rsa_pss, SignatureScheme::ecdsa}) {
    for (uint16_t h : {kHashSha256, kHashSha384, kHashSha512}) {
      const Bytes blob = algorithm_identifier(scheme, h);
      auto parsed = parse_algorithm_identifier(blob);
      ASSERT_TRUE(parsed) << parsed.error().message;
      EXPECT_EQ(parsed->scheme, scheme);
      EXPECT_EQ(parsed->hash, h);
      if (scheme == SignatureScheme::rsa_pss) {
        EXPECT_EQ(parsed->mgf1_hash, h);
        EXPECT_EQ(parsed->salt_length, static_cast<size_t>(EVP_MD_get_size(h == kHashSha256 ? EVP_sha256() : h == kHashSha384 ? EVP_sha384() : EVP_sha512())));
      }
      // OpenSSL re-encodes what it decoded to the same bytes: the blob is DER.
      const unsigned char* p = blob.data();
      X509_ALGOR* a = d2i_X509_ALGOR(nullptr, &p, static_cast<long>(blob.size()));
      ASSERT_NE(a, nullptr);
      unsigned char* der = nullptr;
      const int len = i2d_X509_ALGOR(a, &der);
      EXPECT_EQ(Bytes(der, der + len), blob);
      OPENSSL_free(der);
      X509_ALGOR_free(a);
    }
  }
}

TEST(AuthAlgorithms, RefusesWeakAndUnknownAlgorithms) {
  EXPECT_FALSE(parse_algorithm_identifier(hex("300d 0609 2a864886f70d010105 0500")));  // sha1WithRSAEncryption
  EXPECT_FALSE(parse_algorithm_identifier(hex("300d 0609 2a864886f70d010104 0500")));  // md5WithRSAEncryption
  EXPECT_FALSE(parse_algorithm_identifier(hex("300b 0609 2a864886f70d01010a")));       // PSS, SHA-1 defaults
  EXPECT_FALSE(parse_algorithm_identifier(hex("300d 0609 2a864886f70d01010a 3000")));  // PSS, empty params
  EXPECT_FALSE(parse_algorithm_identifier(hex("300a 0608 2a8648ce3d040302 00")));      // trailing byte
  EXPECT_FALSE(parse_algorithm_identifier(hex("300a 0608 2a8648ce3d0403")));           // truncated
  EXPECT_FALSE(parse_algorithm_identifier({}));
}

TEST(AuthAlgorithms, SignatureHashNotify) {
  EXPECT_EQ(signature_hashes_notify_data(), hex("0002 0003 0004"));
  std::vector<Payload> payloads = {{kNotify, false, encode_notify({0, {}, kNotifySignatureHashAlgorithms, hex("0002 0005")})}};
  EXPECT_EQ(peer_signature_hashes(payloads), (std::vector<uint16_t>{2, 5}));
  EXPECT_TRUE(peer_signature_hashes({}).empty());
}

struct SignCase {
  const char* name;
  const char* kind;  // "P-256", "P-384", "RSA"
  bool peer_knows_7427;
  bool pss;
  uint8_t method;
};

class Signatures : public ::testing::TestWithParam<SignCase> {};

TEST_P(Signatures, SignVerifyAndTamper) {
  const SignCase& c = GetParam();
  static Key rsa = rsa_key();
  Key key = std::string(c.kind) == "RSA" ? rsa : ec_key(c.kind);
  const PrivateKey pk = private_key(key);
  const Bytes octets = hex("0102030405060708090a0b0c0d0e0f10");
  const std::vector<uint16_t> peer = c.peer_knows_7427 ? std::vector<uint16_t>{kHashSha256, kHashSha384, kHashSha512} : std::vector<uint16_t>{};
  auto body = sign_auth(pk, octets, peer, c.pss);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ((*body)[0], c.method);
  if (c.method == kAuthDigitalSignature) {
    auto alg = parse_algorithm_identifier(std::span(*body).subspan(5, (*body)[4]));
    ASSERT_TRUE(alg);
    EXPECT_EQ(alg->scheme, std::string(c.kind) == "RSA" ? (c.pss ? SignatureScheme::rsa_pss : SignatureScheme::rsa_pkcs1)
                                                         : SignatureScheme::ecdsa);
  }
  EXPECT_TRUE(verify_auth(key.get(), *body, octets).ok());
  Bytes other = octets;
  other[3] ^= 1;
  EXPECT_FALSE(verify_auth(key.get(), *body, other).ok());
  Bytes bad = *body;
  bad.back() ^= 0x40;
  EXPECT_FALSE(verify_auth(key.get(), bad, octets).ok());
  Key stranger = std::string(c.kind) == "RSA" ? rsa_key() : ec_key(c.kind);
  EXPECT_FALSE(verify_auth(stranger.get(), *body, octets).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Methods, Signatures,
    ::testing::Values(SignCase{"ecdsa256_rfc7427", "P-256", true, true, kAuthDigitalSignature},
                      SignCase{"ecdsa384_rfc7427", "P-384", true, true, kAuthDigitalSignature},
                      SignCase{"rsa_pss", "RSA", true, true, kAuthDigitalSignature},
                      SignCase{"rsa_pkcs1_rfc7427", "RSA", true, false, kAuthDigitalSignature},
                      SignCase{"ecdsa256_classic", "P-256", false, true, kAuthEcdsaP256},
                      SignCase{"ecdsa384_classic", "P-384", false, true, kAuthEcdsaP384},
                      SignCase{"ecdsa521_classic", "P-521", false, true, kAuthEcdsaP521},
                      SignCase{"rsa_classic", "RSA", false, true, kAuthRsaSignature}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(Signatures, MethodAndKeyMustAgree) {
  Key ec = ec_key("P-256"), rsa = rsa_key();
  const Bytes octets = hex("00112233");
  auto ec_sig = sign_auth(private_key(ec), octets, {}, true);  // method 9
  ASSERT_TRUE(ec_sig);
  EXPECT_FALSE(verify_auth(rsa.get(), *ec_sig, octets).ok());
  Key p384 = ec_key("P-384");
  EXPECT_FALSE(verify_auth(p384.get(), *ec_sig, octets).ok());
  auto rsa_sig = sign_auth(private_key(rsa), octets, {kHashSha256}, true);
  ASSERT_TRUE(rsa_sig);
  EXPECT_FALSE(verify_auth(ec.get(), *rsa_sig, octets).ok());
  // A peer that takes only SHA2-512 cannot get a P-256 signature under RFC 7427.
  EXPECT_FALSE(sign_auth(private_key(ec), octets, {kHashSha512}, true).ok());
  // A PSK AUTH where a signature is expected.
  EXPECT_FALSE(verify_auth(ec.get(), encode_typed(kAuthSharedKeyMic, Bytes(32, 1)), octets).ok());
}

TEST(PrivateKeys, RefusesWhatIsNotAUsableKey) {
  EXPECT_FALSE(PrivateKey::from_pem(Secret(std::string_view("not a key"))).ok());
  auto small = PrivateKey::from_pem(Secret(std::string_view("")));
  EXPECT_FALSE(small.ok());
  Key rsa1024 = rsa_key(1024);
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, rsa1024.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(b, &data);
  auto weak = PrivateKey::from_pem(Secret(std::string_view(data, static_cast<size_t>(len))));
  BIO_free(b);
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.error().message.find("1024 bits"), std::string::npos);
}

// ---- Identities ----

struct IdCase {
  const char* name;
  uint8_t type;
  const char* id;  // as configured (encode_id_data), or "skid" for the certificate's own key ID
  bool matches;
};

class IdMatching : public ::testing::TestWithParam<IdCase> {};

TEST_P(IdMatching, Table) {
  static const Issued ca = issue("CN=Test CA,O=Example", ec_key("P-256"), nullptr, nullptr, true);
  static const Issued pop = issue("CN=pop1.example.net,O=Example,C=CH", ec_key("P-256"), &ca,
                                  "DNS:pop1.example.net,email:site1@example.com,IP:192.0.2.2,IP:2001:db8::2", false);
  const IdCase& c = GetParam();
  Bytes data;
  if (std::string(c.id) == "skid") {
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(pop.cert.get());
    data.assign(ASN1_STRING_get0_data(ski), ASN1_STRING_get0_data(ski) + ASN1_STRING_length(ski));
  } else {
    auto encoded = encode_id_data(c.type, c.id);
    ASSERT_TRUE(encoded) << encoded.error().message;
    data = *encoded;
  }
  auto st = id_matches_certificate(pop.cert, c.type, data);
  EXPECT_EQ(st.ok(), c.matches) << (st ? "" : st.error().message);
}

INSTANTIATE_TEST_SUITE_P(
    Ids, IdMatching,
    ::testing::Values(IdCase{"fqdn", kIdFqdn, "pop1.example.net", true},
                      IdCase{"fqdn_case", kIdFqdn, "POP1.Example.NET", true},
                      IdCase{"fqdn_other", kIdFqdn, "pop2.example.net", false},
                      IdCase{"fqdn_suffix", kIdFqdn, "example.net", false},
                      IdCase{"rfc822", kIdRfc822, "site1@example.com", true},
                      IdCase{"rfc822_other", kIdRfc822, "site2@example.com", false},
                      IdCase{"rfc822_is_not_dns", kIdFqdn, "site1@example.com", false},
                      IdCase{"fqdn_is_not_email", kIdRfc822, "pop1.example.net", false},
                      IdCase{"ipv4", kIdIpv4, "192.0.2.2", true},
                      IdCase{"ipv4_other", kIdIpv4, "192.0.2.3", false},
                      IdCase{"ipv6", kIdIpv6, "2001:db8::2", true},
                      IdCase{"ipv6_other", kIdIpv6, "2001:db8::3", false},
                      IdCase{"dn", kIdDerAsn1Dn, "CN=pop1.example.net, O=Example, C=CH", true},
                      IdCase{"dn_order", kIdDerAsn1Dn, "C=CH, O=Example, CN=pop1.example.net", false},
                      IdCase{"dn_other_cn", kIdDerAsn1Dn, "CN=pop2.example.net, O=Example, C=CH", false},
                      IdCase{"dn_missing_rdn", kIdDerAsn1Dn, "CN=pop1.example.net, O=Example", false},
                      IdCase{"key_id", kIdKeyId, "skid", true},
                      IdCase{"key_id_other", kIdKeyId, "0123", false}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(IdMatching, MalformedIds) {
  const Issued ca = issue("CN=Test CA", ec_key("P-256"), nullptr, nullptr, true);
  const Issued pop = issue("CN=pop1", ec_key("P-256"), &ca, "IP:192.0.2.2", false);
  EXPECT_FALSE(id_matches_certificate(pop.cert, kIdIpv4, hex("c00002")).ok());  // 3 bytes
  EXPECT_FALSE(id_matches_certificate(pop.cert, kIdDerAsn1Dn, hex("3003")).ok());
  EXPECT_FALSE(id_matches_certificate(pop.cert, 4, hex("c0000200")).ok());  // an IPv4 range: names no certificate
  const Issued bare = issue("CN=bare", ec_key("P-256"), &ca, nullptr, false);
  EXPECT_FALSE(id_matches_certificate(bare.cert, kIdFqdn, Bytes{'b', 'a', 'r', 'e'}).ok());  // CN is not a SAN
  EXPECT_FALSE(encode_id_data(kIdIpv4, "192.0.2").ok());
  EXPECT_FALSE(encode_id_data(kIdDerAsn1Dn, "no equals sign").ok());
  EXPECT_FALSE(encode_id_data(kIdDerAsn1Dn, "XYZZY=1").ok());
}

TEST(IdMatching, ConfiguredIdentityAgainstReceivedPayload) {
  auto dn = encode_id_data(kIdDerAsn1Dn, "CN=pop1, O=Example");
  EXPECT_TRUE(id_payload_is(kIdDerAsn1Dn, "CN=pop1,O=Example", encode_typed(kIdDerAsn1Dn, *dn)));
  EXPECT_FALSE(id_payload_is(kIdDerAsn1Dn, "CN=pop2,O=Example", encode_typed(kIdDerAsn1Dn, *dn)));
  EXPECT_TRUE(id_payload_is(kIdIpv4, "192.0.2.2", encode_typed(kIdIpv4, hex("c0000202"))));
  EXPECT_FALSE(id_payload_is(kIdFqdn, "192.0.2.2", encode_typed(kIdIpv4, hex("c0000202"))));
  EXPECT_EQ(describe_id(encode_typed(kIdIpv4, hex("c0000202"))), "192.0.2.2");
  EXPECT_EQ(describe_id(encode_typed(kIdDerAsn1Dn, *dn)), "O=Example,CN=pop1");
}

// ---- Chains ----

TEST(Chains, VerifiesAndRefuses) {
  const Issued root = issue("CN=Root CA", ec_key("P-256"), nullptr, nullptr, true);
  const Issued sub = issue("CN=Sub CA", ec_key("P-256"), &root, nullptr, true);
  const Issued leaf = issue("CN=leaf", ec_key("P-256"), &sub, "DNS:leaf.example.net", false);
  const Issued direct = issue("CN=direct", rsa_key(), &root, "DNS:direct.example.net", false);
  const Issued rogue_ca = issue("CN=Root CA", ec_key("P-256"), nullptr, nullptr, true);  // same name, other key
  const Issued rogue = issue("CN=rogue", ec_key("P-256"), &rogue_ca, "DNS:leaf.example.net", false);
  const Issued expired = issue("CN=expired", ec_key("P-256"), &root, nullptr, false, -30, -1);
  const Issued future = issue("CN=future", ec_key("P-256"), &root, nullptr, false, 2, 30);
  const Issued not_ca = issue("CN=not a CA", ec_key("P-256"), &root, nullptr, false);
  const Issued under_leaf = issue("CN=under a leaf", ec_key("P-256"), &not_ca, nullptr, false);
  auto trust = TrustStore::from_certificates({root.cert});
  ASSERT_TRUE(trust);
  EXPECT_TRUE(trust->verify(direct.cert, {}).ok());
  EXPECT_TRUE(trust->verify(leaf.cert, {sub.cert}).ok());
  auto missing = trust->verify(leaf.cert, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("unable to get local issuer"), std::string::npos) << missing.error().message;
  auto untrusted = trust->verify(rogue.cert, {rogue_ca.cert});
  ASSERT_FALSE(untrusted.ok());
  auto old = trust->verify(expired.cert, {});
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.error().message.find("expired"), std::string::npos) << old.error().message;
  auto early = trust->verify(future.cert, {});
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.error().message.find("not yet valid"), std::string::npos) << early.error().message;
  EXPECT_FALSE(trust->verify(under_leaf.cert, {not_ca.cert}).ok());
  // CERTREQ: SHA-1 of the CA's whole SubjectPublicKeyInfo (RFC 7296 3.7), not of the key's bits.
  unsigned char* spki = nullptr;
  const int spki_len = i2d_PUBKEY(X509_get0_pubkey(root.cert.get()), &spki);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(spki, static_cast<size_t>(spki_len), md, &n, EVP_sha1(), nullptr);
  OPENSSL_free(spki);
  EXPECT_EQ(trust->certreq_hashes(), Bytes(md, md + n));
  X509_pubkey_digest(root.cert.get(), EVP_sha1(), md, &n);
  EXPECT_NE(trust->certreq_hashes(), Bytes(md, md + n));
  EXPECT_EQ(certreq_payload(*trust).body[0], kCertX509Signature);
}

// ---- IKE_AUTH end to end (both sides' functions, no network) ----

TEST(IkeAuth, CertificatesBothWaysAndRefusals) {
  const Issued ca = issue("CN=Lab CA,O=Example", ec_key("P-256"), nullptr, nullptr, true);
  const Issued site = issue("CN=site1,O=Example", ec_key("P-256"), &ca, "email:site1@example.com", false);
  const Issued pop = issue("CN=pop1.example.net,O=Example", rsa_key(), &ca, "DNS:pop1.example.net", false);
  const Issued other_ca = issue("CN=Other CA", ec_key("P-256"), nullptr, nullptr, true);
  const Issued stranger = issue("CN=site1,O=Example", ec_key("P-256"), &other_ca, "email:site1@example.com", false);
  auto spec = [&](const Issued& me) {
    auto pk = std::make_shared<PubkeyAuth>();
    pk->key = private_key(me.key);
    pk->chain = {me.cert};
    pk->trust = *TrustStore::from_certificates({ca.cert});
    TunnelSpec t;
    t.pubkey = pk;
    return t;
  };
  const TunnelSpec site_t = spec(site), pop_t = spec(pop), stranger_t = spec(stranger);
  const Bytes message = hex("aabbccddeeff00112233"), nonce = Bytes(32, 7);
  const PrfKey sk_p(Secret(Bytes(32, 9)));
  const Bytes site_id = encode_typed(kIdRfc822, *encode_id_data(kIdRfc822, "site1@example.com"));
  const Bytes pop_id = encode_typed(kIdFqdn, *encode_id_data(kIdFqdn, "pop1.example.net"));
  const std::vector<uint16_t> hashes = {kHashSha256, kHashSha384, kHashSha512};
  auto inner = [](const LocalAuth& a) {
    std::vector<Payload> p = a.certs;
    p.push_back(a.auth);
    return p;
  };
  for (const auto& peer : {std::vector<uint16_t>{}, hashes}) {
    auto a = build_auth(site_t, message, nonce, sk_p, site_id, peer);
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_EQ(a->certs.size(), 1u);
    EXPECT_TRUE(verify_peer_auth(pop_t, inner(*a), message, nonce, sk_p, site_id).ok());
    auto b = build_auth(pop_t, message, nonce, sk_p, pop_id, peer);
    ASSERT_TRUE(b);
    auto st = verify_peer_auth(site_t, inner(*b), message, nonce, sk_p, pop_id);
    EXPECT_TRUE(st.ok()) << st.error().message;
  }
  auto good = *build_auth(site_t, message, nonce, sk_p, site_id, hashes);
  // Another message, nonce or SK_p: the signature does not verify.
  auto st = verify_peer_auth(pop_t, inner(good), hex("aabbccddeeff00112234"), nonce, sk_p, site_id);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("does not verify"), std::string::npos) << st.error().message;
  // Another identity than the certificate's.
  const Bytes other_id = encode_typed(kIdRfc822, *encode_id_data(kIdRfc822, "site2@example.com"));
  auto signed_other = *build_auth(site_t, message, nonce, sk_p, other_id, hashes);
  st = verify_peer_auth(pop_t, inner(signed_other), message, nonce, sk_p, other_id);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("no subjectAltName"), std::string::npos) << st.error().message;
  // No certificate.
  st = verify_peer_auth(pop_t, {good.auth}, message, nonce, sk_p, site_id);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("no certificate"), std::string::npos);
  // A certificate from a CA we do not trust, however well signed.
  auto rogue = *build_auth(stranger_t, message, nonce, sk_p, site_id, hashes);
  st = verify_peer_auth(pop_t, inner(rogue), message, nonce, sk_p, site_id);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("does not verify"), std::string::npos) << st.error().message;
  // A CERT payload that is not an X.509 signature certificate.
  std::vector<Payload> bad = inner(good);
  bad[0].body[0] = 12;
  EXPECT_FALSE(verify_peer_auth(pop_t, bad, message, nonce, sk_p, site_id).ok());
  // The peer's CERT payloads are the first certificate (the signer) and its chain.
  std::vector<Payload> swapped = inner(good);
  swapped.insert(swapped.begin(), {kCert, false, Bytes{kCertX509Signature}});
  EXPECT_FALSE(verify_peer_auth(pop_t, swapped, message, nonce, sk_p, site_id).ok());
}

TEST(IkeAuth, PreSharedKeyAndMethodMismatch) {
  const Secret psk(std::string_view("Juniper!1")), other(std::string_view("Juniper!2"));
  TunnelSpec a, b;
  a.psk = &psk;
  b.psk = &other;
  const Bytes message = hex("0102"), nonce = Bytes(16, 1), id = encode_typed(kIdFqdn, Bytes{'x'});
  const PrfKey sk_p(Secret(Bytes(32, 3)));
  auto auth = build_auth(a, message, nonce, sk_p, id, {});
  ASSERT_TRUE(auth);
  EXPECT_TRUE(auth->certs.empty());
  EXPECT_EQ(auth->auth.body[0], kAuthSharedKeyMic);
  EXPECT_TRUE(verify_peer_auth(a, {auth->auth}, message, nonce, sk_p, id).ok());
  EXPECT_FALSE(verify_peer_auth(b, {auth->auth}, message, nonce, sk_p, id).ok());
  // A signature where a PSK is configured.
  Payload sig = auth->auth;
  sig.body[0] = kAuthDigitalSignature;
  EXPECT_FALSE(verify_peer_auth(a, {sig}, message, nonce, sk_p, id).ok());
}

}  // namespace
}  // namespace sedge::ike

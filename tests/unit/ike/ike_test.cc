#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#include <cstring>

#include "common/openssl.h"
#include "ike/crypto.h"
#include "ike/message.h"

namespace sedge::ike {
namespace {

Bytes hex(const std::string& h) {
  Bytes b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}
Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST(IkeCrypto, HmacSha256KnownAnswerRfc4231Case2) {
  EXPECT_EQ(prf(text("Jefe"), text("what do ya want for nothing?")),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
}

TEST(IkeCrypto, PrfPlusChainsAsRfc7296Section213) {
  const Bytes key = text("key"), seed = text("seed");
  const Secret out = prf_plus(key, seed, 80);
  Bytes in1 = seed;
  in1.push_back(1);
  const Bytes t1 = prf(key, in1);
  Bytes in2 = t1;
  in2.insert(in2.end(), seed.begin(), seed.end());
  in2.push_back(2);
  const Bytes t2 = prf(key, in2);
  EXPECT_EQ(Bytes(out.bytes().begin(), out.bytes().begin() + 32), t1);
  EXPECT_EQ(Bytes(out.bytes().begin() + 32, out.bytes().begin() + 64), t2);
  EXPECT_EQ(out.size(), 80u);
}

TEST(IkeCrypto, Group14AgreesAndRejectsBadPublicValues) {
  auto a = KeyExchange::generate(14);
  auto b = KeyExchange::generate(14);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->public_value().size(), 256u);
  auto ab = a->shared_secret(b->public_value());
  auto ba = b->shared_secret(a->public_value());
  ASSERT_TRUE(ab.ok() && ba.ok()) << (ab.ok() ? ba.error().message : ab.error().message);
  EXPECT_TRUE(constant_time_equal(ab->bytes(), ba->bytes()));
  Bytes one(256, 0);
  one[255] = 1;
  EXPECT_FALSE(a->shared_secret(one).ok()) << "y = 1 must be refused";
  EXPECT_FALSE(a->shared_secret(Bytes(256, 0)).ok()) << "y = 0 must be refused";
  EXPECT_FALSE(a->shared_secret(Bytes(255, 7)).ok()) << "wrong length must be refused";
  // RFC 6989 2.2: 1 < y < p - 1. p - 1 and anything at or above p are refused.
  const BignumPtr p(BN_get_rfc3526_prime_2048(nullptr));
  ASSERT_TRUE(p);
  Bytes p_bytes(256);
  ASSERT_EQ(BN_bn2binpad(p.get(), p_bytes.data(), 256), 256);
  Bytes p_minus_1 = p_bytes;
  p_minus_1.back() -= 1;  // p is odd
  EXPECT_FALSE(a->shared_secret(p_minus_1).ok()) << "y = p - 1 must be refused";
  EXPECT_FALSE(a->shared_secret(p_bytes).ok()) << "y = p must be refused";
  EXPECT_FALSE(a->shared_secret(Bytes(256, 0xff)).ok()) << "y > p must be refused";
  Bytes p_minus_2 = p_bytes;
  p_minus_2.back() -= 2;
  EXPECT_TRUE(a->shared_secret(p_minus_2).ok()) << "y = p - 2 is in range";
}

TEST(IkeCrypto, EcpAndCurve25519AgreeAndRefuseBadPoints) {
  for (uint16_t group : {uint16_t{19}, uint16_t{31}}) {
    SCOPED_TRACE(group);
    auto a = KeyExchange::generate(group);
    auto b = KeyExchange::generate(group);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->public_value().size(), group == 19 ? 64u : 32u);
    auto ab = a->shared_secret(b->public_value());
    auto ba = b->shared_secret(a->public_value());
    ASSERT_TRUE(ab.ok() && ba.ok()) << (ab.ok() ? ba.error().message : ab.error().message);
    EXPECT_EQ(ab->size(), 32u);
    EXPECT_TRUE(constant_time_equal(ab->bytes(), ba->bytes()));
  }
  auto ecp = KeyExchange::generate(19);
  Bytes off_curve(64, 1);  // (1...1, 1...1) is not on P-256
  EXPECT_FALSE(ecp->shared_secret(off_curve).ok());
  auto x = KeyExchange::generate(31);
  EXPECT_FALSE(x->shared_secret(Bytes(32, 0)).ok()) << "a low-order point (all-zero result) must be refused";
  EXPECT_FALSE(KeyExchange::generate(2).ok()) << "MODP-1024 is not offered";
}

// RFC 7748 section 6.1: the X25519 primitive KeyExchange uses (OpenSSL's) gives the published
// secret for the published keys.
TEST(IkeCrypto, OpenSslX25519MatchesRfc7748) {
  const Bytes alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const Bytes bob_public = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  EVP_PKEY* a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, alice.data(), alice.size());
  EVP_PKEY* b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, bob_public.data(), bob_public.size());
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(a, nullptr);
  Bytes shared(32);
  size_t len = 32;
  ASSERT_TRUE(EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, b) > 0 && EVP_PKEY_derive(ctx, shared.data(), &len) > 0);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);
  EXPECT_EQ(shared, hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
}

TEST(IkeCrypto, SuitesFromProposals) {
  EXPECT_EQ(*parse_suite("aes128gcm16-prfsha256-modp2048", "aes128gcm16-modp2048"), (Suite{128, 14}));
  Suite s256{256, 31};
  s256.esp_key_bits = 256;
  EXPECT_EQ(*parse_suite("aes256gcm16-prfsha256-curve25519", "aes256gcm16"), s256);
  EXPECT_EQ(*parse_suite("aes128gcm16-prfsha256-ecp256", "aes128gcm16"), (Suite{128, 19}));
  // IKE and ESP are separate now: AES-GCM-128 for IKE, AES-GCM-256 for ESP.
  EXPECT_EQ(parse_suite("aes128gcm16-prfsha256-modp2048", "aes256gcm16")->esp_key_bits, 256);
  EXPECT_EQ(parse_suite("aes256-sha256-modp2048", "aes256gcm16")->encr, kEncrAesCbc);
  EXPECT_NE(parse_suite("aes128gcm16-prfmd5-modp2048", "aes128gcm16").error().message.find("prfmd5"), std::string::npos);
}

TEST(IkeCrypto, KeyDerivationSplitsForAesGcm) {
  const Bytes g(256, 0x11), ni(32, 0x22), nr(32, 0x33);
  const IkeKeys k = derive_ike_keys(Suite{}, g, ni, nr, 0x0102030405060708, 0x1112131415161718);
  EXPECT_EQ(k.sk_d.size(), 32u);
  EXPECT_EQ(k.sk_ei.size(), 20u);
  EXPECT_EQ(k.sk_er.size(), 20u);
  EXPECT_EQ(k.sk_pi.size(), 32u);
  EXPECT_FALSE(constant_time_equal(k.sk_ei.bytes(), k.sk_er.bytes()));
  // SKEYSEED = prf(Ni | Nr, g^ir); the first prf+ block is SK_d's.
  Bytes nonces = ni;
  nonces.insert(nonces.end(), nr.begin(), nr.end());
  const Bytes skeyseed = prf(nonces, g);
  Bytes seed = nonces;
  for (uint64_t spi : {0x0102030405060708ull, 0x1112131415161718ull}) {
    for (int s = 56; s >= 0; s -= 8) seed.push_back(static_cast<uint8_t>(spi >> s));
  }
  seed.push_back(1);
  EXPECT_EQ(Bytes(k.sk_d.bytes().begin(), k.sk_d.bytes().end()), prf(skeyseed, seed));
  const ChildKeys c = derive_child_keys(Suite{}, k.sk_d, ni, nr);
  EXPECT_EQ(c.initiator_to_responder.size(), 20u);
  EXPECT_FALSE(constant_time_equal(c.initiator_to_responder.bytes(), c.responder_to_initiator.bytes()));
}

TEST(IkeCrypto, EncryptedPayloadRoundTripsAndDetectsTampering) {
  const Secret key(std::span<const uint8_t>(hex("000102030405060708090a0b0c0d0e0f10111213")));
  const std::vector<Payload> inner = {{kIdi, false, encode_typed(3, text("site1@example.com"))}, {kNonce, false, Bytes(32, 9)}};
  const Header h{0x1111, 0x2222, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0};
  const Bytes wire = seal(key, h, kIdi, serialize_payloads(inner), 7);
  auto m = parse(wire);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto out = open(key, *m, wire);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].type, kIdi);
  EXPECT_EQ((*out)[1].body, Bytes(32, 9));
  for (size_t at : {size_t{20}, size_t{40}, wire.size() - 1}) {  // header (AAD), ciphertext, ICV
    Bytes bad = wire;
    bad[at] ^= 0x01;
    auto mb = parse(bad);
    if (!mb) continue;  // a flipped header field may already be refused by the codec
    EXPECT_FALSE(open(key, *mb, bad).ok()) << "a flipped bit at " << at << " went unnoticed";
  }
}

TEST(IkeCodec, MessageAndSaRoundTrip) {
  const std::vector<Proposal> props = {{1, 1, {}, {{1, 20, 128}, {2, 5, std::nullopt}, {4, 14, std::nullopt}}},
                                       {2, 3, {1, 2, 3, 4}, {{1, 12, 256}, {3, 12, std::nullopt}, {5, 0, std::nullopt}}}};
  const std::vector<Payload> payloads = {{kSa, false, encode_sa(props)}, {kKe, false, encode_ke(14, Bytes(256, 5))},
                                         {kNonce, false, Bytes(32, 6)}, {kNotify, false, encode_notify({0, {}, kNotifyNatDetectionSourceIp, {1, 2}})}};
  const Bytes wire = serialize({0xabcdef, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, payloads);
  auto m = parse(wire);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->header.spi_i, 0xabcdefu);
  ASSERT_EQ(m->payloads.size(), 4u);
  auto sa = decode_sa(m->find(kSa)->body);
  ASSERT_TRUE(sa.ok());
  ASSERT_EQ(sa->size(), 2u);
  EXPECT_EQ((*sa)[0].transforms, props[0].transforms);
  EXPECT_EQ((*sa)[1].spi, props[1].spi);
  EXPECT_EQ((*sa)[1].transforms, props[1].transforms);
  auto n = decode_notify(m->find(kNotify)->body);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->type, kNotifyNatDetectionSourceIp);
  EXPECT_EQ(serialize(m->header, m->payloads), wire);
  TrafficSelector ts;
  std::memcpy(ts.start, Bytes{10, 99, 99, 0}.data(), 4);
  std::memcpy(ts.end, Bytes{10, 99, 99, 255}.data(), 4);
  auto back = decode_ts(encode_ts({ts}));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(std::memcmp(back->front().end, ts.end, 4), 0);
}

struct Malformed {
  const char* name;
  Bytes wire;
  const char* error;
};

Bytes valid() {
  return serialize({1, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, {{kNonce, false, Bytes(16, 1)}});
}
Bytes with(Bytes b, size_t at, uint8_t v) {
  b[at] = v;
  return b;
}

TEST(IkeCodec, MalformedMessagesAreRefusedWithAReason) {
  Bytes truncated_payload = valid();
  truncated_payload.resize(truncated_payload.size() - 4);
  truncated_payload[27] = static_cast<uint8_t>(truncated_payload.size());
  Bytes critical = serialize({1, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, {{200, true, Bytes(4, 0)}});
  Bytes noncritical = serialize({1, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, {{200, false, Bytes(4, 0)}});
  Bytes trailing = valid();
  trailing.push_back(0);
  trailing[27] = static_cast<uint8_t>(trailing.size());
  const Malformed cases[] = {
      {"empty", {}, "shorter than the IKE header"},
      {"short_header", Bytes(20, 1), "shorter than the IKE header"},
      {"version_3", with(valid(), 17, 0x30), "major version 3"},
      {"length_mismatch", with(valid(), 27, 0xff), "header length"},
      {"zero_spi", with(with(valid(), 7, 0), 0, 0), "initiator SPI is zero"},
      {"payload_past_end", with(valid(), 31, 0xff), "payload length"},
      {"payload_length_below_header", with(valid(), 31, 2), "payload length 2"},
      {"truncated_payload", truncated_payload, "payload length"},
      {"unknown_critical", critical, "unsupported critical payload 200"},
      {"trailing_bytes", trailing, "trailing bytes"},
      {"oversized", Bytes(70000, 1), "larger than 65535"},
  };
  for (const auto& c : cases) {
    auto m = parse(c.wire);
    ASSERT_FALSE(m.ok()) << c.name;
    EXPECT_NE(m.error().message.find(c.error), std::string::npos) << c.name << ": " << m.error().message;
  }
  auto skipped = parse(noncritical);
  ASSERT_TRUE(skipped.ok()) << "an unknown non-critical payload is skipped";
  EXPECT_TRUE(skipped->payloads.empty());
  EXPECT_FALSE(decode_sa(Bytes{0, 0, 0, 200, 1, 1, 0, 1}).ok());
  EXPECT_FALSE(decode_sa(Bytes{0, 0, 0, 12, 1, 1, 0, 1, 0, 0, 0, 40}).ok());
  EXPECT_FALSE(decode_notify(Bytes{0, 9, 0, 1}).ok());
  EXPECT_FALSE(decode_ts(Bytes{1, 0, 0, 0, 7, 0, 0, 99}).ok());
}

TEST(IkeCodec, KePayloadRoundTripsAndRefusesGroupZeroOrNoValue) {
  const Bytes value = {1, 2, 3};
  auto ke = decode_ke(encode_ke(19, value));
  ASSERT_TRUE(ke.ok());
  EXPECT_EQ(ke->group, 19);
  EXPECT_EQ(ke->public_value, value);
  EXPECT_FALSE(decode_ke(encode_ke(0, value)).ok());  // found by the CREATE_CHILD_SA fuzz target
  EXPECT_FALSE(decode_ke(encode_ke(14, {})).ok());
  EXPECT_FALSE(decode_ke(Bytes{0, 14, 0}).ok());
}

}  // namespace
}  // namespace sedge::ike

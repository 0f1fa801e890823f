// CREATE_CHILD_SA: key derivation of rekeyed SAs against RFC 7296 2.17/2.18, the codec of its
// messages and of Delete, the collision rule of 2.8.1, and the kernel lifetimes of a CHILD_SA.
// The rekeys themselves, between two IKE SAs on a fake clock, are in ike_sa_test.cc.
#include "ike/rekey.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "ike/child_sa.h"

namespace sedge::ike {
namespace {

Bytes concat(std::initializer_list<std::span<const uint8_t>> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes bytes_of(const Secret& s) { return Bytes(s.bytes().begin(), s.bytes().end()); }
Bytes filled(size_t n, uint8_t v) { return Bytes(n, v); }

TEST(IkeRekeyKeys, RekeyedIkeSaFollowsSection218) {
  const Suite suite{128, 14};
  const PrfKey old_sk_d(Secret(filled(32, 0x11)));
  const Bytes g = filled(256, 0x22), ni = filled(32, 0x33), nr = filled(32, 0x44);
  const uint64_t spi_i = 0x0102030405060708, spi_r = 0x1112131415161718;
  const IkeKeys k = derive_rekeyed_ike_keys(suite, old_sk_d, g, ni, nr, spi_i, spi_r);
  // SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr); {SK_d | SK_ei | SK_er | SK_pi | SK_pr} =
  // prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), no SK_a with AES-GCM.
  const Bytes skeyseed = prf(bytes_of(old_sk_d), concat({g, ni, nr}));
  const Bytes spis = {1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
  const Secret all = prf_plus(skeyseed, concat({ni, nr, spis}), 32 + 20 + 20 + 32 + 32);
  const Bytes a = bytes_of(all);
  EXPECT_EQ(bytes_of(k.sk_d), Bytes(a.begin(), a.begin() + 32));
  EXPECT_EQ(bytes_of(k.sk_ei), Bytes(a.begin() + 32, a.begin() + 52));
  EXPECT_EQ(bytes_of(k.sk_er), Bytes(a.begin() + 52, a.begin() + 72));
  EXPECT_EQ(bytes_of(k.sk_pi), Bytes(a.begin() + 72, a.begin() + 104));
  EXPECT_EQ(bytes_of(k.sk_pr), Bytes(a.begin() + 104, a.begin() + 136));
  // Not the derivation of a new IKE SA (SKEYSEED = prf(Ni | Nr, g^ir)).
  const IkeKeys fresh = derive_ike_keys(suite, g, ni, nr, spi_i, spi_r);
  EXPECT_NE(bytes_of(fresh.sk_d), bytes_of(k.sk_d));
  // AES-256: 36-byte SK_e*.
  const IkeKeys k256 = derive_rekeyed_ike_keys(Suite{256, 14}, old_sk_d, g, ni, nr, spi_i, spi_r);
  EXPECT_EQ(k256.sk_ei.size(), 36u);
  EXPECT_EQ(bytes_of(k256.sk_d), bytes_of(k.sk_d));
}

TEST(IkeRekeyKeys, BothEndsOfARekeyDeriveTheSameIkeKeys) {
  auto a = KeyExchange::generate(14), b = KeyExchange::generate(14);
  ASSERT_TRUE(a.ok() && b.ok());
  auto gab = a->shared_secret(b->public_value()), gba = b->shared_secret(a->public_value());
  ASSERT_TRUE(gab.ok() && gba.ok());
  const PrfKey sk_d(Secret(filled(32, 9)));
  const Bytes ni = filled(32, 1), nr = filled(32, 2);
  const IkeKeys x = derive_rekeyed_ike_keys({}, sk_d, gab->bytes(), ni, nr, 5, 6);
  const IkeKeys y = derive_rekeyed_ike_keys({}, sk_d, gba->bytes(), ni, nr, 5, 6);
  EXPECT_EQ(bytes_of(x.sk_ei), bytes_of(y.sk_ei));
  EXPECT_EQ(bytes_of(x.sk_pr), bytes_of(y.sk_pr));
}

TEST(IkeRekeyKeys, ChildSaKeymatWithAndWithoutPfs) {
  const Suite suite{128, 14};
  const Secret sk_d(filled(32, 0x55));
  const Bytes ni = filled(32, 0x66), nr = filled(24, 0x77), g = filled(256, 0x88);
  // Without PFS: KEYMAT = prf+(SK_d, Ni | Nr), as for the first CHILD_SA.
  const ChildKeys plain = derive_rekeyed_child_keys(suite, sk_d, {}, ni, nr);
  const ChildKeys first = derive_child_keys(suite, sk_d, ni, nr);
  EXPECT_EQ(bytes_of(plain.initiator_to_responder), bytes_of(first.initiator_to_responder));
  EXPECT_EQ(bytes_of(plain.responder_to_initiator), bytes_of(first.responder_to_initiator));
  // With PFS: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), initiator->responder first.
  const ChildKeys pfs = derive_rekeyed_child_keys(suite, sk_d, g, ni, nr);
  const Bytes keymat = bytes_of(prf_plus(bytes_of(sk_d), concat({g, ni, nr}), 40));
  EXPECT_EQ(bytes_of(pfs.initiator_to_responder), Bytes(keymat.begin(), keymat.begin() + 20));
  EXPECT_EQ(bytes_of(pfs.responder_to_initiator), Bytes(keymat.begin() + 20, keymat.end()));
  EXPECT_NE(bytes_of(pfs.initiator_to_responder), bytes_of(plain.initiator_to_responder));
  Suite aes256;
  aes256.esp_key_bits = 256;
  EXPECT_EQ(derive_rekeyed_child_keys(aes256, sk_d, g, ni, nr).initiator_to_responder.size(), 36u);
}

TEST(IkeRekeyCodec, ChildSaRekeyRequestRoundTrip) {
  CreateChildSa m;
  m.rekey_spi = 0xc0ffee01;
  m.proposals = {{1, kProtocolEsp, spi_bytes(0xabcdef12), {{1, 20, 128}, {4, 14, std::nullopt}, {5, 0, std::nullopt}}}};
  m.nonce = filled(32, 0x5a);
  m.ke_group = 14;
  m.ke_value = filled(256, 0x42);
  TrafficSelector a, b;
  a.start[0] = 10, a.start[1] = 99, a.start[2] = 99, a.end[0] = 10, a.end[1] = 99, a.end[2] = 99, a.end[3] = 255;
  b.start[0] = 10, b.start[1] = 201, b.end[0] = 10, b.end[1] = 201, b.end[3] = 255;
  m.tsi = {a};
  m.tsr = {b};
  const auto payloads = encode_create_child(m);
  ASSERT_EQ(payloads.size(), 6u);
  // N(REKEY_SA), SA, Ni, KEi, TSi, TSr (RFC 7296 1.3.3).
  EXPECT_EQ(payloads[0].type, kNotify);
  EXPECT_EQ(payloads[1].type, kSa);
  EXPECT_EQ(payloads[2].type, kNonce);
  EXPECT_EQ(payloads[3].type, kKe);
  EXPECT_EQ(payloads[4].type, kTsi);
  EXPECT_EQ(payloads[5].type, kTsr);
  // REKEY_SA: protocol ESP, 4-byte SPI, type 16393, no data.
  EXPECT_EQ(payloads[0].body, (Bytes{3, 4, 0x40, 0x09, 0xc0, 0xff, 0xee, 0x01}));
  // Through the wire format and back.
  auto wire = parse_payloads(payloads.front().type, serialize_payloads(payloads));
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  auto d = decode_create_child(*wire);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->rekey_spi, 0xc0ffee01u);
  ASSERT_EQ(d->proposals.size(), 1u);
  EXPECT_EQ(d->proposals[0].transforms, m.proposals[0].transforms);
  EXPECT_EQ(d->proposals[0].spi, spi_bytes(0xabcdef12));
  EXPECT_EQ(d->nonce, m.nonce);
  EXPECT_EQ(d->ke_group, 14);
  EXPECT_EQ(d->ke_value, m.ke_value);
  ASSERT_EQ(d->tsi.size(), 1u);
  EXPECT_EQ(0, std::memcmp(d->tsi[0].end, a.end, 4));
  EXPECT_FALSE(d->rekeys_ike());
  EXPECT_FALSE(d->error);
}

TEST(IkeRekeyCodec, IkeSaRekeyAndErrorResponses) {
  CreateChildSa m;
  m.proposals = {{1, kProtocolIke, spi_bytes64(0x1122334455667788), {{1, 20, 128}, {2, 5, std::nullopt}, {4, 14, std::nullopt}}}};
  m.nonce = filled(32, 1);
  m.ke_group = 14;
  m.ke_value = filled(256, 2);
  const auto payloads = encode_create_child(m);
  ASSERT_EQ(payloads.size(), 3u);  // SA, Ni, KEi: no TS, no REKEY_SA
  auto d = decode_create_child(payloads);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(d->rekeys_ike());
  EXPECT_EQ(spi64_of(d->proposals[0].spi), 0x1122334455667788u);

  CreateChildSa e;
  e.error = Notify{0, {}, kNotifyInvalidKe, {0, 19}};
  auto de = decode_create_child(encode_create_child(e));
  ASSERT_TRUE(de.ok());
  ASSERT_TRUE(de->error);
  EXPECT_EQ(de->error->type, kNotifyInvalidKe);
  EXPECT_EQ(de->error->data, (Bytes{0, 19}));
}

TEST(IkeRekeyCodec, MalformedCreateChildSaIsRefused) {
  CreateChildSa good;
  good.proposals = {{1, kProtocolEsp, spi_bytes(1), {{1, 20, 128}}}};
  good.nonce = filled(32, 1);
  TrafficSelector t;
  good.tsi = {t};
  good.tsr = {t};
  ASSERT_TRUE(decode_create_child(encode_create_child(good)).ok());
  struct Case {
    const char* what;
    std::function<void(std::vector<Payload>&)> damage;
  };
  const std::vector<Case> cases = {
      {"no SA", [](auto& p) { p.erase(p.begin()); }},
      {"no nonce", [](auto& p) { p.erase(p.begin() + 1); }},
      {"a 15-byte nonce", [](auto& p) { p[1].body.resize(15); }},
      {"TSi without TSr", [](auto& p) { p.pop_back(); }},
      {"no TS for a CHILD_SA", [](auto& p) { p.resize(2); }},
      {"a KE without a value", [](auto& p) { p.push_back({kKe, false, {0, 14, 0, 0}}); }},
      {"a REKEY_SA with a 2-byte SPI", [](auto& p) { p.push_back({kNotify, false, encode_notify({3, {1, 2}, kNotifyRekeySa, {}})}); }},
      {"a truncated SA", [](auto& p) { p[0].body.resize(6); }},
      {"an IKE rekey without its SPI",
       [](auto& p) { p[0].body = encode_sa({{1, kProtocolIke, {}, {{1, 20, 128}}}}); }},
  };
  for (const auto& c : cases) {
    auto p = encode_create_child(good);
    c.damage(p);
    EXPECT_FALSE(decode_create_child(p).ok()) << c.what;
  }
}

TEST(IkeRekeyCodec, DeletePayload) {
  const Bytes esp = encode_delete({kProtocolEsp, {0x01020304, 0xa0b0c0d0}});
  EXPECT_EQ(esp, (Bytes{3, 4, 0, 2, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0}));
  auto d = decode_delete(esp);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->spis, (std::vector<uint32_t>{0x01020304, 0xa0b0c0d0}));
  const Bytes ike = encode_delete({kProtocolIke, {}});
  EXPECT_EQ(ike, (Bytes{1, 0, 0, 0}));
  EXPECT_TRUE(decode_delete(ike).ok());
  EXPECT_FALSE(decode_delete(Bytes{3, 4, 0, 2, 1, 2, 3, 4}).ok()) << "count larger than the SPIs";
  EXPECT_FALSE(decode_delete(Bytes{3, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}).ok()) << "ESP SPIs are 4 bytes";
  EXPECT_FALSE(decode_delete(Bytes{1, 0, 0, 1}).ok()) << "an IKE SA delete has no SPIs";
  EXPECT_FALSE(decode_delete(Bytes{3, 4}).ok());
}

TEST(IkeRekeyCollision, LowestOfTheFourNoncesDecides) {
  const Bytes n1 = {0x10, 0x00}, n2 = {0x20, 0x00}, n3 = {0x30, 0x00}, n4 = {0x40, 0x00};
  EXPECT_TRUE(lowest_nonce_in(n1, n4, n2, n3));   // a's Ni
  EXPECT_TRUE(lowest_nonce_in(n4, n1, n3, n2));   // a's Nr
  EXPECT_FALSE(lowest_nonce_in(n3, n4, n1, n2));  // b's Ni
  EXPECT_FALSE(lowest_nonce_in(n2, n3, n4, n1));  // b's Nr
  // Octet strings: the first differing byte decides, a prefix is lower.
  EXPECT_TRUE(lowest_nonce_in(Bytes{0x01, 0xff}, n4, Bytes{0x02, 0x00}, n4));
  EXPECT_TRUE(lowest_nonce_in(Bytes{0x01}, n4, Bytes{0x01, 0x00}, n4));
  // Exactly one side concludes its SA is the redundant one.
  for (int i = 0; i < 100; ++i) {
    const Bytes a = random_bytes(32), b = random_bytes(32), c = random_bytes(32), d = random_bytes(32);
    EXPECT_NE(lowest_nonce_in(a, b, c, d), lowest_nonce_in(c, d, a, b));
  }
}

TEST(IkeRekeyConfig, PfsGroupFromTheEspProposal) {
  EXPECT_EQ(*parse_pfs_group("aes128gcm16-modp2048"), 14);
  EXPECT_EQ(*parse_pfs_group("aes256gcm16-ecp256"), 19);
  EXPECT_EQ(*parse_pfs_group("aes256gcm16-curve25519"), 31);
  EXPECT_EQ(*parse_pfs_group("aes256-sha512-modp3072"), 15);
  EXPECT_EQ(*parse_pfs_group("aes256-sha384-ecp384"), 20);
  EXPECT_EQ(*parse_pfs_group("null-sha256-ecp521-esn"), 21);
  EXPECT_EQ(*parse_pfs_group("aes128gcm16"), 0);
  EXPECT_FALSE(parse_pfs_group("aes128gcm16-modp1024").ok());
}

// ---- The kernel's limits of a CHILD_SA ----

TEST(KernelLifetime, SoftAtTheRekeyHardALittleAfterTheLifetime) {
  EXPECT_EQ(kernel_lifetime(std::chrono::milliseconds(0), 0.9).hard_seconds, 0u);
  EXPECT_EQ(kernel_lifetime(std::chrono::milliseconds(0), 0.9).soft_seconds, 0u);
  EXPECT_EQ(kernel_lifetime(std::chrono::seconds(3600), 0.9).soft_seconds, 3240u);
  EXPECT_EQ(kernel_lifetime(std::chrono::seconds(3600), 0.9).hard_seconds, 3960u);
  EXPECT_EQ(kernel_lifetime(std::chrono::milliseconds(19800), 0.95).soft_seconds, 19u);
  EXPECT_EQ(kernel_lifetime(std::chrono::milliseconds(19800), 0.95).hard_seconds, 22u);
}

}  // namespace
}  // namespace sedge::ike

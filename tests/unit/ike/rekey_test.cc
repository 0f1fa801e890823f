// CREATE_CHILD_SA: key derivation of rekeyed SAs against RFC 7296 2.17/2.18, the codec of its
// messages and of Delete, the collision rule of 2.8.1, and two serve() loops rekeying each other
// over loopback UDP (the kernel side recorded by a handler that checks make-before-break).
#include "ike/rekey.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "ike/endpoint.h"
#include "ike/initiator.h"
#include "ike/keylog.h"

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

// ---- Two serve() loops over loopback ----

// The kernel, as far as rekeying goes: which SAs exist. Checks that an SPI's SA is only
// installed once, that a pair's inbound SA precedes its outbound SA, and that the loop always
// had an outbound SA to send on (make-before-break).
class RecordingKernel : public ChildSaHandler {
 public:
  explicit RecordingKernel(uint32_t first_spi) : next_spi_(first_spi) {}
  Result<uint32_t> allocate_spi(const ChildSa&) override {
    std::lock_guard l(m_);
    larval_.insert(next_spi_);
    return next_spi_++;
  }
  Status install_inbound(const ChildSa& c) override {
    std::lock_guard l(m_);
    if (!larval_.erase(c.spi_in)) problems_.push_back("inbound SA without ALLOCSPI");
    in_[c.spi_in] = Bytes(c.key_in.bytes().begin(), c.key_in.bytes().end());
    index_of_[c.spi_in] = c.index;
    ever_in_[c.spi_in] = in_[c.spi_in];
    return {};
  }
  Status install_outbound(const ChildSa& c) override {
    std::lock_guard l(m_);
    if (!in_.count(c.spi_in)) problems_.push_back("outbound SA before its inbound SA");
    if (out_.count(c.spi_out)) problems_.push_back("outbound SA installed twice");
    out_[c.spi_out] = Bytes(c.key_out.bytes().begin(), c.key_out.bytes().end());
    ever_out_[c.spi_out] = out_[c.spi_out];
    ++outbound_installs_;
    return {};
  }
  Status install_policies(const ChildSa& c) override {
    std::lock_guard l(m_);
    if (!in_.count(c.spi_in) || !out_.count(c.spi_out))
      problems_.push_back("policies before the CHILD_SA's SAs");
    ChildSa copy{c.index, c.spi_in, c.spi_out,  c.key_in.clone(), c.key_out.clone(),
                 {},      {},       c.local_ts, c.remote_ts};
    policies_.push_back(std::move(copy));
    return {};
  }
  void remove_policies(const ChildSa& c) override {
    std::lock_guard l(m_);
    removed_policies_.push_back(c.index);
  }
  void remove(const ChildSa& c) override {
    std::lock_guard l(m_);
    larval_.erase(c.spi_in);
    in_.erase(c.spi_in);
    if (c.spi_out && out_.erase(c.spi_out) && out_.empty()) problems_.push_back("the last outbound SA was removed");
  }
  void seed(const EstablishedSa& sa) {
    const bool i = sa.initiator;
    in_[sa.child_spi_in] = bytes_of(i ? sa.child_keys.responder_to_initiator : sa.child_keys.initiator_to_responder);
    out_[sa.child_spi_out] = bytes_of(i ? sa.child_keys.initiator_to_responder : sa.child_keys.responder_to_initiator);
    ever_in_ = in_;
  }
  std::mutex m_;
  uint32_t next_spi_;
  std::set<uint32_t> larval_;
  std::map<uint32_t, Bytes> in_, out_, ever_in_, ever_out_;
  std::map<uint32_t, uint32_t> index_of_;  // inbound SPI -> CHILD_SA index
  std::vector<ChildSa> policies_;          // the CHILD_SAs whose policies went in
  std::vector<uint32_t> removed_policies_;
  std::vector<std::string> problems_;
  int outbound_installs_ = 0;
};

struct Pair {
  Endpoint a, b;
  sockaddr_in a_addr{}, b_addr{};
  EstablishedSa sa_a, sa_b;  // a is the original initiator
  RecordingKernel ka{0x1000}, kb{0x2000};
  std::vector<TrafficSelector> b_local, b_remote;  // more selectors b accepts new CHILD_SAs for

  Suite suite;

  explicit Pair(Suite su = {}) : suite(su) {
    sockaddr_in lo{};
    lo.sin_family = AF_INET;
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_TRUE(a.open(lo, 0, false).ok());
    EXPECT_TRUE(b.open(lo, 0, false).ok());
    socklen_t len = sizeof a_addr;
    getsockname(a.fd(), reinterpret_cast<sockaddr*>(&a_addr), &len);
    len = sizeof b_addr;
    getsockname(b.fd(), reinterpret_cast<sockaddr*>(&b_addr), &len);
    const Bytes g = random_bytes(256), ni = random_bytes(32), nr = random_bytes(32);
    for (EstablishedSa* s : {&sa_a, &sa_b}) {
      s->spi_i = 0x1111;
      s->spi_r = 0x2222;
      s->suite = suite;
      s->keys = derive_ike_keys(suite, g, ni, nr, s->spi_i, s->spi_r);
      s->child_keys = derive_child_keys(suite, s->keys.sk_d, ni, nr);
      s->local_ts.start[0] = s->local_ts.end[0] = s == &sa_a ? 10 : 20;
      s->remote_ts.start[0] = s->remote_ts.end[0] = s == &sa_a ? 20 : 10;
    }
    sa_a.initiator = true;
    sa_b.initiator = false;
    sa_a.child_spi_in = sa_b.child_spi_out = 0x100;
    sa_a.child_spi_out = sa_b.child_spi_in = 0x200;
    ka.seed(sa_a);
    kb.seed(sa_b);
  }

  // Runs both loops; both must end at `duration`, not with an error.
  void run(ServeOptions oa, ServeOptions ob) {
    oa.children = &ka;
    ob.children = &kb;
    oa.local_ts = ob.remote_ts = {sa_a.local_ts};
    oa.remote_ts = ob.local_ts = {sa_a.remote_ts};
    ob.local_ts.insert(ob.local_ts.end(), b_local.begin(), b_local.end());
    ob.remote_ts.insert(ob.remote_ts.end(), b_remote.begin(), b_remote.end());
    oa.suite = ob.suite = suite;
    oa.pfs_group = ob.pfs_group = 14;
    Status sb;
    std::thread t([&] { sb = serve(b, sa_b, a_addr, ob); });
    Status sa = serve(a, sa_a, b_addr, oa);
    t.join();
    EXPECT_TRUE(sa.ok()) << sa.error().message;
    EXPECT_TRUE(sb.ok()) << sb.error().message;
  }

  // Both ends agree on one CHILD_SA, which is not the first, with crosswise keys; the first one is gone.
  void expect_one_rekeyed_pair() {
    EXPECT_TRUE(ka.problems_.empty()) << ka.problems_.front();
    EXPECT_TRUE(kb.problems_.empty()) << kb.problems_.front();
    EXPECT_EQ(sa_a.child_spi_in, sa_b.child_spi_out);
    EXPECT_EQ(sa_a.child_spi_out, sa_b.child_spi_in);
    EXPECT_NE(sa_a.child_spi_in, 0x100u);
    ASSERT_EQ(ka.in_.size(), 1u);
    ASSERT_EQ(ka.out_.size(), 1u);
    ASSERT_EQ(kb.in_.size(), 1u);
    ASSERT_EQ(kb.out_.size(), 1u);
    EXPECT_EQ(ka.in_.begin()->first, kb.out_.begin()->first);
    EXPECT_EQ(ka.in_.begin()->second, kb.out_.begin()->second);
    EXPECT_EQ(ka.out_.begin()->second, kb.in_.begin()->second);
    EXPECT_NE(ka.in_.begin()->second, ka.out_.begin()->second);
  }
};

ServeOptions opts(int seconds, int child, int ike, double jitter = 0.0) {
  ServeOptions o;
  o.duration = std::chrono::seconds(seconds);
  o.child_lifetime = std::chrono::seconds(child);
  o.ike_lifetime = std::chrono::seconds(ike);
  o.rekey_jitter = jitter;
  o.dpd_timeout = std::chrono::seconds(10);
  return o;
}

TEST(IkeRekeyServe, InitiatorRekeysTheChildSaWithPfs) {
  Pair p;
  p.run(opts(5, 3, 0), opts(5, 0, 0));  // a rekeys at 2.7 s; b never
  p.expect_one_rekeyed_pair();
  EXPECT_EQ(p.sa_a.spi_i, 0x1111u) << "the IKE SA was not to be rekeyed";
}

TEST(IkeRekeyServe, ResponderRekeysTheChildSaAndTheIkeSa) {
  Pair p;
  p.run(opts(6, 0, 0), opts(6, 3, 4));  // b (the original responder) rekeys both
  p.expect_one_rekeyed_pair();
  EXPECT_NE(p.sa_a.spi_i, 0x1111u);
  EXPECT_EQ(p.sa_a.spi_i, p.sa_b.spi_i);
  EXPECT_EQ(p.sa_a.spi_r, p.sa_b.spi_r);
  EXPECT_TRUE(p.sa_b.initiator && !p.sa_a.initiator) << "b, the first IKE SA's responder, initiated the rekeyed one";
  EXPECT_EQ(bytes_of(p.sa_a.keys.sk_d), bytes_of(p.sa_b.keys.sk_d));
}

TEST(IkeRekeyServe, SimultaneousRekeysEndWithOnePair) {
  // Same lifetimes, no jitter: both ends rekey the CHILD_SA (and then the IKE SA) at once.
  Pair p;
  p.run(opts(7, 3, 5), opts(7, 3, 5));
  p.expect_one_rekeyed_pair();
  EXPECT_EQ(p.sa_a.spi_i, p.sa_b.spi_i);
  EXPECT_EQ(p.sa_a.spi_r, p.sa_b.spi_r);
  EXPECT_NE(p.sa_a.spi_i, 0x1111u);
  EXPECT_EQ(bytes_of(p.sa_a.keys.sk_ei), bytes_of(p.sa_b.keys.sk_ei));
}

}  // namespace
}  // namespace sedge::ike

namespace sedge::ike {
namespace {

TEST(IkeRekeyServe, RekeysWithAesCbcAndHmacSha2) {
  // AES-CBC + HMAC-SHA2 for IKE (SK_a keys, CBC SK payloads) and ESP (integrity keys per pair).
  auto suite = parse_suite("aes256-sha384-modp2048", "aes128-sha256");
  ASSERT_TRUE(suite.ok()) << suite.error().message;
  Pair p(*suite);
  p.run(opts(6, 3, 4), opts(6, 0, 0));
  p.expect_one_rekeyed_pair();
  EXPECT_NE(p.sa_a.spi_i, 0x1111u);
  EXPECT_EQ(p.sa_a.child_keys.integ_initiator_to_responder.size(), 32u);
  EXPECT_TRUE(constant_time_equal(p.sa_a.child_keys.integ_initiator_to_responder.bytes(),
                                  p.sa_b.child_keys.integ_initiator_to_responder.bytes()));
  EXPECT_TRUE(constant_time_equal(p.sa_a.keys.sk_ei.integ_key().bytes(), p.sa_b.keys.sk_ei.integ_key().bytes()));
}

}  // namespace
}  // namespace sedge::ike

namespace sedge::ike {
namespace {

TrafficSelector range(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t a2, uint8_t b2,
                      uint8_t c2, uint8_t d2) {
  TrafficSelector t;
  const uint8_t s[4] = {a, b, c, d}, e[4] = {a2, b2, c2, d2};
  std::memcpy(t.start, s, 4);
  std::memcpy(t.end, e, 4);
  return t;
}
bool same(const TrafficSelector& x, const TrafficSelector& y) {
  return std::memcmp(x.start, y.start, 4) == 0 && std::memcmp(x.end, y.end, 4) == 0;
}

TEST(IkeNewChildSa, CreatedNarrowedRekeyedAndRemovedAtTheEnd) {
  Pair p;
  p.b_local = {range(21, 0, 0, 0, 21, 255, 255, 255)};
  p.b_remote = {range(11, 0, 0, 0, 11, 0, 0, 255)};
  ServeOptions oa = opts(6, 3, 0), ob = opts(6, 0, 0);
  // a asks for 11.0.0.0/8 <=> 21.0.0.5; b narrows its side to 11.0.0.0/24. a's second pair fits
  // none of b's selectors: TS_UNACCEPTABLE, and a carries on without it.
  oa.create_children = {
      {range(11, 0, 0, 0, 11, 255, 255, 255), range(21, 0, 0, 5, 21, 0, 0, 5)},
      {range(12, 0, 0, 0, 12, 255, 255, 255), range(22, 0, 0, 0, 22, 255, 255, 255)}};
  p.run(oa, ob);
  EXPECT_TRUE(p.ka.problems_.empty()) << p.ka.problems_.front();
  EXPECT_TRUE(p.kb.problems_.empty()) << p.kb.problems_.front();
  ASSERT_EQ(p.ka.policies_.size(), 1u);
  ASSERT_EQ(p.kb.policies_.size(), 1u);
  const ChildSa &ca = p.ka.policies_.front(), &cb = p.kb.policies_.front();
  EXPECT_EQ(ca.index, 1u);
  EXPECT_TRUE(same(ca.local_ts, range(11, 0, 0, 0, 11, 0, 0, 255)));
  EXPECT_TRUE(same(ca.remote_ts, range(21, 0, 0, 5, 21, 0, 0, 5)));
  EXPECT_TRUE(same(cb.local_ts, ca.remote_ts) && same(cb.remote_ts, ca.local_ts));
  // One ESP pair, crosswise, and not the first CHILD_SA's keys.
  EXPECT_EQ(ca.spi_in, cb.spi_out);
  EXPECT_EQ(ca.spi_out, cb.spi_in);
  EXPECT_EQ(bytes_of(ca.key_in), bytes_of(cb.key_out));
  EXPECT_EQ(bytes_of(ca.key_out), bytes_of(cb.key_in));
  EXPECT_NE(bytes_of(ca.key_in), p.ka.ever_in_.at(0x100));
  // a rekeyed both CHILD_SAs at 2.7 s (new inbound SAs of index 0 and 1 beyond the first ones).
  int rekeyed_new = 0, rekeyed_first = 0;
  for (const auto& [spi, index] : p.ka.index_of_) {
    if (index == 1 && spi != ca.spi_in) ++rekeyed_new;
    if (index == 0) ++rekeyed_first;
  }
  EXPECT_GE(rekeyed_new, 1);
  EXPECT_GE(rekeyed_first, 1);
  // At the end the new CHILD_SA's SAs and policies are gone; the first stays for the caller.
  EXPECT_EQ(p.ka.in_.size(), 1u) << p.ka.in_.begin()->first << " " << p.ka.in_.rbegin()->first;
  EXPECT_EQ(p.kb.in_.size(), 1u) << p.kb.in_.begin()->first << " " << p.kb.in_.rbegin()->first;
  EXPECT_EQ(p.ka.removed_policies_, std::vector<uint32_t>{1});
  EXPECT_EQ(p.kb.removed_policies_, std::vector<uint32_t>{1});
  EXPECT_EQ(p.sa_a.child_spi_in, p.sa_b.child_spi_out);
}

TEST(IkeNewChildSa, NoAdditionalSasBeyondTheLimit) {
  Pair p;
  p.b_local = {range(21, 0, 0, 0, 21, 255, 255, 255)};
  p.b_remote = {range(11, 0, 0, 0, 11, 255, 255, 255)};
  ServeOptions oa = opts(3, 0, 0), ob = opts(3, 0, 0);
  ob.max_children = 1;
  oa.create_children = {
      {range(11, 0, 0, 0, 11, 255, 255, 255), range(21, 0, 0, 0, 21, 255, 255, 255)}};
  p.run(oa, ob);
  EXPECT_TRUE(p.ka.policies_.empty());
  EXPECT_TRUE(p.kb.policies_.empty());
  EXPECT_TRUE(p.ka.problems_.empty()) << p.ka.problems_.front();
  EXPECT_EQ(p.ka.in_.size(), 1u) << "the refused CHILD_SA's larval SA is given back";
  EXPECT_TRUE(p.ka.larval_.empty());
}

TEST(IkeRekeyKeyLog, RekeyedIkeSaKeysAreAppended) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sedge-keylog-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto log = KeyLog::open(dir.string());
  ASSERT_TRUE(log.ok()) << log.error().message;
  Pair p;
  ServeOptions oa = opts(6, 0, 0), ob = opts(6, 0, 4);
  oa.key_log = log->get();
  p.run(oa, ob);  // b rekeys the IKE SA at 3.6 s; a, the responder of that rekey, logs the new SA
  ASSERT_NE(p.sa_a.spi_i, 0x1111u);
  std::ifstream in(dir / "ikev2_decryption_table");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find(KeyLog::ike_line(p.sa_a.spi_i, p.sa_a.spi_r, p.sa_a.keys)),
            std::string::npos)
      << text.str();
  std::filesystem::remove_all(dir);
}

TEST(KernelLifetime, SoftAtTheRekeyHardALittleAfterTheLifetime) {
  ServeOptions o;
  EXPECT_EQ(kernel_lifetime(o).hard_seconds, 0u);
  o.child_lifetime = std::chrono::seconds(3600);
  EXPECT_EQ(kernel_lifetime(o).soft_seconds, 3240u);
  EXPECT_EQ(kernel_lifetime(o).hard_seconds, 3960u);
  o.child_lifetime = std::chrono::milliseconds(19800);
  o.rekey_fraction = 0.95;
  EXPECT_EQ(kernel_lifetime(o).soft_seconds, 19u);
  EXPECT_EQ(kernel_lifetime(o).hard_seconds, 22u);
}

}  // namespace
}  // namespace sedge::ike

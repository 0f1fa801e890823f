// IKE fragmentation (RFC 7383): splitting a protected message into SKF fragments that each fit
// the configured datagram, reassembling them in any order under AES-GCM and AES-CBC + HMAC, and
// a table of malformed fragment sequences the reassembler must drop without keeping them.
#include "ike/fragment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "ike/crypto.h"
#include "ike/ike_sa.h"
#include "ike/message.h"

namespace sedge::ike {
namespace {

SkKey gcm_key() {
  return SkKey(kEncrAesGcm16, Secret(Bytes(20, 0x42)), kIntegNone, Secret());
}
SkKey cbc_key() {
  return SkKey(kEncrAesCbc, Secret(Bytes(32, 0x42)), kIntegHmacSha384_192, Secret(Bytes(48, 0x17)));
}

const Header kHeader{0x1111, 0x2222, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0};

// An IKE_AUTH-like content: IDi, a large CERT, AUTH.
std::vector<Payload> big_inner(size_t cert_size = 3000) {
  Bytes cert(cert_size);
  for (size_t i = 0; i < cert.size(); ++i) cert[i] = static_cast<uint8_t>(i * 7);
  return {{kIdi, false, encode_typed(2, Bytes{'a', 'b'})},
          {kCert, false, cert},
          {kAuth, false, Bytes(68, 0x5a)}};
}

Result<std::vector<Payload>> feed(Reassembler& r, const SkKey& key, const Bytes& wire,
                                  Reassembler::Clock::time_point now = Reassembler::Clock::now()) {
  auto m = parse(wire);
  if (!m) return m.error();
  return r.open(key, *m, wire, now);
}

bool same(const std::vector<Payload>& a, const std::vector<Payload>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type != b[i].type || a[i].body != b[i].body) return false;
  }
  return true;
}

class FragmentRoundTrip : public ::testing::TestWithParam<bool> {};

TEST_P(FragmentRoundTrip, SplitsToFitAndReassemblesInAnyOrder) {
  const SkKey key = GetParam() ? cbc_key() : gcm_key();
  const auto inner = big_inner();
  const Bytes plain = serialize_payloads(inner);
  uint64_t iv = 1;
  auto wires = seal_message(key, kHeader, kIdi, plain, iv, 1280);
  ASSERT_EQ(wires.size(), 3u);
  EXPECT_EQ(iv, 5u) << "one IV for the unsent whole message, then one per fragment";
  for (size_t i = 0; i < wires.size(); ++i) {
    EXPECT_LE(wires[i].size() + 20 + 8 + 4, 1280u)
        << "fragment " << i + 1 << " does not fit the datagram";
    auto m = parse(wires[i]);
    ASSERT_TRUE(m.ok()) << m.error().message;
    ASSERT_EQ(m->payloads.size(), 1u);
    EXPECT_EQ(m->payloads[0].type, kSkf);
    EXPECT_EQ(m->payloads[0].inner_first, i == 0 ? kIdi : kNoNext);
    EXPECT_EQ(m->header.message_id, 1u);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 4; ++round) {
    std::shuffle(wires.begin(), wires.end(), rng);
    Reassembler r;
    for (size_t i = 0; i + 1 < wires.size(); ++i) {
      auto got = feed(r, key, wires[i]);
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.error().code, EINPROGRESS) << got.error().message;
    }
    auto whole = feed(r, key, wires.back());
    ASSERT_TRUE(whole.ok()) << whole.error().message;
    EXPECT_TRUE(same(*whole, inner));
    EXPECT_EQ(r.pending(), 0u);
  }
}

TEST_P(FragmentRoundTrip, SmallMessagesAndNoLimitStayOneSkMessage) {
  const SkKey key = GetParam() ? cbc_key() : gcm_key();
  uint64_t iv = 1;
  const Bytes small = serialize_payloads(big_inner(100));
  auto one = seal_message(key, kHeader, kIdi, small, iv, 1280);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_TRUE(parse(one[0])->find(kSk));
  const Bytes large = serialize_payloads(big_inner());
  EXPECT_EQ(seal_message(key, kHeader, kIdi, large, iv, 0).size(), 1u)
      << "0: fragmentation not negotiated";
  Reassembler r;
  auto opened = feed(r, key, one[0]);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_TRUE(same(*opened, big_inner(100)));
}

INSTANTIATE_TEST_SUITE_P(Suites, FragmentRoundTrip, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "AesCbcHmac" : "AesGcm"; });

TEST(Fragment, CapacityCountsEveryHeaderAndTheCipher) {
  // 1280 - IPv4 20 - UDP 8 - marker 4 - IKE 28 - SKF 8 = 1212; GCM: IV 8, ICV 16, pad length 1.
  EXPECT_EQ(fragment_capacity(gcm_key(), 1280), 1212u - 8 - 16 - 1);
  // CBC with HMAC-SHA384-192: IV 16, ICV 24, whole 16-byte blocks with the pad length inside.
  EXPECT_EQ(fragment_capacity(cbc_key(), 1280), (1212u - 16 - 24) / 16 * 16 - 1);
  EXPECT_EQ(fragment_capacity(gcm_key(), 60), 0u);
}

TEST(Fragment, NotifyAndNegotiation) {
  const std::vector<Payload> with = {{kNonce, false, Bytes(32)}, fragmentation_supported_notify()};
  const std::vector<Payload> without = {{kNonce, false, Bytes(32)}};
  EXPECT_TRUE(announces_fragmentation(with));
  EXPECT_FALSE(announces_fragmentation(without));
  EXPECT_EQ(decode_notify(fragmentation_supported_notify().body)->type, kNotifyFragmentationSupported);
  EXPECT_EQ(fragment_size_for({FragmentMode::yes, 1000}, with), 1000u);
  EXPECT_EQ(fragment_size_for({FragmentMode::force, 1000}, with), 1000u);
  EXPECT_EQ(fragment_size_for({FragmentMode::accept, 1000}, with), 0u);
  EXPECT_EQ(fragment_size_for({FragmentMode::no, 1000}, with), 0u);
  EXPECT_EQ(fragment_size_for({FragmentMode::yes, 1000}, without), 0u);
}

// The responder's half of the negotiation (RFC 7383 2.3): it answers the notify only when the
// initiator sent it and it announces fragmentation itself; it sends fragments only in yes/force.
struct Negotiated {
  bool notify = false, fragmentation = false;
  size_t size = 0;
};
Negotiated respond(bool initiator_announced, FragmentConfig config) {
  SaConfig c;
  c.tunnel.fragmentation = config;
  auto ke = KeyExchange::generate(c.suite.dh_group);
  EXPECT_TRUE(ke.ok());
  std::vector<Payload> init = {{kSa, false, encode_sa({Proposal{1, kProtocolIke, {}, ike_transforms(c.suite)}})},
                               {kKe, false, encode_ke(c.suite.dh_group, ke->public_value())},
                               {kNonce, false, Bytes(32, 7)}};
  if (initiator_announced) init.push_back(fragmentation_supported_notify());
  const Bytes wire = serialize({0x0102, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, init);
  auto request = parse(wire);
  EXPECT_TRUE(request.ok());
  Outgoing refusal;
  auto sa = IkeSa::respond(c, nullptr, SaEnvironment{}, *request, wire, *Address::parse("192.0.2.2", kIkePort),
                           *Address::parse("198.51.100.2", kIkePort), Time{}, &refusal);
  EXPECT_TRUE(sa.ok()) << (sa.ok() ? "" : sa.error().message);
  if (!sa.ok()) return {};
  auto sends = (*sa)->take_sends();
  EXPECT_EQ(sends.size(), 1u);
  auto response = parse(sends.front().data);
  EXPECT_TRUE(response.ok());
  return {announces_fragmentation(response->payloads), (*sa)->fragmentation, (*sa)->fragment_size};
}

TEST(Fragment, ResponderAnswersTheNotifyOnlyWhenAsked) {
  auto yes = respond(true, {FragmentMode::yes, 1000});
  EXPECT_TRUE(yes.notify && yes.fragmentation);
  EXPECT_EQ(yes.size, 1000u);
  auto accept = respond(true, {FragmentMode::accept, 1000});
  EXPECT_TRUE(accept.notify && accept.fragmentation) << "accept: the peer may fragment";
  EXPECT_EQ(accept.size, 0u) << "accept: ours are never fragmented";
  auto no = respond(true, {FragmentMode::no, 1000});
  EXPECT_FALSE(no.notify || no.fragmentation);
  auto unasked = respond(false, {FragmentMode::yes, 1000});
  EXPECT_FALSE(unasked.notify || unasked.fragmentation);
  EXPECT_EQ(unasked.size, 0u);
}

// ---- Malformed sequences ----

enum class Outcome { complete, pending, dropped };

struct Frag {
  uint16_t number = 1, total = 3;
  int chunk = 0;           // which third of the content
  uint8_t next = kNoNext;  // kIdi in a proper fragment 1
  bool tamper = false;     // a flipped bit in the ciphertext
  bool other_key = false;  // sealed under another SA's key
  Exchange exchange = Exchange::ike_auth;
};
Frag first(uint16_t total = 3) {
  return {1, total, 0, kIdi};
}
Frag nth(uint16_t n, uint16_t total = 3) {
  return {n, total, n - 1, kNoNext};
}

struct Case {
  const char* name;
  std::vector<Frag> frags;
  Outcome last;    // what the last fragment gives
  size_t pending;  // messages still in reassembly after it
  ReassemblyLimits limits{};
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"in_order", {first(), nth(2), nth(3)}, Outcome::complete, 0},
      {"number_zero", {first(), {0, 3, 1, kNoNext}}, Outcome::dropped, 1},
      {"number_above_total", {first(), {4, 3, 1, kNoNext}}, Outcome::dropped, 1},
      {"total_zero", {{0, 0, 0, kIdi}}, Outcome::dropped, 0},
      {"duplicate", {first(), nth(2), nth(2)}, Outcome::dropped, 1},
      {"duplicate_then_complete", {first(), nth(2), nth(2), nth(3)}, Outcome::complete, 0},
      {"total_shrinks", {first(), nth(2), {3, 2, 2, kNoNext}}, Outcome::dropped, 1},
      {"total_grows_starts_over", {first(), nth(2), nth(3, 4)}, Outcome::pending, 1},
      {"next_payload_after_first", {first(), {2, 3, 1, kIdi}}, Outcome::dropped, 1},
      {"no_next_payload_in_first", {{1, 3, 0, kNoNext}}, Outcome::dropped, 0},
      {"tampered_not_kept", {{1, 3, 0, kIdi, true}}, Outcome::dropped, 0},
      {"tampered_then_genuine",
       {first(), {2, 3, 1, kNoNext, true}, nth(2), nth(3)},
       Outcome::complete,
       0},
      {"another_sas_key", {first(), {2, 3, 1, kNoNext, false, true}}, Outcome::dropped, 1},
      {"other_exchange",
       {first(), {2, 3, 1, kNoNext, false, false, Exchange::informational}},
       Outcome::dropped,
       1},
      {"too_many_fragments",
       {first(3)},
       Outcome::dropped,
       0,
       {2, 65535, 4, std::chrono::seconds(30)}},
      {"too_large",
       {first(), nth(2)},
       Outcome::dropped,
       0,
       {64, 1500, 4, std::chrono::seconds(30)}},
  };
  return c;
}

class MalformedFragments : public ::testing::TestWithParam<Case> {};

TEST_P(MalformedFragments, AreDroppedNotKept) {
  const Case& tc = GetParam();
  const SkKey key = gcm_key();
  const SkKey other(kEncrAesGcm16, Secret(Bytes(20, 0x43)), kIntegNone, Secret());
  const auto inner = big_inner(3000);
  const Bytes content = serialize_payloads(inner);
  const size_t third = (content.size() + 2) / 3;
  Reassembler r(tc.limits);
  Result<std::vector<Payload>> got = Error{"nothing fed", 0};
  uint64_t iv = 1;
  for (const Frag& f : tc.frags) {
    Header h = kHeader;
    h.exchange = f.exchange;
    const size_t at = std::min(content.size(), static_cast<size_t>(f.chunk) * third);
    const auto chunk = std::span(content).subspan(at, std::min(third, content.size() - at));
    Bytes wire =
        seal_fragment(f.other_key ? other : key, h, f.next, f.number, f.total, chunk, iv++);
    if (f.tamper) wire[wire.size() - 20] ^= 1;
    got = feed(r, key, wire);
  }
  switch (tc.last) {
    case Outcome::complete:
      ASSERT_TRUE(got.ok()) << got.error().message;
      EXPECT_TRUE(same(*got, inner));
      break;
    case Outcome::pending:
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.error().code, EINPROGRESS) << got.error().message;
      break;
    case Outcome::dropped:
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.error().code, EBADMSG) << got.error().message;
      EXPECT_NE(got.error().message.find("dropped an IKE fragment"), std::string::npos)
          << got.error().message;
      break;
  }
  EXPECT_EQ(r.pending(), tc.pending);
}

INSTANTIATE_TEST_SUITE_P(Table, MalformedFragments, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });

TEST(Reassembler, TimeoutFreesTheFragments) {
  const SkKey key = gcm_key();
  const Bytes content = serialize_payloads(big_inner());
  Reassembler r({64, 65535, 4, std::chrono::seconds(30)});
  const auto t0 = Reassembler::Clock::now();
  auto got =
      feed(r, key, seal_fragment(key, kHeader, kIdi, 1, 3, std::span(content).first(1000), 1), t0);
  ASSERT_EQ(got.error().code, EINPROGRESS);
  EXPECT_EQ(r.pending(), 1u);
  EXPECT_EQ(r.pending_bytes(), 1000u);
  r.expire(t0 + std::chrono::seconds(29));
  EXPECT_EQ(r.pending(), 1u);
  r.expire(t0 + std::chrono::seconds(31));
  EXPECT_EQ(r.pending(), 0u);
  EXPECT_EQ(r.pending_bytes(), 0u);
}

TEST(Reassembler, BoundsMessagesInReassembly) {
  const SkKey key = gcm_key();
  const Bytes content = serialize_payloads(big_inner());
  Reassembler r({64, 65535, 2, std::chrono::seconds(30)});
  const auto t0 = Reassembler::Clock::now();
  for (uint32_t id = 1; id <= 5; ++id) {
    Header h = kHeader;
    h.message_id = id;
    (void)feed(r, key, seal_fragment(key, h, kIdi, 1, 3, std::span(content).first(500), id),
               t0 + std::chrono::milliseconds(id));
    EXPECT_LE(r.pending(), 2u);
  }
}

TEST(Reassembler, RequestsAndResponsesAreApart) {
  const SkKey key = gcm_key();
  const auto inner = big_inner();
  const Bytes content = serialize_payloads(inner);
  uint64_t iv = 1;
  Header response = kHeader;
  response.flags = kFlagResponse;
  auto req = seal_message(key, kHeader, kIdi, content, iv, 1280);
  auto resp = seal_message(key, response, kIdi, content, iv, 1280);
  Reassembler r;
  (void)feed(r, key, req[0]);
  (void)feed(r, key, resp[0]);
  EXPECT_EQ(r.pending(), 2u);
  (void)feed(r, key, req[1]);
  auto done = feed(r, key, req[2]);
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(r.pending(), 1u);
}

}  // namespace
}  // namespace sedge::ike

// The I/O-free IKE SA (ike/ike_sa.h) as two of them see each other: an initiator and a responder
// back to back in memory on a fake clock (sa_pair.h), each with a fake kernel that records every
// CHILD_SA call. Establishment, IKE_SA_INIT's retries (COOKIE, INVALID_KE_PAYLOAD), the
// retransmission schedule and giving up, the message-ID window and the response cache, CHILD_SA
// and IKE SA rekeys by either side and their collisions (forced by holding the requests),
// further CHILD_SAs, liveness checks, deletes, lifetimes and authentication failures.
#include "ike/ike_sa.h"

#include <gtest/gtest.h>

#include <functional>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ike/keylog.h"
#include "ike/rekey.h"
#include "tests/unit/ike/sa_pair.h"

namespace sedge::ike {
namespace {

using namespace sedge::ike::testing;
using Op = FakeKernel::Op;
using Ops = std::vector<std::string>;

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

// Why a pair is not what it should be: both sides' failures and every problem seen.
std::string why(SaPair& p) {
  std::string out;
  if (p.a && p.a->state() == SaState::closed) out += "\nA closed: " + p.a->failure().message;
  if (p.b && p.b->state() == SaState::closed) out += "\nB closed: " + p.b->failure().message;
  if (p.refused) out += "\nrespond() refused: " + p.refused->message;
  return out + joined(p.all_problems());
}

void expect_clean(SaPair& p) {
  const auto problems = p.all_problems();
  EXPECT_TRUE(problems.empty()) << joined(problems);
}

IkeSa& side(SaPair& p, bool a) { return a ? *p.a : *p.b; }
FakeKernel& kernel(SaPair& p, bool a) { return a ? p.ka : p.kb; }
void rekey_child(SaPair& p, bool a, uint32_t index = 0) {
  side(p, a).rekey_child(index, p.now);
  p.collect();
}
void rekey_ike(SaPair& p, bool a) {
  side(p, a).rekey_ike(p.now);
  p.collect();
}

size_t live_children(const IkeSa& sa) {
  size_t n = 0;
  for (const Child* c : sa.children()) n += c->live() ? 1 : 0;
  return n;
}

// The two sides' pairs of CHILD_SA `index` are one ESP pair: crosswise SPIs, and the keys each
// kernel got agree (A's inbound key is B's outbound key and the other way round).
void expect_agree(SaPair& p, uint32_t index = 0) {
  const Child* ca = p.a->child(index);
  const Child* cb = p.b->child(index);
  ASSERT_TRUE(ca && cb) << "CHILD_SA " << index << why(p);
  EXPECT_EQ(ca->sa.spi_in, cb->sa.spi_out);
  EXPECT_EQ(ca->sa.spi_out, cb->sa.spi_in);
  ASSERT_TRUE(p.ka.inbound.count(ca->sa.spi_in) && p.ka.outbound.count(ca->sa.spi_out)) << hex(ca->sa.spi_in);
  ASSERT_TRUE(p.kb.inbound.count(cb->sa.spi_in) && p.kb.outbound.count(cb->sa.spi_out)) << hex(cb->sa.spi_in);
  EXPECT_EQ(p.ka.inbound.at(ca->sa.spi_in).key, p.kb.outbound.at(cb->sa.spi_out).key);
  EXPECT_EQ(p.ka.outbound.at(ca->sa.spi_out).key, p.kb.inbound.at(cb->sa.spi_in).key);
  EXPECT_NE(p.ka.inbound.at(ca->sa.spi_in).key, p.ka.outbound.at(ca->sa.spi_out).key);
  EXPECT_EQ(ca->sa.local_ts, cb->sa.remote_ts);
  EXPECT_EQ(ca->sa.remote_ts, cb->sa.local_ts);
}

// The IKE SAs agree on the current generation (SPIs and keys), the other side being the initiator's peer.
void expect_same_ike_sa(SaPair& p) {
  const Generation* ga = p.a->current();
  const Generation* gb = p.b->current();
  ASSERT_TRUE(ga && gb) << why(p);
  EXPECT_EQ(ga->spi_i, gb->spi_i);
  EXPECT_EQ(ga->spi_r, gb->spi_r);
  EXPECT_NE(ga->initiator, gb->initiator);
  EXPECT_TRUE(constant_time_equal(ga->keys.sk_d.bytes(), gb->keys.sk_d.bytes()));
  EXPECT_TRUE(constant_time_equal(ga->out().bytes(), gb->in().bytes()));
}

// A message sealed with `sender`'s current keys, as `sender` would send it.
Bytes seal_as(IkeSa& sender, Exchange exchange, bool response, uint32_t id, const std::vector<Payload>& inner, uint64_t iv) {
  Generation& g = *sender.current_generation();
  const Header h{g.spi_i, g.spi_r, kSk, exchange, static_cast<uint8_t>(g.role() | (response ? kFlagResponse : 0)), id, 0};
  return seal(g.out(), h, inner.empty() ? kNoNext : inner.front().type, serialize_payloads(inner), iv);
}

Flight flight(SaPair& p, bool to_b, Bytes data) {
  Flight f;
  f.to_b = to_b;
  f.out = {std::move(data), to_b ? p.a_addr : p.b_addr, to_b ? p.b_addr : p.a_addr, false};
  if (auto m = parse(f.out.data)) f.message = std::move(*m);
  return f;
}

Verdict drop_to_b(const Flight& f) { return f.to_b ? Verdict::drop : Verdict::deliver; }

// ---- Establishment ----

TEST(IkeSaEstablish, BothSidesInstallTheFirstChildSaWithMatchingSpis) {
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  // A: IKE_SA_INIT (message ID 0) then IKE_AUTH (1), once each; B answered each once.
  const auto a_sent = p.sent(true), b_sent = p.sent(false);
  ASSERT_EQ(a_sent.size(), 2u);
  EXPECT_TRUE(a_sent[0]->is(Exchange::ike_sa_init, true));
  EXPECT_EQ(a_sent[0]->id(), 0u);
  EXPECT_TRUE(a_sent[1]->is(Exchange::ike_auth, true));
  EXPECT_EQ(a_sent[1]->id(), 1u);
  EXPECT_TRUE(a_sent[1]->message->header.flags & kFlagInitiator);
  ASSERT_EQ(b_sent.size(), 2u);
  EXPECT_TRUE(b_sent[0]->is(Exchange::ike_sa_init, false));
  EXPECT_TRUE(b_sent[1]->is(Exchange::ike_auth, false));
  EXPECT_FALSE(b_sent[1]->message->header.flags & kFlagInitiator);
  // The kernel of each: ALLOCSPI, inbound SA, outbound SA, policies.
  const Ops first = {"allocate", "inbound", "outbound", "policies"};
  EXPECT_EQ(p.ka.ops(), first);
  EXPECT_EQ(p.kb.ops(), first);
  const Child* ca = p.a->child(0);
  const Child* cb = p.b->child(0);
  ASSERT_TRUE(ca && cb);
  EXPECT_EQ(ca->sa.spi_in, 0xa0000001u);
  EXPECT_EQ(cb->sa.spi_in, 0xb0000001u);
  expect_agree(p);
  EXPECT_EQ(ca->sa.local_ts, cidr("10.1.0.0/16"));
  EXPECT_EQ(ca->sa.remote_ts, cidr("10.2.0.0/16"));
  EXPECT_EQ(p.ka.policies.at(0).first, cidr("10.1.0.0/16"));
  EXPECT_EQ(p.kb.policies.at(0).first, cidr("10.2.0.0/16"));
  EXPECT_EQ(ca->sa.local, p.a_addr);
  EXPECT_EQ(ca->sa.remote, p.b_addr);
  EXPECT_FALSE(ca->sa.encapsulated || cb->sa.encapsulated);
  expect_same_ike_sa(p);
  EXPECT_TRUE(p.a->current()->initiator);
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::up), 1u);
  EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::up), 1u);
  // Nothing is scheduled: no lifetimes, no liveness checks, no NAT.
  EXPECT_EQ(p.next_timer(), Time::max());
  expect_clean(p);
}

// Each suite establishes, rekeys a CHILD_SA and the IKE SA (one each way), then a CHILD_SA on the
// rekeyed IKE SA, and both sides always derive the same keys.
class IkeSaSuites : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(IkeSaSuites, EstablishRekeyAndAgree) {
  auto s = parse_suite(GetParam().first, GetParam().second);
  ASSERT_TRUE(s.ok()) << s.error().message;
  SaPair p(*s);
  p.a_config.pfs_group = p.b_config.pfs_group = s->dh_group;
  ASSERT_TRUE(p.establish()) << why(p);
  expect_agree(p);
  rekey_child(p, true);
  p.pump();
  expect_agree(p);
  rekey_ike(p, false);
  p.pump();
  expect_same_ike_sa(p);
  rekey_child(p, false);
  p.pump();
  expect_agree(p);
  EXPECT_EQ(p.ka.inbound.size(), 1u);
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 2u);
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::ike_rekeyed), 1u);
  if (!s->esp_aead()) {  // AES-CBC: an HMAC key after each encryption key
    const auto& k = p.ka.inbound.begin()->second.key;
    EXPECT_EQ(k.size(), s->esp_key_size() + integ_key_size(s->esp_integ));
  }
  if (!s->aead()) {
    EXPECT_TRUE(constant_time_equal(p.a->current()->keys.sk_ei.integ_key().bytes(), p.b->current()->keys.sk_ei.integ_key().bytes()));
    EXPECT_FALSE(p.a->current()->keys.sk_ei.integ_key().empty());
  }
  expect_clean(p);
}

INSTANTIATE_TEST_SUITE_P(Suites, IkeSaSuites,
                         ::testing::Values(std::pair{"aes128gcm16-prfsha256-curve25519", "aes128gcm16"},
                                           std::pair{"aes256gcm16-prfsha384-ecp256", "aes256gcm16-esn"},
                                           std::pair{"aes256-sha384-ecp384", "aes128-sha256"},
                                           std::pair{"aes128gcm16-prfsha256-modp2048", "aes128gcm16"}),
                         [](const auto& param_info) {
                           std::string n = param_info.param.first;
                           for (auto& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

// ---- IKE_SA_INIT retries ----

// The dispatcher asks for a COOKIE (RFC 7296 2.6): the initiator sends IKE_SA_INIT again, with
// message ID 0, the same SPI, the COOKIE first and otherwise the same payloads.
TEST(IkeSaInit, CookieIsSentBackFirstWithMessageIdZero) {
  SaPair p;
  p.start();
  ASSERT_EQ(p.wire.size(), 1u);
  const Flight first = p.wire.front();
  p.wire.clear();
  const Bytes cookie = {0xc0, 0x0c, 0x1e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  const uint64_t spi_i = first.message->header.spi_i;
  p.deliver(flight(p, false, serialize({spi_i, 0, 0, Exchange::ike_sa_init, kFlagResponse, 0, 0},
                                       {{kNotify, false, encode_notify({0, {}, kNotifyCookie, cookie})}})));
  ASSERT_EQ(p.wire.size(), 1u);
  const Flight again = p.wire.front();
  ASSERT_TRUE(again.is(Exchange::ike_sa_init, true));
  EXPECT_EQ(again.id(), 0u);
  EXPECT_EQ(again.message->header.spi_i, spi_i);
  EXPECT_EQ(again.message->header.spi_r, 0u);
  const auto& payloads = again.message->payloads;
  ASSERT_EQ(payloads.size(), first.message->payloads.size() + 1);
  ASSERT_EQ(payloads[0].type, kNotify);
  auto n = decode_notify(payloads[0].body);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->type, kNotifyCookie);
  EXPECT_EQ(n->data, cookie);
  for (size_t i = 0; i < first.message->payloads.size(); ++i) {
    EXPECT_EQ(payloads[i + 1].type, first.message->payloads[i].type);
    EXPECT_EQ(payloads[i + 1].body, first.message->payloads[i].body) << "payload " << i + 1 << " changed";
  }
  // The responder takes the request with the COOKIE; AUTH signs that one.
  p.pump();
  EXPECT_TRUE(p.established()) << why(p);
  expect_clean(p);
}

TEST(IkeSaInit, GivesUpAfterThreeCookies) {
  SaPair p;
  p.start();
  const uint64_t spi_i = p.wire.front().message->header.spi_i;
  for (int i = 0; i < 4; ++i) {
    p.wire.clear();
    ASSERT_NE(p.a->state(), SaState::closed) << "after " << i << " COOKIEs";
    p.deliver(flight(p, false, serialize({spi_i, 0, 0, Exchange::ike_sa_init, kFlagResponse, 0, 0},
                                         {{kNotify, false, encode_notify({0, {}, kNotifyCookie, Bytes(16, static_cast<uint8_t>(i))})}})));
  }
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_TRUE(p.wire.empty());
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::down), 1u);
}

// A responder configured with another DH group refuses with INVALID_KE_PAYLOAD naming its own;
// the initiator, which offers that group in its second proposal (its KE is for the first's),
// sends IKE_SA_INIT again with it and the SA comes up with it.
TEST(IkeSaInit, InvalidKePayloadRetriesWithTheResponderGroup) {
  SaPair p;  // A offers curve25519 (31) first, then ecp256 (19); B takes ecp256 only
  p.a_config.ike_offers = {p.a_config.suite, suite("aes128gcm16-prfsha256-ecp256")};
  p.b_config.suite = suite("aes128gcm16-prfsha256-ecp256");
  p.start();
  p.pump();
  ASSERT_TRUE(p.refused.has_value());
  EXPECT_NE(p.refused->message.find("asking for group 19"), std::string::npos) << p.refused->message;
  const auto requests = p.sent(true, [](const Flight& f) { return f.is(Exchange::ike_sa_init, true); });
  ASSERT_EQ(requests.size(), 2u);
  const auto refusal = p.sent(false).front();
  ASSERT_TRUE(refusal->is(Exchange::ike_sa_init, false));
  ASSERT_TRUE(refusal->notify(kNotifyInvalidKe).has_value());
  EXPECT_EQ(refusal->notify(kNotifyInvalidKe)->data, (Bytes{0, 19}));
  EXPECT_EQ(decode_ke(requests[0]->message->find(kKe)->body)->group, 31);
  EXPECT_EQ(decode_ke(requests[1]->message->find(kKe)->body)->group, 19);
  EXPECT_EQ(requests[1]->id(), 0u);
  EXPECT_EQ(requests[1]->message->header.spi_i, requests[0]->message->header.spi_i);
  ASSERT_TRUE(p.established()) << why(p);
  EXPECT_EQ(p.a->config().suite.dh_group, 19);
  expect_same_ike_sa(p);
  expect_agree(p);
  // Its rekeys use the group too.
  rekey_ike(p, true);
  p.pump();
  expect_same_ike_sa(p);
  auto rekey = p.sent(true, [](const Flight& f) { return f.rekeys_ike(); });
  ASSERT_EQ(rekey.size(), 1u);
  EXPECT_EQ(rekey[0]->create_child()->ke_group, 19);
  expect_clean(p);
}

// With one group each and nothing in common the responder has no proposal to choose.
TEST(IkeSaInit, NoProposalChosenWhenTheGroupsDiffer) {
  SaPair p;
  p.b_config.suite = suite("aes128gcm16-prfsha256-ecp256");
  p.start();
  p.pump();
  ASSERT_TRUE(p.refused.has_value());
  EXPECT_FALSE(p.b);
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("NO_PROPOSAL_CHOSEN"), std::string::npos) << p.a->failure().message;
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::down), 1u);
  EXPECT_TRUE(p.ka.calls.empty());
}

// ---- Retransmission ----

// The schedule of RetransmitConfig's defaults: 4 s, then 1.8 times the previous wait, five
// retransmissions, then one more wait before giving up (4, 11.2, 24.16, 47.488, 89.478, 165.06 s).
const std::vector<int64_t> kSchedule = {0, 4000, 11200, 24160, 47488, 89478};
const int64_t kGiveUp = 165060;

std::vector<int64_t> offsets_ms(const std::vector<const Flight*>& sends, Time from) {
  std::vector<int64_t> out;
  for (const Flight* f : sends) out.push_back(std::chrono::duration_cast<milliseconds>(f->sent_at - from).count());
  return out;
}

TEST(IkeSaRetransmit, ExactScheduleThenTheEstablishedSaIsClosed) {
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  const size_t before = p.history.size();
  p.filter = drop_to_b;
  const Time start = p.now;
  rekey_child(p, true);
  p.pump();
  p.run_until(start + milliseconds(kGiveUp - 1));
  EXPECT_EQ(p.a->state(), SaState::established) << "given up early: " << p.a->failure().message;
  EXPECT_TRUE(p.events_a.back().kind != SaEventKind::down);
  p.run_until(start + milliseconds(kGiveUp));
  std::vector<const Flight*> sends;
  for (size_t i = before; i < p.history.size(); ++i) {
    if (p.history[i].to_b) sends.push_back(&p.history[i]);
  }
  EXPECT_EQ(offsets_ms(sends, start), kSchedule);
  for (const Flight* f : sends) EXPECT_EQ(f->out.data, sends.front()->out.data) << "a retransmission is the same datagram";
  ASSERT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("is dead"), std::string::npos) << p.a->failure().message;
  EXPECT_EQ(p.a->failure().code, ETIMEDOUT);
  ASSERT_EQ(p.events_a.back().kind, SaEventKind::down);
  EXPECT_NE(p.events_a.back().text.find("is dead"), std::string::npos);
  // Every kernel object of A is gone, the rekey's larval SA too; B knows nothing of it.
  EXPECT_TRUE(p.ka.empty()) << p.ka.inbound.size() << " inbound, " << p.ka.larval.size() << " larval";
  EXPECT_EQ(p.ka.count(Op::remove_policies), 1u);
  EXPECT_EQ(p.b->state(), SaState::established);
  EXPECT_EQ(p.next_timer() > p.now, true);
  expect_clean(p);
}

TEST(IkeSaRetransmit, UnansweredIkeSaInitGivesUpOnTheSameSchedule) {
  SaPair p;
  p.filter = [](const Flight&) { return Verdict::drop; };
  p.start();
  p.pump();
  p.run_until(p.t0 + milliseconds(kGiveUp - 1));
  EXPECT_EQ(p.a->state(), SaState::connecting);
  p.run_until(p.t0 + milliseconds(kGiveUp));
  EXPECT_EQ(offsets_ms(p.sent(true), p.t0), kSchedule);
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("is dead"), std::string::npos) << p.a->failure().message;
  ASSERT_FALSE(p.events_a.empty());
  EXPECT_EQ(p.events_a.back().kind, SaEventKind::down);
  EXPECT_TRUE(p.ka.calls.empty());
  EXPECT_EQ(p.a->next_timer(), Time::max());
}

TEST(IkeSaRetransmit, JitterOnlyShortensEachWait) {
  SaPair p;
  p.a_config.retransmit.jitter = 0.5;
  p.filter = [](const Flight&) { return Verdict::drop; };
  p.start();
  p.pump();
  p.run_until(p.t0 + milliseconds(kGiveUp));
  EXPECT_EQ(p.a->state(), SaState::closed);
  const auto at = offsets_ms(p.sent(true), p.t0);
  ASSERT_EQ(at.size(), kSchedule.size());
  bool shorter = false;
  for (size_t i = 1; i < at.size(); ++i) {
    const int64_t full = kSchedule[i] - kSchedule[i - 1];
    const int64_t waited = at[i] - at[i - 1];
    EXPECT_LE(waited, full) << "wait " << i;
    EXPECT_GE(waited, full / 2 - 1) << "wait " << i;
    shorter = shorter || waited < full;
  }
  EXPECT_TRUE(shorter);
}

// ---- The message-ID window and the response cache ----

TEST(IkeSaMessageIds, UnexpectedRequestsAreDroppedRetransmissionsGetTheCachedResponse) {
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  // B expects A's request 2 next (IKE_AUTH was 1): 3, 7 and 0 are dropped unanswered.
  for (uint32_t id : {3u, 7u, 0u}) {
    const size_t sent = p.history.size();
    p.deliver(flight(p, true, seal_as(*p.a, Exchange::informational, false, id, {}, 1000 + id)));
    EXPECT_EQ(p.history.size(), sent) << "request " << id << " was answered";
  }
  // A response to nothing A asked (A has no request outstanding) changes nothing either.
  p.deliver(flight(p, false, seal_as(*p.b, Exchange::informational, true, 2, {}, 2000)));
  EXPECT_EQ(p.a->state(), SaState::established);
  EXPECT_TRUE(p.wire.empty());

  // A's CHILD_SA rekey (request 2): B's response is held, A retransmits after 4 s and B answers
  // that from its cache, byte for byte, without creating another CHILD_SA.
  p.filter = [](const Flight& f) { return f.to_b ? Verdict::deliver : Verdict::hold; };
  const size_t b_calls = p.kb.calls.size();
  rekey_child(p, true);
  p.pump();
  ASSERT_EQ(p.held.size(), 1u);
  EXPECT_EQ(p.held[0].id(), 2u);
  EXPECT_EQ(p.kb.ops(b_calls), (Ops{"allocate", "inbound"}));
  const size_t b_after_first = p.kb.calls.size();
  p.run_for(4000ms);
  const auto requests = p.sent(true, [](const Flight& f) { return f.is(Exchange::create_child_sa, true); });
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0]->out.data, requests[1]->out.data);
  ASSERT_EQ(p.held.size(), 2u);
  EXPECT_EQ(p.held[0].out.data, p.held[1].out.data) << "the retransmitted request's answer is the cached response";
  EXPECT_EQ(p.kb.calls.size(), b_after_first) << "the retransmitted request was processed again";
  EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::child_rekeyed), 1u);
  // Both responses reach A: the first completes the rekey, the second is a stale duplicate.
  p.filter = nullptr;
  p.release();
  p.pump();
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 1u);
  EXPECT_EQ(p.ka.count(Op::allocate), 2u);
  expect_agree(p);
  EXPECT_EQ(p.ka.inbound.size(), 1u);
  EXPECT_EQ(p.kb.inbound.size(), 1u);
  expect_clean(p);
}

// ---- CHILD_SA rekey ----

class IkeSaByEitherSide : public ::testing::TestWithParam<bool> {};  // true: A does it
std::string side_name(const ::testing::TestParamInfo<bool>& info) { return info.param ? "Initiator" : "Responder"; }

TEST_P(IkeSaByEitherSide, ChildSaRekeyIsMakeBeforeBreak) {
  const bool by_a = GetParam();
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  const uint32_t old_a_in = p.a->child(0)->sa.spi_in, old_b_in = p.b->child(0)->sa.spi_in;
  const size_t ca = p.ka.calls.size(), cb = p.kb.calls.size(), h = p.history.size();
  rekey_child(p, by_a);
  p.pump();
  // The rekeying side: new inbound SA, new outbound SA, then the old pair goes when the peer
  // answered its Delete. The peer: new inbound SA at once, its outbound SA when the Delete
  // comes, then the old pair. No policy is touched.
  const Ops order = {"allocate", "inbound", "outbound", "remove"};
  EXPECT_EQ(p.ka.ops(ca), order);
  EXPECT_EQ(p.kb.ops(cb), order);
  EXPECT_EQ(p.ka.calls.back().spi_in, old_a_in);
  EXPECT_EQ(p.kb.calls.back().spi_in, old_b_in);
  expect_agree(p);
  EXPECT_NE(p.a->child(0)->sa.spi_in, old_a_in);
  EXPECT_FALSE(p.ka.inbound.count(old_a_in) || p.ka.outbound.count(old_b_in));
  EXPECT_EQ(p.ka.inbound.size(), 1u);
  EXPECT_EQ(p.kb.outbound.size(), 1u);
  EXPECT_EQ(p.a->children().size(), 1u);
  EXPECT_EQ(p.b->children().size(), 1u);
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 1u);
  EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::child_rekeyed), 1u);
  // The exchanges: CREATE_CHILD_SA with REKEY_SA naming the old pair, then INFORMATIONAL with
  // the Delete of the rekeying side's old inbound SA, answered with the peer's.
  std::vector<const Flight*> f;
  for (size_t i = h; i < p.history.size(); ++i) f.push_back(&p.history[i]);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_TRUE(f[0]->to_b == by_a && f[0]->rekeys_child());
  EXPECT_EQ(f[0]->create_child()->rekey_spi, by_a ? old_a_in : old_b_in);
  EXPECT_TRUE(f[1]->is(Exchange::create_child_sa, false));
  EXPECT_TRUE(f[2]->to_b == by_a && f[2]->deletes(kProtocolEsp));
  EXPECT_EQ(decode_delete(f[2]->find(kDelete)->body)->spis, std::vector<uint32_t>{by_a ? old_a_in : old_b_in});
  EXPECT_EQ(decode_delete(f[3]->find(kDelete)->body)->spis, std::vector<uint32_t>{by_a ? old_b_in : old_a_in});
  EXPECT_EQ(f[2]->id(), f[0]->id() + 1);
  expect_clean(p);
}

// The Delete of the old pair is late: the peer of the rekey installs its new outbound SA after
// 5 s anyway, and removes the old pair only when the Delete comes.
TEST_P(IkeSaByEitherSide, PeerInstallsItsOutboundSaAfterFiveSecondsWithoutTheDelete) {
  const bool by_a = GetParam();
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  FakeKernel& peer = kernel(p, !by_a);
  p.filter = [&](const Flight& f) { return f.to_b == by_a && f.deletes(kProtocolEsp) ? Verdict::hold : Verdict::deliver; };
  const Time start = p.now;
  const size_t c = peer.calls.size();
  rekey_child(p, by_a);
  p.pump();
  EXPECT_EQ(peer.ops(c), (Ops{"allocate", "inbound"}));
  p.run_until(start + 4999ms);
  EXPECT_EQ(peer.ops(c), (Ops{"allocate", "inbound"}));
  p.run_until(start + 5000ms);
  EXPECT_EQ(peer.ops(c), (Ops{"allocate", "inbound", "outbound"}));
  EXPECT_EQ(peer.outbound.size(), 2u);
  p.filter = nullptr;
  p.release();
  p.pump();
  EXPECT_EQ(peer.ops(c), (Ops{"allocate", "inbound", "outbound", "remove"}));
  expect_agree(p);
  expect_clean(p);
}

// ---- IKE SA rekey ----

TEST_P(IkeSaByEitherSide, IkeSaRekeyKeepsTheChildrenAndDeletesTheOldSa) {
  const bool by_a = GetParam();
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  const uint64_t old_i = p.a->current()->spi_i, old_r = p.a->current()->spi_r;
  const uint32_t child_a = p.a->child(0)->sa.spi_in;
  const size_t ca = p.ka.calls.size(), cb = p.kb.calls.size(), h = p.history.size();
  rekey_ike(p, by_a);
  p.pump();
  expect_same_ike_sa(p);
  EXPECT_NE(p.a->current()->spi_i, old_i);
  EXPECT_NE(p.a->current()->spi_r, old_r);
  EXPECT_EQ(side(p, by_a).current()->initiator, true) << "the rekey's initiator is the new IKE SA's";
  EXPECT_EQ(p.a->generations().size(), 1u);
  EXPECT_EQ(p.b->generations().size(), 1u);
  EXPECT_EQ(p.a->local_spis(), std::vector<uint64_t>{p.a->current()->our_spi()});
  // The CHILD_SAs stay as they were.
  EXPECT_EQ(p.ka.calls.size(), ca);
  EXPECT_EQ(p.kb.calls.size(), cb);
  EXPECT_EQ(p.a->child(0)->sa.spi_in, child_a);
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::ike_rekeyed), 1u);
  EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::ike_rekeyed), 1u);
  // CREATE_CHILD_SA on the old SA, then its Delete on the old SA.
  ASSERT_EQ(p.history.size(), h + 4);
  const Flight& req = p.history[h];
  EXPECT_TRUE(req.to_b == by_a && req.rekeys_ike());
  EXPECT_EQ(req.message->header.spi_i, old_i);
  const Flight& del = p.history[h + 2];
  EXPECT_TRUE(del.to_b == by_a && del.deletes(kProtocolIke));
  EXPECT_EQ(del.message->header.spi_i, old_i);
  EXPECT_EQ(del.message->header.spi_r, old_r);
  EXPECT_TRUE(p.history[h + 3].response());
  // The new SA carries on from message ID 0: the other side rekeys the CHILD_SA on it.
  const size_t h2 = p.history.size();
  rekey_child(p, !by_a);
  p.pump();
  ASSERT_GT(p.history.size(), h2);
  EXPECT_EQ(p.history[h2].message->header.spi_i, p.a->current()->spi_i);
  EXPECT_EQ(p.history[h2].id(), 0u);
  expect_agree(p);
  expect_clean(p);
}

TEST(IkeSaRekey, TheRekeyedIkeSaKeysGoToTheKeyLog) {
  const auto dir = std::filesystem::temp_directory_path() / ("sedge-sa-keylog-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto log = KeyLog::open(dir.string());
  ASSERT_TRUE(log.ok()) << log.error().message;
  SaPair p;
  p.a_key_log = log->get();
  ASSERT_TRUE(p.establish()) << why(p);
  rekey_ike(p, false);  // A is the rekey's responder: it logs the new SA as it answers
  p.pump();
  const Generation* g = p.a->current();
  std::ifstream in(dir / "ikev2_decryption_table");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find(KeyLog::ike_line(g->spi_i, g->spi_r, g->keys)), std::string::npos) << text.str();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Sides, IkeSaByEitherSide, ::testing::Values(true, false), side_name);

// ---- Collisions ----

// Both sides start the same rekey at once: both requests are held until each side has sent
// its own, then each is delivered to the other before any response, so each side answers the
// peer's request while its own is outstanding (RFC 7296 2.8.1, 2.8.2).
struct Collided {
  Flight a_request, b_request;
  std::optional<Flight> a_response;  // B's answer to A's request
  std::optional<Flight> b_response;  // A's answer to B's request
};

Collided collide(SaPair& p, bool ike) {
  Collided c;
  p.filter = [](const Flight&) { return Verdict::hold; };
  if (ike) {
    rekey_ike(p, true);
    rekey_ike(p, false);
  } else {
    rekey_child(p, true);
    rekey_child(p, false);
  }
  p.pump();
  EXPECT_EQ(p.held.size(), 2u);
  if (p.held.size() != 2u) return c;
  c.a_request = p.held[0].to_b ? p.held[0] : p.held[1];
  c.b_request = p.held[0].to_b ? p.held[1] : p.held[0];
  p.held.clear();
  p.deliver(c.b_request);  // A answers B's request; its response is held
  p.deliver(c.a_request);  // B answers A's
  p.pump();
  for (const auto& f : p.history) {
    if (f.is(Exchange::create_child_sa, false) && f.to_b && f.id() == c.b_request.id()) c.b_response = f;
    if (f.is(Exchange::create_child_sa, false) && !f.to_b && f.id() == c.a_request.id()) c.a_response = f;
  }
  p.filter = nullptr;
  p.release();
  p.pump();
  return c;
}

// The nonces decide: the exchange with the lowest of the four created the redundant SA.
bool a_exchange_lost(const Collided& c) {
  auto ni_a = c.a_request.create_child(), ni_b = c.b_request.create_child();
  auto nr_b = c.a_response->create_child(), nr_a = c.b_response->create_child();
  return lowest_nonce_in(ni_a->nonce, nr_b->nonce, ni_b->nonce, nr_a->nonce);
}

TEST(IkeSaCollision, ChildSaRekeyCollisionLeavesOnePairBothAgreeOn) {
  bool a_won = false, b_won = false;
  for (int run = 0; run < 40 && !(a_won && b_won); ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    SaPair p;
    ASSERT_TRUE(p.establish()) << why(p);
    const Collided c = collide(p, false);
    ASSERT_TRUE(c.a_response && c.b_response) << why(p);
    ASSERT_TRUE(c.a_request.rekeys_child() && c.b_request.rekeys_child());
    const bool a_lost = a_exchange_lost(c);
    (a_lost ? b_won : a_won) = true;
    // The surviving pair is the one the winner's exchange created: its SPIs are the winner's
    // request's and the loser's response's.
    const uint32_t req_spi = spi_of((a_lost ? c.b_request : c.a_request).create_child()->proposals.front().spi);
    const uint32_t resp_spi = spi_of((a_lost ? *c.b_response : *c.a_response).create_child()->proposals.front().spi);
    ASSERT_TRUE(p.a->child(0) && p.b->child(0)) << why(p);
    EXPECT_EQ(p.a->child(0)->sa.spi_in, a_lost ? resp_spi : req_spi);
    EXPECT_EQ(p.b->child(0)->sa.spi_in, a_lost ? req_spi : resp_spi);
    expect_agree(p);
    // Exactly one pair left on each side, in the kernel too; each side made two new pairs.
    EXPECT_EQ(p.a->children().size(), 1u);
    EXPECT_EQ(p.b->children().size(), 1u);
    EXPECT_EQ(p.ka.inbound.size(), 1u);
    EXPECT_EQ(p.ka.outbound.size(), 1u);
    EXPECT_EQ(p.kb.inbound.size(), 1u);
    EXPECT_EQ(p.kb.outbound.size(), 1u);
    EXPECT_TRUE(p.ka.larval.empty() && p.kb.larval.empty());
    EXPECT_EQ(p.ka.count(Op::allocate), 3u);
    EXPECT_EQ(p.kb.count(Op::allocate), 3u);
    EXPECT_EQ(p.ka.policies.size(), 1u);
    EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 2u);
    EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::child_rekeyed), 2u);
    // And the survivor can be rekeyed again.
    rekey_child(p, !a_lost);
    p.pump();
    expect_agree(p);
    EXPECT_EQ(p.ka.inbound.size(), 1u);
    expect_clean(p);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_TRUE(a_won && b_won) << "both outcomes should have come up in 40 runs";
}

TEST(IkeSaCollision, IkeSaRekeyCollisionLeavesOneIkeSaBothAgreeOn) {
  bool a_won = false, b_won = false;
  for (int run = 0; run < 40 && !(a_won && b_won); ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    SaPair p;
    ASSERT_TRUE(p.establish()) << why(p);
    const uint64_t old_i = p.a->current()->spi_i;
    const size_t ca = p.ka.calls.size(), cb = p.kb.calls.size();
    const Collided c = collide(p, true);
    ASSERT_TRUE(c.a_response && c.b_response) << why(p);
    ASSERT_TRUE(c.a_request.rekeys_ike() && c.b_request.rekeys_ike());
    const bool a_lost = a_exchange_lost(c);
    (a_lost ? b_won : a_won) = true;
    // The surviving IKE SA: SPIi from the winner's request, SPIr from the loser's response.
    const uint64_t spi_i = spi64_of((a_lost ? c.b_request : c.a_request).create_child()->proposals.front().spi);
    const uint64_t spi_r = spi64_of((a_lost ? *c.b_response : *c.a_response).create_child()->proposals.front().spi);
    ASSERT_EQ(p.a->state(), SaState::established) << why(p);
    ASSERT_EQ(p.b->state(), SaState::established) << why(p);
    expect_same_ike_sa(p);
    EXPECT_EQ(p.a->current()->spi_i, spi_i);
    EXPECT_EQ(p.a->current()->spi_r, spi_r);
    EXPECT_NE(p.a->current()->spi_i, old_i);
    EXPECT_EQ(p.a->current()->initiator, !a_lost);
    EXPECT_EQ(p.a->generations().size(), 1u) << "the old and the redundant IKE SA are deleted";
    EXPECT_EQ(p.b->generations().size(), 1u);
    // Two Deletes of IKE SAs: the winner's of the old one, the loser's of its redundant one.
    EXPECT_EQ(p.sent(true, [](const Flight& f) { return f.request() && f.deletes(kProtocolIke); }).size(), 1u);
    EXPECT_EQ(p.sent(false, [](const Flight& f) { return f.request() && f.deletes(kProtocolIke); }).size(), 1u);
    EXPECT_EQ(p.ka.calls.size(), ca);
    EXPECT_EQ(p.kb.calls.size(), cb);
    // The survivor works: a CHILD_SA rekey on it.
    rekey_child(p, a_lost);
    p.pump();
    expect_agree(p);
    EXPECT_EQ(p.ka.inbound.size(), 1u);
    expect_clean(p);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_TRUE(a_won && b_won) << "both outcomes should have come up in 40 runs";
}

// ---- More CHILD_SAs ----

TEST(IkeSaChildren, CreateChildrenNarrowedToTheResponderSelectors) {
  SaPair p;
  // A asks for 11.0.0.0/8 <=> 21.0.0.5, which B narrows to 11.0.0.0/24 on A's side, and for
  // 12.0.0.0/8 <=> 22.0.0.0/8, which fits none of B's selectors (TS_UNACCEPTABLE).
  p.a_config.create_children = {{cidr("11.0.0.0/8"), cidr("21.0.0.5/32")}, {cidr("12.0.0.0/8"), cidr("22.0.0.0/8")}};
  p.b_config.local_ts = {cidr("10.2.0.0/16"), cidr("21.0.0.0/8")};
  p.b_config.remote_ts = {cidr("10.1.0.0/16"), cidr("11.0.0.0/24")};
  ASSERT_TRUE(p.establish()) << why(p);
  ASSERT_TRUE(p.a->child(1) && p.b->child(1)) << why(p);
  expect_agree(p, 1);
  expect_agree(p, 0);
  EXPECT_EQ(p.a->child(1)->sa.local_ts, cidr("11.0.0.0/24"));
  EXPECT_EQ(p.a->child(1)->sa.remote_ts, cidr("21.0.0.5/32"));
  EXPECT_EQ(p.ka.policies.at(1), (SelectorPair{cidr("11.0.0.0/24"), cidr("21.0.0.5/32")}));
  EXPECT_EQ(p.kb.policies.at(1), (SelectorPair{cidr("21.0.0.5/32"), cidr("11.0.0.0/24")}));
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_up), 1u);
  EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::child_up), 1u);
  // The refused one: A gave its larval SA back; B allocated nothing for it.
  const auto refusals = p.sent(false, [](const Flight& f) { return f.notify(kNotifyTsUnacceptable).has_value(); });
  EXPECT_EQ(refusals.size(), 1u);
  EXPECT_TRUE(p.ka.larval.empty());
  EXPECT_EQ(p.ka.count(Op::allocate), 3u);
  EXPECT_EQ(p.kb.count(Op::allocate), 2u);
  EXPECT_EQ(p.ka.policies.size(), 2u);
  EXPECT_EQ(p.a->state(), SaState::established);
  // The new CHILD_SA rekeys on its own, make-before-break, leaving CHILD_SA 0 alone.
  const size_t ca = p.ka.calls.size();
  rekey_child(p, false, 1);
  p.pump();
  for (size_t i = ca; i < p.ka.calls.size(); ++i) EXPECT_EQ(p.ka.calls[i].index, 1u);
  expect_agree(p, 1);
  expect_agree(p, 0);
  expect_clean(p);
}

// A responder whose tunnel lists no extra selectors takes CHILD_SAs within the tunnel's own.
TEST(IkeSaChildren, ResponderWithoutSelectorListsUsesTheTunnelSelectors) {
  SaPair p;
  p.a_config.create_children = {{cidr("10.1.5.0/24"), cidr("10.2.7.0/24")}};
  ASSERT_TRUE(p.establish()) << why(p);
  ASSERT_TRUE(p.a->child(1) && p.b->child(1)) << why(p) << (p.sent(false).empty() ? "" : "");
  expect_agree(p, 1);
  EXPECT_EQ(p.kb.policies.at(1), (SelectorPair{cidr("10.2.7.0/24"), cidr("10.1.5.0/24")}));
  expect_clean(p);
}

TEST(IkeSaChildren, ResponderCreatesItsChildrenToo) {
  SaPair p;
  p.b_config.create_children = {{cidr("10.2.9.0/24"), cidr("10.1.9.0/24")}};
  ASSERT_TRUE(p.establish()) << why(p);
  ASSERT_TRUE(p.a->child(1) && p.b->child(1)) << why(p);
  expect_agree(p, 1);
  EXPECT_EQ(p.ka.policies.at(1), (SelectorPair{cidr("10.1.9.0/24"), cidr("10.2.9.0/24")}));
  expect_clean(p);
}

TEST(IkeSaChildren, NoAdditionalSasBeyondMaxChildren) {
  SaPair p;
  p.b_config.max_children = 1;
  p.a_config.create_children = {{cidr("10.1.1.0/24"), cidr("10.2.1.0/24")}};
  ASSERT_TRUE(p.establish()) << why(p);
  const auto refusals = p.sent(false, [](const Flight& f) { return f.notify(kNotifyNoAdditionalSas).has_value(); });
  EXPECT_EQ(refusals.size(), 1u);
  EXPECT_EQ(p.a->state(), SaState::established);
  EXPECT_EQ(p.a->child(1), nullptr);
  EXPECT_EQ(live_children(*p.a), 1u);
  EXPECT_EQ(p.ka.ops(), (Ops{"allocate", "inbound", "outbound", "policies", "allocate", "remove"}));
  EXPECT_TRUE(p.ka.larval.empty()) << "the refused CHILD_SA's larval SA is given back";
  EXPECT_EQ(p.kb.ops(), (Ops{"allocate", "inbound", "outbound", "policies"}));
  // Given up, not retried.
  p.run_for(60000ms);
  EXPECT_EQ(p.ka.count(Op::allocate), 2u);
  expect_clean(p);
}

// A CREATE_CHILD_SA that overtakes the IKE_AUTH response: the initiator has not authenticated
// the responder yet and must not install anything for it; the responder tries again later.
TEST(IkeSaChildren, NoChildSaForAPeerNotYetAuthenticated) {
  SaPair p;
  p.b_config.create_children = {{cidr("10.2.9.0/24"), cidr("10.1.9.0/24")}};
  p.filter = [](const Flight& f) { return !f.to_b && f.is(Exchange::ike_auth, false) ? Verdict::hold : Verdict::deliver; };
  p.start();
  p.pump();
  ASSERT_EQ(p.held.size(), 1u);
  ASSERT_EQ(p.b->state(), SaState::established);
  EXPECT_EQ(p.a->state(), SaState::connecting);
  EXPECT_EQ(p.ka.count(Op::inbound), 0u) << "A installed a CHILD_SA for a peer it has not authenticated";
  EXPECT_TRUE(p.ka.policies.empty());
  p.filter = nullptr;
  p.release();
  p.pump();
  p.run_for(10000ms);
  ASSERT_TRUE(p.established()) << why(p);
  ASSERT_TRUE(p.a->child(1) && p.b->child(1)) << why(p);
  expect_agree(p, 1);
  expect_clean(p);
}

// ---- Kernel failures ----

TEST(IkeSaKernel, AllocateSpiFailureDelaysTheRekeyTenSeconds) {
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  p.ka.fail_next[Op::allocate] = 1;
  const size_t h = p.history.size();
  rekey_child(p, true);
  p.pump();
  EXPECT_EQ(p.history.size(), h);
  p.run_until(start + 10000ms);
  const auto rekeys = p.sent(true, [](const Flight& f) { return f.rekeys_child(); });
  ASSERT_EQ(rekeys.size(), 1u);
  EXPECT_EQ(rekeys[0]->sent_at - start, std::chrono::milliseconds(10000));
  expect_agree(p);
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 1u);
  expect_clean(p);
}

TEST(IkeSaKernel, ResponderThatCannotInstallTheFirstChildSaRefusesAndCleansUp) {
  SaPair p;
  p.kb.fail_next[Op::outbound] = 1;
  p.start();
  p.pump();
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_EQ(p.b->state(), SaState::closed);
  EXPECT_TRUE(p.ka.empty());
  EXPECT_TRUE(p.kb.empty());
  expect_clean(p);
}

// ---- Liveness ----

TEST(IkeSaDpd, SilenceSendsAnEmptyInformational) {
  SaPair p;
  p.a_config.dpd_interval = std::chrono::seconds(30);
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  const size_t h = p.history.size();
  p.run_until(start + 29999ms);
  EXPECT_EQ(p.history.size(), h);
  p.run_until(start + 60000ms);
  const auto checks = p.sent(true, [](const Flight& f) { return f.is(Exchange::informational, true); });
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0]->sent_at - start, std::chrono::milliseconds(30000));
  EXPECT_EQ(checks[1]->sent_at - start, std::chrono::milliseconds(60000));
  ASSERT_TRUE(checks[0]->inner.has_value());
  EXPECT_TRUE(checks[0]->inner->empty());
  const auto answers = p.sent(false, [](const Flight& f) { return f.is(Exchange::informational, false); });
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(answers[0]->inner->empty());
  EXPECT_EQ(p.a->state(), SaState::established);
  // Traffic from the peer counts as life: B's rekey at 75 s moves A's next check to 105 s.
  p.run_until(start + 75000ms);
  rekey_child(p, false);
  p.pump();
  const size_t before = checks.size();
  p.run_until(start + 104999ms);
  EXPECT_EQ(p.sent(true, [](const Flight& f) { return f.is(Exchange::informational, true) && f.inner && f.inner->empty(); }).size(), before);
  p.run_until(start + 105000ms);
  EXPECT_EQ(p.sent(true, [](const Flight& f) { return f.is(Exchange::informational, true) && f.inner && f.inner->empty(); }).size(), before + 1);
  expect_clean(p);
}

TEST(IkeSaDpd, AnUnansweredLivenessCheckClosesTheSaAsDead) {
  SaPair p;
  p.a_config.dpd_interval = std::chrono::seconds(30);
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  p.filter = drop_to_b;
  p.run_until(start + 30000ms + milliseconds(kGiveUp - 1));
  EXPECT_EQ(p.a->state(), SaState::established);
  p.run_until(start + 30000ms + milliseconds(kGiveUp));
  ASSERT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("is dead"), std::string::npos) << p.a->failure().message;
  EXPECT_NE(p.a->failure().message.find("liveness check"), std::string::npos) << p.a->failure().message;
  EXPECT_EQ(p.events_a.back().kind, SaEventKind::down);
  EXPECT_TRUE(p.ka.empty());
  expect_clean(p);
}

TEST(IkeSaDpd, DpdTimeoutCapsTheWait) {
  SaPair p;
  p.a_config.dpd_interval = std::chrono::seconds(30);
  p.a_config.dpd_timeout = std::chrono::seconds(20);
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  p.filter = drop_to_b;
  p.run_until(start + 49999ms);
  EXPECT_EQ(p.a->state(), SaState::established);
  p.run_until(start + 50000ms);
  ASSERT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("is dead"), std::string::npos) << p.a->failure().message;
  const auto sends = p.sent(true, [&](const Flight& f) { return f.sent_at > start; });
  EXPECT_EQ(offsets_ms(sends, start), (std::vector<int64_t>{30000, 34000, 41200}));
  EXPECT_TRUE(p.ka.empty());
}

// ---- Deletes ----

TEST_P(IkeSaByEitherSide, DeletingTheIkeSaClosesBothSidesAndRemovesTheChildren) {
  const bool by_a = GetParam();
  SaPair p;
  p.a_config.create_children = {{cidr("10.1.1.0/24"), cidr("10.2.1.0/24")}};
  ASSERT_TRUE(p.establish()) << why(p);
  ASSERT_EQ(p.ka.policies.size(), 2u);
  side(p, by_a).close(p.now);
  p.collect();
  p.pump();
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_EQ(p.b->state(), SaState::closed);
  EXPECT_NE(side(p, !by_a).failure().message.find("the peer deleted the IKE SA"), std::string::npos)
      << side(p, !by_a).failure().message;
  EXPECT_TRUE(p.ka.empty()) << p.ka.inbound.size() << " inbound, " << p.ka.policies.size() << " policies";
  EXPECT_TRUE(p.kb.empty()) << p.kb.inbound.size() << " inbound, " << p.kb.policies.size() << " policies";
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::down), 1u);
  EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::down), 1u);
  const auto deletes = p.sent(by_a, [](const Flight& f) { return f.request() && f.deletes(kProtocolIke); });
  EXPECT_EQ(deletes.size(), 1u);
  EXPECT_EQ(p.next_timer(), Time::max());
  expect_clean(p);
}

// Both sides close at once: each Delete crosses the other's, and each side takes the peer's as
// the end of the IKE SA (found by ike_sa_fuzz: the side left established with no IKE SA keys).
TEST(IkeSaDelete, SimultaneousCloseClosesBothSides) {
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  p.filter = [](const Flight&) { return Verdict::hold; };
  p.a->close(p.now);
  p.b->close(p.now);
  p.collect();
  p.pump();
  ASSERT_EQ(p.held.size(), 2u);
  p.filter = nullptr;
  p.release();
  p.pump();
  EXPECT_EQ(p.a->state(), SaState::closed) << why(p);
  EXPECT_EQ(p.b->state(), SaState::closed) << why(p);
  EXPECT_TRUE(p.ka.empty());
  EXPECT_TRUE(p.kb.empty());
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::down), 1u);
  EXPECT_EQ(SaPair::count(p.events_b, SaEventKind::down), 1u);
  p.run_for(std::chrono::minutes(5));
  expect_clean(p);
}

// ---- Lifetimes ----

TEST(IkeSaLifetime, IkeLifetimeRunningOutWithoutARekeyClosesTheSa) {
  SaPair p;
  p.a_config.ike_lifetime = std::chrono::seconds(60);
  p.a_config.rekey_jitter = 0;
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  p.filter = [](const Flight& f) { return f.to_b && f.rekeys_ike() ? Verdict::drop : Verdict::deliver; };
  p.run_until(start + 59999ms);
  EXPECT_EQ(p.a->state(), SaState::established);
  const auto tries = p.sent(true, [](const Flight& f) { return f.rekeys_ike(); });
  ASSERT_FALSE(tries.empty());
  EXPECT_EQ(tries[0]->sent_at - start, std::chrono::milliseconds(54000)) << "rekey at 90% of the lifetime";
  p.run_until(start + 60000ms);
  ASSERT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("lifetime ran out"), std::string::npos) << p.a->failure().message;
  EXPECT_EQ(p.events_a.back().kind, SaEventKind::down);
  EXPECT_TRUE(p.ka.empty());
  expect_clean(p);
}

TEST(IkeSaLifetime, ChildLifetimeRunningOutWithoutARekeyClosesTheSa) {
  SaPair p;
  p.a_config.child_lifetime = std::chrono::seconds(60);
  p.a_config.rekey_jitter = 0;
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  p.filter = [](const Flight& f) { return f.to_b && f.rekeys_child() ? Verdict::drop : Verdict::deliver; };
  p.run_until(start + 59999ms);
  EXPECT_EQ(p.a->state(), SaState::established);
  p.run_until(start + 60000ms);
  ASSERT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("CHILD_SA 0's lifetime ran out"), std::string::npos) << p.a->failure().message;
  EXPECT_TRUE(p.ka.empty());
  expect_clean(p);
}

// With the peer answering, the lifetimes never run out: a rekey every 54 s of each.
TEST(IkeSaLifetime, RekeysKeepTheSaUpPastItsLifetimes) {
  SaPair p;
  p.a_config.ike_lifetime = std::chrono::seconds(60);
  p.a_config.child_lifetime = std::chrono::seconds(60);
  p.a_config.rekey_jitter = 0;
  ASSERT_TRUE(p.establish()) << why(p);
  p.run_for(200000ms);
  ASSERT_TRUE(p.established()) << why(p);
  EXPECT_GE(SaPair::count(p.events_a, SaEventKind::ike_rekeyed), 3u);
  EXPECT_GE(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 3u);
  expect_same_ike_sa(p);
  expect_agree(p);
  EXPECT_EQ(p.ka.inbound.size(), 1u);
  EXPECT_FALSE(p.spun);
  expect_clean(p);
}

// ---- Authentication failures ----

// The initiator does not accept the responder's identity: it tells the responder
// (AUTHENTICATION_FAILED in an INFORMATIONAL, RFC 7296 2.21.2), and both close.
TEST(IkeSaAuth, InitiatorRefusingTheResponderTellsIt) {
  SaPair p;
  p.a_config.tunnel.remote_id = "other.example.com";
  p.start();
  p.pump();
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_EQ(p.b->state(), SaState::closed);
  EXPECT_EQ(p.a->failure().code, EACCES);
  EXPECT_NE(p.a->failure().message.find("gw.example.com"), std::string::npos) << p.a->failure().message;
  EXPECT_NE(p.b->failure().message.find("AUTHENTICATION_FAILED"), std::string::npos) << p.b->failure().message;
  const auto notify = p.sent(true, [](const Flight& f) { return f.notify(kNotifyAuthenticationFailed).has_value(); });
  EXPECT_EQ(notify.size(), 1u);
  EXPECT_TRUE(p.ka.empty());
  EXPECT_TRUE(p.kb.empty()) << "B's first CHILD_SA is removed";
  expect_clean(p);
}

TEST(IkeSaAuth, ResponderRefusesAWrongKey) {
  SaPair p;
  const Secret other(std::string_view("another pre-shared key"));
  p.b_config.tunnel.psk = &other;
  p.start();
  p.pump();
  EXPECT_EQ(p.b->state(), SaState::closed);
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("AUTHENTICATION_FAILED"), std::string::npos) << p.a->failure().message;
  EXPECT_TRUE(p.ka.empty()) << "A's larval SA is given back";
  EXPECT_TRUE(p.kb.calls.empty());
  expect_clean(p);
}

TEST(IkeSaAuth, ResponderRefusesAnUnknownIdentity) {
  SaPair p;
  p.a_config.tunnel.local_id = "site2@example.com";
  p.start();
  p.pump();
  EXPECT_EQ(p.b->state(), SaState::closed);
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.b->failure().message.find("no tunnel for that identity"), std::string::npos) << p.b->failure().message;
  EXPECT_TRUE(p.ka.empty());
}

// ---- Losses, crossings and interruptions ----

// The IKE_AUTH response is lost: the initiator retransmits, the responder answers from its
// cache and creates nothing twice.
TEST(IkeSaLoss, LostIkeAuthResponseIsAnsweredFromTheCache) {
  SaPair p;
  int dropped = 0;
  p.filter = [&](const Flight& f) { return !f.to_b && f.is(Exchange::ike_auth, false) && !dropped++ ? Verdict::drop : Verdict::deliver; };
  p.start();
  p.pump();
  EXPECT_EQ(p.a->state(), SaState::connecting);
  EXPECT_EQ(p.b->state(), SaState::established);
  p.run_for(4000ms);
  ASSERT_TRUE(p.established()) << why(p);
  const auto auths = p.sent(false, [](const Flight& f) { return f.is(Exchange::ike_auth, false); });
  ASSERT_EQ(auths.size(), 2u);
  EXPECT_EQ(auths[0]->out.data, auths[1]->out.data);
  EXPECT_EQ(p.kb.ops(), (Ops{"allocate", "inbound", "outbound", "policies"}));
  expect_agree(p);
  expect_clean(p);
}

// The response to the replaced IKE SA's Delete is lost; the peer has deleted that SA with its
// keys and cannot answer the retransmissions. The new IKE SA must not die with the old one.
TEST_P(IkeSaByEitherSide, LostAnswerToTheOldIkeSaDeleteKeepsTheNewOne) {
  const bool by_a = GetParam();
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  const uint64_t old_i = p.a->current()->spi_i;
  int dropped = 0;
  p.filter = [&](const Flight& f) {
    const bool answer = f.to_b != by_a && f.is(Exchange::informational, false) && f.message->header.spi_i == old_i;
    return answer && !dropped++ ? Verdict::drop : Verdict::deliver;
  };
  const Time start = p.now;
  rekey_ike(p, by_a);
  p.pump();
  EXPECT_EQ(dropped, 1);
  p.run_until(start + 300000ms);
  EXPECT_TRUE(p.established()) << why(p);
  expect_same_ike_sa(p);
  EXPECT_EQ(side(p, by_a).generations().size(), 1u);
  expect_agree(p);
  // And it still works.
  rekey_child(p, !by_a);
  p.pump();
  expect_agree(p);
  expect_clean(p);
}

// A rekey that falls due while other work blocks it (here the IKE SA's rekey while the peer's
// CHILD_SA rekey waits for its Delete) waits without a busy loop and runs after.
TEST(IkeSaTimers, ABlockedRekeyWaitsWithoutSpinning) {
  SaPair p;
  p.a_config.ike_lifetime = std::chrono::seconds(60);
  p.a_config.rekey_jitter = 0;
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  p.run_until(start + 53000ms);
  // B rekeys CHILD_SA 0; its Delete of the old pair is held until 58 s.
  p.filter = [](const Flight& f) { return !f.to_b && f.request() && f.deletes(kProtocolEsp) ? Verdict::hold : Verdict::deliver; };
  rekey_child(p, false);
  p.pump();
  p.run_until(start + 58000ms);
  EXPECT_FALSE(p.spun) << joined(p.problems);
  EXPECT_EQ(p.sent(true, [](const Flight& f) { return f.rekeys_ike(); }).size(), 0u) << "rekeyed the IKE SA amid the CHILD_SA rekey";
  p.filter = nullptr;
  p.release();
  p.pump();
  p.run_until(start + 59000ms);
  EXPECT_EQ(p.sent(true, [](const Flight& f) { return f.rekeys_ike(); }).size(), 1u);
  ASSERT_TRUE(p.established()) << why(p);
  expect_same_ike_sa(p);
  expect_agree(p);
  expect_clean(p);
}

// One side rekeys the IKE SA while the other rekeys a CHILD_SA (RFC 7296 2.25.2): whichever
// request comes second is refused with TEMPORARY_FAILURE and tried again soon; both complete.
TEST_P(IkeSaByEitherSide, IkeRekeyCrossingAChildRekeyBothComplete) {
  const bool ike_by_a = GetParam();
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  const uint64_t old_i = p.a->current()->spi_i;
  const uint32_t old_child = p.a->child(0)->sa.spi_in;
  p.filter = [](const Flight&) { return Verdict::hold; };
  rekey_ike(p, ike_by_a);
  rekey_child(p, !ike_by_a);
  p.pump();
  ASSERT_EQ(p.held.size(), 2u);
  const Flight first = p.held[0], second = p.held[1];
  p.held.clear();
  p.deliver(first);
  p.deliver(second);
  p.filter = nullptr;
  p.release();
  p.pump();
  const auto busy = p.sent(true, [](const Flight& f) { return f.notify(kNotifyTemporaryFailure).has_value(); }).size() +
                    p.sent(false, [](const Flight& f) { return f.notify(kNotifyTemporaryFailure).has_value(); }).size();
  EXPECT_EQ(busy, 2u) << "each refuses the other's request while its own is outstanding";
  p.run_for(30000ms);
  ASSERT_TRUE(p.established()) << why(p);
  expect_same_ike_sa(p);
  EXPECT_NE(p.a->current()->spi_i, old_i);
  expect_agree(p);
  EXPECT_NE(p.a->child(0)->sa.spi_in, old_child);
  EXPECT_EQ(p.ka.inbound.size(), 1u);
  EXPECT_EQ(p.a->generations().size(), 1u);
  EXPECT_EQ(p.b->generations().size(), 1u);
  expect_clean(p);
}

// close() while a rekey of ours is outstanding (`rekey` starts it): the SA still goes, on both
// sides, at once (no retransmission needed).
void expect_close_during(bool by_a, const std::function<void(SaPair&, bool)>& rekey) {
  SaPair p;
  ASSERT_TRUE(p.establish()) << why(p);
  p.filter = [](const Flight&) { return Verdict::hold; };
  rekey(p, by_a);
  p.pump();
  side(p, by_a).close(p.now);
  p.collect();
  p.filter = nullptr;
  p.release();
  p.pump();
  EXPECT_EQ(p.a->state(), SaState::closed) << why(p);
  EXPECT_EQ(p.b->state(), SaState::closed) << why(p);
  EXPECT_TRUE(p.ka.empty());
  EXPECT_TRUE(p.kb.empty());
  expect_clean(p);
}

TEST_P(IkeSaByEitherSide, CloseDuringAnIkeRekeyStillCloses) { expect_close_during(GetParam(), rekey_ike); }
TEST_P(IkeSaByEitherSide, CloseDuringAChildRekeyStillCloses) {
  expect_close_during(GetParam(), [](SaPair& p, bool a) { rekey_child(p, a); });
}

// The peer deletes a CHILD_SA: its SAs and policies go, and the answer deletes ours.
TEST(IkeSaDelete, PeerDeletingAChildSaRemovesItAndAnswersWithOurSpi) {
  SaPair p;
  p.a_config.create_children = {{cidr("10.1.1.0/24"), cidr("10.2.1.0/24")}};
  ASSERT_TRUE(p.establish()) << why(p);
  ASSERT_TRUE(p.a->child(1) && p.b->child(1)) << why(p);
  const uint32_t a_in = p.a->child(1)->sa.spi_in, b_in = p.b->child(1)->sa.spi_in;
  // A's Delete, sealed as A would (the message ID A would use next, which A then skips).
  Generation& g = *p.a->current_generation();
  const uint32_t id = g.next_id++;
  const size_t c = p.kb.calls.size();
  p.deliver(flight(p, true, seal_as(*p.a, Exchange::informational, false, id, {{kDelete, false, encode_delete({kProtocolEsp, {a_in}})}}, 5000)));
  EXPECT_EQ(p.kb.ops(c), (Ops{"remove", "remove_policies"}));
  EXPECT_EQ(p.b->child(1), nullptr);
  EXPECT_FALSE(p.kb.policies.count(1));
  EXPECT_TRUE(p.kb.policies.count(0));
  ASSERT_FALSE(p.events_b.empty());
  EXPECT_EQ(p.events_b.back().kind, SaEventKind::child_down);
  EXPECT_EQ(p.events_b.back().child_index, 1u);
  ASSERT_FALSE(p.wire.empty());
  const Flight& answer = p.wire.back();
  ASSERT_TRUE(answer.is(Exchange::informational, false));
  EXPECT_EQ(answer.id(), id);
  EXPECT_EQ(decode_delete(answer.find(kDelete)->body)->spis, std::vector<uint32_t>{b_in});
  p.wire.clear();
  expect_agree(p, 0);
}

// IKE fragmentation (RFC 7383) on both sides with small datagrams: every protected message
// goes as SKF fragments, is reassembled, and retransmitted whole.
TEST(IkeSaFragments, FragmentedExchangesComplete) {
  SaPair p;
  p.a_config.tunnel.fragmentation = {FragmentMode::yes, 200};
  p.b_config.tunnel.fragmentation = {FragmentMode::yes, 200};
  ASSERT_TRUE(p.establish()) << why(p);
  EXPECT_TRUE(p.a->fragmentation && p.b->fragmentation);
  size_t skf = 0;
  for (const auto& f : p.history) {
    if (f.message && !f.message->payloads.empty() && f.message->payloads.front().type == kSkf) ++skf;
    if (f.exchange() != Exchange::ike_sa_init) {
      EXPECT_LE(f.out.data.size() + 20 + 8 + 4, 200u);
    }
  }
  EXPECT_GE(skf, 4u) << "IKE_AUTH's request and response should each take fragments";
  expect_agree(p);
  // A rekey whose first response is lost: the request goes again and the cached response too.
  int dropped = 0;
  p.filter = [&](const Flight& f) { return !f.to_b && f.exchange() == Exchange::create_child_sa && !dropped++ ? Verdict::drop : Verdict::deliver; };
  rekey_child(p, true);
  p.pump();
  p.run_for(5000ms);
  EXPECT_GE(dropped, 2) << "the request was not retransmitted";
  expect_agree(p);
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 1u);
  expect_clean(p);
}

// ---- PFS ----

// The peer wants another PFS group for the CHILD_SA rekey (INVALID_KE_PAYLOAD): the rekey goes
// again soon with that group, the first attempt's larval SA given back. An sedge initiator
// offers one group, so the first request is rewritten (and sealed again with A's keys) to offer
// the responder's too, as a peer with several groups would.
TEST(IkeSaPfs, ChildRekeyRetriesWithTheGroupThePeerAsksFor) {
  SaPair p;
  p.a_config.pfs_group = 31;
  p.b_config.pfs_group = 19;
  ASSERT_TRUE(p.establish()) << why(p);
  int rewritten = 0;
  p.rewrite = [&](Flight& f) {
    if (!f.to_b || !f.rekeys_child() || rewritten++) return;
    std::vector<Payload> inner = *f.inner;
    for (auto& pl : inner) {
      if (pl.type != kSa) continue;
      auto props = decode_sa(pl.body);
      ASSERT_TRUE(props.ok());
      props->front().transforms.push_back({kTransformDh, 19, std::nullopt});
      pl.body = encode_sa(*props);
    }
    f.out.data = seal(p.a->current()->out(), f.message->header, inner.front().type, serialize_payloads(inner), 777);
    f.message = *parse(f.out.data);
  };
  const Time start = p.now;
  rekey_child(p, true);
  p.pump();
  const auto refusal = p.sent(false, [](const Flight& f) { return f.notify(kNotifyInvalidKe).has_value(); });
  ASSERT_EQ(refusal.size(), 1u);
  EXPECT_EQ(refusal[0]->notify(kNotifyInvalidKe)->data, (Bytes{0, 19}));
  EXPECT_TRUE(p.ka.larval.empty());
  p.run_until(start + 4000ms);
  const auto tries = p.sent(true, [](const Flight& f) { return f.rekeys_child(); });
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0]->create_child()->ke_group, 31);
  EXPECT_EQ(tries[1]->create_child()->ke_group, 19);
  EXPECT_GE(tries[1]->sent_at - start, std::chrono::milliseconds(1000));
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::child_rekeyed), 1u);
  expect_agree(p);
  EXPECT_EQ(p.ka.inbound.size(), 1u);
  expect_clean(p);
}

// Configured PFS groups with nothing in common: NO_PROPOSAL_CHOSEN, the rekey is tried again
// every 10 s, and the pair in use stays.
TEST(IkeSaPfs, DifferentPfsGroupsKeepTheOldPairAndRetry) {
  SaPair p;
  p.a_config.pfs_group = 31;
  p.b_config.pfs_group = 19;
  ASSERT_TRUE(p.establish()) << why(p);
  const Time start = p.now;
  const uint32_t in = p.a->child(0)->sa.spi_in;
  rekey_child(p, true);
  p.pump();
  p.run_until(start + 25000ms);
  const auto tries = p.sent(true, [](const Flight& f) { return f.rekeys_child(); });
  EXPECT_EQ(offsets_ms(tries, start), (std::vector<int64_t>{0, 10000, 20000}));
  EXPECT_EQ(p.sent(false, [](const Flight& f) { return f.notify(kNotifyNoProposalChosen).has_value(); }).size(), 3u);
  EXPECT_EQ(p.a->child(0)->sa.spi_in, in);
  EXPECT_EQ(p.ka.inbound.size(), 1u);
  EXPECT_TRUE(p.ka.larval.empty());
  EXPECT_TRUE(p.established());
  expect_clean(p);
}

// ---- A responder of several tunnels ----

// IKE_SA_INIT is answered with the listening configuration's suite; the tunnel IKE_AUTH picks
// has another IKE proposal. The IKE SA keeps the algorithms IKE_SA_INIT negotiated (its rekeys
// must propose and derive with them), and takes the tunnel's ESP algorithms.
TEST_P(IkeSaByEitherSide, TunnelWithAnotherIkeProposalKeepsTheNegotiatedOne) {
  const bool by_a = GetParam();
  SaPair p;
  p.b_init_config = p.b_config;
  p.b_config.suite = suite("aes256gcm16-prfsha384-curve25519", "aes128gcm16");
  ASSERT_TRUE(p.establish()) << why(p);
  EXPECT_EQ(p.b->config().suite, p.a->config().suite);
  rekey_ike(p, by_a);
  p.pump();
  EXPECT_EQ(SaPair::count(p.events_a, SaEventKind::ike_rekeyed), 1u) << why(p);
  expect_same_ike_sa(p);
  rekey_child(p, !by_a);
  p.pump();
  expect_agree(p);
  expect_clean(p);
}

// ---- Closing early ----

TEST(IkeSaClose, CloseWhileConnectingGivesTheLarvalSaBack) {
  SaPair p;
  p.filter = [](const Flight& f) { return !f.to_b && f.exchange() == Exchange::ike_auth ? Verdict::drop : Verdict::deliver; };
  p.start();
  p.pump();
  ASSERT_EQ(p.a->state(), SaState::connecting);
  EXPECT_EQ(p.ka.larval.size(), 1u);
  p.a->close(p.now);
  p.collect();
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_EQ(p.a->failure().code, ECANCELED);
  EXPECT_TRUE(p.ka.empty());
  EXPECT_EQ(p.events_a.back().kind, SaEventKind::down);
  EXPECT_EQ(p.a->next_timer(), Time::max());
}

// ---- The fuzz target's seeds ----

// Writes the seeds of tests/fuzz/ike/corpus-sa from real exchanges of the pair into the
// directory SEDGE_WRITE_SA_CORPUS names; run by hand when the input format changes:
//   SEDGE_WRITE_SA_CORPUS=tests/fuzz/ike/corpus-sa ike_sa_test --gtest_also_run_disabled_tests
//     --gtest_filter=IkeSaFuzzCorpus.*
TEST(IkeSaFuzzCorpus, DISABLED_Write) {
  const char* dir = std::getenv("SEDGE_WRITE_SA_CORPUS");
  ASSERT_NE(dir, nullptr) << "SEDGE_WRITE_SA_CORPUS names the directory to write";
  SaPair p;
  p.a_config.create_children = {{cidr("10.1.1.0/24"), cidr("10.2.1.0/24")}};
  ASSERT_TRUE(p.establish()) << why(p);
  rekey_child(p, true);
  p.pump();
  rekey_ike(p, false);
  p.pump();
  rekey_child(p, false, 1);
  p.pump();
  p.a->close(p.now);
  p.collect();
  p.pump();
  namespace fi = fuzz_input;
  std::map<std::string, Bytes> seeds;
  int n = 0;
  for (const auto& f : p.history) {
    if (!f.message) continue;
    const bool to_b = f.to_b;
    std::string name = (to_b ? "a-" : "b-") + std::to_string(n++) + "-";
    switch (f.exchange()) {
      case Exchange::ike_sa_init: name += "init"; break;
      case Exchange::ike_auth: name += "auth"; break;
      case Exchange::create_child_sa: name += f.rekeys_ike() ? "rekey-ike" : f.rekeys_child() ? "rekey-child" : "child"; break;
      case Exchange::informational: name += f.deletes(kProtocolIke) ? "delete-ike" : f.deletes(kProtocolEsp) ? "delete-esp" : "info"; break;
    }
    name += f.request() ? "-request" : "-response";
    // As it was on the wire (mostly refused by a fresh pair's keys), and sealed anew for the
    // fuzz target's pair; then a step of time and one of both rekeys.
    Bytes input = {static_cast<uint8_t>(n % 3 == 0 ? fi::kFuzzMoreChildren : n % 3 == 1 ? fi::kFuzzPfs | fi::kFuzzDpd : fi::kFuzzFragments)};
    const Bytes raw = fi::raw(to_b, f.out.data);
    input.insert(input.end(), raw.begin(), raw.end());
    if (f.inner && f.exchange() != Exchange::ike_sa_init) {
      const uint8_t id_mode = f.request() ? 0 : 1;
      const Bytes s = fi::sealed(to_b, f.exchange(), static_cast<uint8_t>(f.message->header.flags), id_mode, *f.inner);
      input.insert(input.end(), s.begin(), s.end());
    }
    for (const Bytes& step : {fi::wait(20), fi::action(false, 1), fi::wait(8), fi::action(true, 0), fi::wait(200)}) {
      input.insert(input.end(), step.begin(), step.end());
    }
    seeds[name] = input;
  }
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  EXPECT_GT(seeds.size(), 10u);
}

}  // namespace
}  // namespace sedge::ike

// What IKE_SA_INIT and IKE_AUTH negotiate besides keys, on the fake-clock pair: several
// proposals (IkeProposal=, EspProposal= lists), and the responder's narrowing of selectors.
#include <gtest/gtest.h>

#include "tests/unit/ike/sa_pair.h"

namespace sedge::ike::testing {
namespace {

size_t init_requests(const SaPair& p) {
  size_t n = 0;
  for (const auto& f : p.history) n += f.to_b && f.is(Exchange::ike_sa_init, true);
  return n;
}

// The responder takes the first of its own proposals that the initiator offers with the group
// its KE is for: no INVALID_KE_PAYLOAD round trip when one fits.
TEST(Proposals, ResponderPrefersItsOrderAmongOffersWithTheSentGroup) {
  SaPair p;
  const Suite ecp = suite("aes128gcm16-prfsha256-ecp256"), x25519 = suite("aes256gcm16-prfsha384-curve25519");
  p.a_config.suite = ecp;
  p.a_config.ike_offers = {ecp, x25519};  // KE for ecp256
  p.b_config.suite = x25519;
  p.b_config.ike_offers = {x25519, ecp};
  ASSERT_TRUE(p.establish());
  EXPECT_EQ(init_requests(p), 1u);
  EXPECT_EQ(p.a->config().suite.ike_name(), ecp.ike_name());
  EXPECT_EQ(p.b->config().suite.ike_name(), ecp.ike_name());
}

// Without a common group for the KE, the responder asks for its first proposal's group.
TEST(Proposals, ResponderAsksForItsFirstCommonProposalsGroup) {
  SaPair p;
  const Suite x25519 = suite(), ecp = suite("aes128gcm16-prfsha256-ecp256"), modp = suite("aes128gcm16-prfsha256-modp2048");
  p.a_config.ike_offers = {x25519, ecp};  // KE for curve25519
  p.b_config.suite = ecp;
  p.b_config.ike_offers = {modp, ecp};  // modp2048 is not offered: ecp256 it is
  ASSERT_TRUE(p.establish());
  EXPECT_EQ(init_requests(p), 2u);
  EXPECT_EQ(p.a->config().suite.dh_group, 19);
  EXPECT_EQ(p.b->config().suite.dh_group, 19);
}

// A group the initiator does not offer is not taken from INVALID_KE_PAYLOAD: it gives up.
TEST(Proposals, InitiatorRefusesAGroupItDoesNotOffer) {
  SaPair p;
  p.b_config.suite = suite("aes128gcm16-prfsha256-ecp256");
  p.rewrite = [&](Flight& f) {  // B sees A offer ecp256 too, which A itself does not
    if (!f.to_b || !f.is(Exchange::ike_sa_init, true)) return;
    std::vector<Payload> payloads = f.message->payloads;
    for (auto& pl : payloads) {
      if (pl.type != kSa) continue;
      auto props = decode_sa(pl.body);
      props->push_back({2, kProtocolIke, {}, ike_transforms(p.b_config.suite)});
      pl.body = encode_sa(*props);
    }
    f.out.data = serialize(f.message->header, payloads);
    f.message = *parse(f.out.data);
  };
  p.start();
  p.pump();
  EXPECT_EQ(init_requests(p), 1u);
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("INVALID_KE_PAYLOAD"), std::string::npos) << p.a->failure().message;
}

// ESP: the initiator offers all its proposals; the responder takes the first of its own that
// is offered, and both CHILD_SAs use it.
TEST(Proposals, EspChosenByTheResponderAmongTheOffers) {
  SaPair p;
  const Suite gcm256 = suite("aes128gcm16-prfsha256-curve25519", "aes256gcm16"), cbc = suite("aes128gcm16-prfsha256-curve25519", "aes128-sha256");
  p.a_config.esp_offers = {gcm256, cbc};
  p.b_config.esp_offers = {cbc, gcm256};  // B prefers CBC
  ASSERT_TRUE(p.establish());
  ASSERT_TRUE(p.a->child(0) && p.b->child(0));
  EXPECT_EQ(p.a->child(0)->sa.suite.esp_name(), cbc.esp_name());
  EXPECT_EQ(p.b->child(0)->sa.suite.esp_name(), cbc.esp_name());
  EXPECT_EQ(p.a->child(0)->sa.integ_out.size(), 32u);  // HMAC-SHA2-256 keys
  EXPECT_TRUE(p.a->child(0)->sa.key_out.bytes().size() == p.b->child(0)->sa.key_in.bytes().size());
}

// The responder narrows the first CHILD_SA to what both sides protect (RFC 7296 2.9): an
// initiator asking for part of the responder's selectors gets that part.
TEST(Selectors, ResponderNarrowsTheFirstChildSa) {
  SaPair p;
  p.a_config.tunnel.local_ts = cidr("10.1.7.0/24");   // a part of B's 10.1.0.0/16
  p.a_config.tunnel.remote_ts = cidr("10.0.0.0/8");   // more than B's 10.2.0.0/16
  ASSERT_TRUE(p.establish());
  ASSERT_TRUE(p.a->child(0) && p.b->child(0));
  EXPECT_EQ(p.b->child(0)->sa.remote_ts, cidr("10.1.7.0/24"));
  EXPECT_EQ(p.b->child(0)->sa.local_ts, cidr("10.2.0.0/16"));
  EXPECT_EQ(p.a->child(0)->sa.local_ts, cidr("10.1.7.0/24"));
  EXPECT_EQ(p.a->child(0)->sa.remote_ts, cidr("10.2.0.0/16"));
}

// Nothing in common: TS_UNACCEPTABLE, and neither side keeps an IKE SA.
TEST(Selectors, ResponderRefusesDisjointSelectors) {
  SaPair p;
  p.a_config.tunnel.local_ts = cidr("10.9.0.0/16");
  p.start();
  p.pump();
  EXPECT_FALSE(p.established());
  EXPECT_EQ(p.a->state(), SaState::closed);
  EXPECT_NE(p.a->failure().message.find("TS_UNACCEPTABLE"), std::string::npos) << p.a->failure().message;
}

// The responder of an IKE SA rekey waits for the peer to delete the old IKE SA; if that Delete
// never arrives, the old one is forgotten after as long as a request may take, and the next
// rekey is not blocked by it.
TEST(Generations, ReplacedIkeSaThePeerNeverDeletesIsForgotten) {
  SaPair p;
  ASSERT_TRUE(p.establish());
  p.filter = [](const Flight& f) { return f.to_b && f.deletes(kProtocolIke) ? Verdict::drop : Verdict::deliver; };
  p.a->rekey_ike(p.now);
  p.collect();
  p.pump();
  ASSERT_EQ(p.b->generations().size(), 2u);
  p.run_until(p.now + std::chrono::seconds(100));
  EXPECT_EQ(p.b->generations().size(), 2u);  // still waiting for the Delete
  p.run_until(p.now + std::chrono::seconds(200));
  EXPECT_EQ(p.b->generations().size(), 1u);
  EXPECT_EQ(p.b->state(), SaState::established);
  p.filter = nullptr;
  const uint64_t before = p.b->current()->spi_r;
  p.b->rekey_ike(p.now);  // not blocked any more
  p.collect();
  p.pump();
  EXPECT_EQ(p.b->generations().size(), 1u);
  EXPECT_NE(p.b->current()->spi_r, before);
  EXPECT_TRUE(p.established());
}

}  // namespace
}  // namespace sedge::ike::testing

// The responder's reading of the initiator's NAT detection (RFC 7296 2.23), now in IkeSa::respond:
// a NAT in front of the initiator (NAT_DETECTION_SOURCE_IP is not where the request came from)
// and a NAT in front of us, such as a CPE forwarding UDP 500 and 4500 to the responder
// (NAT_DETECTION_DESTINATION_IP is not our own address), each make the IKE SA float to UDP 4500
// with ESP in UDP: encapsulated() at once, and the CHILD_SA of IKE_AUTH on the NAT-T ports. The
// two IKE SAs talk through a NAT of the test's making (sa_pair.h's rewrite).
#include <gtest/gtest.h>

#include "tests/unit/ike/sa_pair.h"

namespace sedge::ike {
namespace {

using namespace sedge::ike::testing;

// The initiator at `sent_from` sends to `sent_to`; the NAT hands its datagrams to the responder
// at `local` as coming from `seen_as` (the initiator's port plus `port_shift`), and the answers
// back the other way.
struct Nat {
  const char* sent_from;
  const char* sent_to;
  const char* local;
  const char* seen_as;
  uint16_t port_shift = 0;
};

void connect(SaPair& p, const Nat& n) {
  p.a_addr = addr(n.sent_from);
  p.b_addr = addr(n.sent_to);
  p.rewrite = [n](Flight& f) {
    if (f.to_b) {
      f.out.from = addr(n.seen_as, static_cast<uint16_t>(f.out.from.port + n.port_shift));
      f.out.to = addr(n.local, f.out.to.port);
    } else {
      f.out.from = addr(n.sent_to, f.out.from.port);
      f.out.to = addr(n.sent_from, static_cast<uint16_t>(f.out.to.port - n.port_shift));
    }
  };
  p.start();
  p.pump();
}

TEST(ResponderNat, NoNatWhenBothHashesMatch) {
  SaPair p;
  connect(p, {"198.51.100.2", "192.0.2.2", "192.0.2.2", "198.51.100.2"});
  ASSERT_TRUE(p.established());
  EXPECT_FALSE(p.b->encapsulated());
  EXPECT_FALSE(p.a->encapsulated());
  const Child* c = p.b->child(0);
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->sa.encapsulated);
  EXPECT_EQ(c->sa.local, addr("192.0.2.2", kIkePort));
  EXPECT_EQ(c->sa.remote, addr("198.51.100.2", kIkePort));
  EXPECT_EQ(p.next_timer(), Time::max()) << "no NAT keepalives";
}

// The responder has floated by the time IKE_AUTH comes: its CHILD_SA is ESP in UDP between the
// NAT-T ports (of the NAT's mapping on the peer's side), and the initiator's is too.
void expect_floated(SaPair& p, const char* local, const char* peer, uint16_t peer_port) {
  ASSERT_TRUE(p.established()) << (p.a->state() == SaState::closed ? p.a->failure().message : "");
  const auto auth = p.sent(true, [](const Flight& f) { return f.exchange() == Exchange::ike_auth; });
  ASSERT_EQ(auth.size(), 1u);
  EXPECT_EQ(auth[0]->out.from.port, kNattPort) << "IKE_AUTH goes from the NAT-T port";
  EXPECT_EQ(auth[0]->out.to.port, kNattPort);
  const Child* b = p.b->child(0);
  const Child* a = p.a->child(0);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(b->sa.encapsulated);
  EXPECT_EQ(b->sa.local, addr(local, kNattPort));
  EXPECT_EQ(b->sa.remote, addr(peer, peer_port));
  EXPECT_TRUE(a->sa.encapsulated);
  EXPECT_EQ(a->sa.local.port, kNattPort);
  EXPECT_EQ(a->sa.remote.port, kNattPort);
  EXPECT_TRUE(p.a->encapsulated());
  // The initiator, behind a NAT or not, keeps the mapping open with keepalives every 20 s.
  p.run_for(std::chrono::seconds(20));
  const auto keepalives = p.sent(true, [](const Flight& f) { return f.out.keepalive; });
  ASSERT_FALSE(keepalives.empty());
  EXPECT_EQ(keepalives[0]->out.data, Bytes{0xff});
  EXPECT_EQ(keepalives[0]->out.from.port, kNattPort);
  const auto problems = p.all_problems();
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(ResponderNat, InitiatorBehindNat) {
  SaPair p;
  connect(p, {"100.64.0.2", "192.0.2.2", "192.0.2.2", "198.51.100.2"});
  EXPECT_TRUE(p.b->encapsulated());
  expect_floated(p, "192.0.2.2", "198.51.100.2", kNattPort);
}

TEST(ResponderNat, InitiatorBehindNatThatChangesThePort) {
  SaPair p;
  connect(p, {"198.51.100.2", "192.0.2.2", "192.0.2.2", "198.51.100.2", 524});  // 500 -> 1024
  EXPECT_TRUE(p.b->encapsulated());
  expect_floated(p, "192.0.2.2", "198.51.100.2", kNattPort + 524);
}

TEST(ResponderNat, ResponderBehindPortForward) {
  // The initiator sent to the CPE's 192.0.2.2, which forwarded it to us at 172.16.1.2.
  SaPair p;
  connect(p, {"198.51.100.2", "192.0.2.2", "172.16.1.2", "198.51.100.2"});
  EXPECT_TRUE(p.b->encapsulated());
  expect_floated(p, "172.16.1.2", "198.51.100.2", kNattPort);
}

TEST(ResponderNat, OwnAddressUnknownOnAnyAddress) {
  // A responder that does not know its own address cannot check the destination hash.
  SaPair p;
  connect(p, {"198.51.100.2", "192.0.2.2", "0.0.0.0", "198.51.100.2"});
  ASSERT_TRUE(p.b);
  EXPECT_FALSE(p.b->encapsulated());
}

TEST(ResponderNat, NoNatDetectionWithoutTheInitiatorsNotifies) {
  SaPair p;
  p.a_config.nat_traversal = false;
  connect(p, {"100.64.0.2", "192.0.2.2", "192.0.2.2", "198.51.100.2"});
  ASSERT_TRUE(p.established());
  EXPECT_FALSE(p.b->encapsulated());
  EXPECT_FALSE(p.a->encapsulated());
  const auto init = p.sent(false).front();
  EXPECT_FALSE(init->notify(kNotifyNatDetectionSourceIp).has_value()) << "the responder answers NAT detection only when asked";
}

}  // namespace
}  // namespace sedge::ike

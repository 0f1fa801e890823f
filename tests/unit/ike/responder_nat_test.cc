// The responder's reading of the initiator's NAT detection (RFC 7296 2.23): a NAT in front of the
// initiator (NAT_DETECTION_SOURCE_IP is not where the request came from) and a NAT in front of
// us, such as a CPE forwarding UDP 500 and 4500 to the responder (NAT_DETECTION_DESTINATION_IP
// is not our own address), each make the IKE SA float to UDP 4500 with ESP in UDP.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "ike/responder.h"
#include "tests/support/ipv4.h"

namespace sedge::ike {
namespace {

constexpr uint64_t kSpiI = 0x0102030405060708ull;

using testing::ipv4_endpoint;

Payload nat_notify(uint16_t type, const sockaddr_in& a) {
  return {kNotify, false, encode_notify({0, {}, type, nat_hash(kSpiI, 0, a)})};
}

// The responder at `local` answering a request from `peer` whose initiator hashed `sent_from`
// and `sent_to`: whether it takes the IKE SA to be behind a NAT.
bool nat_seen(const sockaddr_in& local, const sockaddr_in& peer, const sockaddr_in& sent_from,
              const sockaddr_in& sent_to) {
  const Suite suite;
  auto ke = KeyExchange::generate(suite.dh_group);
  EXPECT_TRUE(ke.ok());
  const InitOffer offer{Proposal{1, 1, {}, ike_transforms(suite)}, ke->public_value(), Bytes(32, 7),
                        true};
  const std::vector<Payload> init = {nat_notify(kNotifyNatDetectionSourceIp, sent_from),
                                     nat_notify(kNotifyNatDetectionDestinationIp, sent_to)};
  auto half = answer_ike_sa_init(suite, offer, kSpiI, 0x1111, Bytes{}, local, peer, init);
  EXPECT_TRUE(half.ok());
  return half->nat;
}

TEST(ResponderNat, NoNatWhenBothHashesMatch) {
  EXPECT_FALSE(nat_seen(ipv4_endpoint("192.0.2.2"), ipv4_endpoint("198.51.100.2"),
                        ipv4_endpoint("198.51.100.2"), ipv4_endpoint("192.0.2.2")));
}

TEST(ResponderNat, InitiatorBehindNat) {
  EXPECT_TRUE(nat_seen(ipv4_endpoint("192.0.2.2"), ipv4_endpoint("198.51.100.2"),
                       ipv4_endpoint("100.64.0.2"), ipv4_endpoint("192.0.2.2")));
  EXPECT_TRUE(nat_seen(ipv4_endpoint("192.0.2.2"), ipv4_endpoint("198.51.100.2", 1024),
                       ipv4_endpoint("198.51.100.2"), ipv4_endpoint("192.0.2.2")));
}

TEST(ResponderNat, ResponderBehindPortForward) {
  // The initiator sent to the CPE's 192.0.2.2, which forwarded it to us at 172.16.1.2.
  EXPECT_TRUE(nat_seen(ipv4_endpoint("172.16.1.2"), ipv4_endpoint("198.51.100.2"),
                       ipv4_endpoint("198.51.100.2"), ipv4_endpoint("192.0.2.2")));
}

TEST(ResponderNat, OwnAddressUnknownOnAnyAddress) {
  EXPECT_FALSE(nat_seen(ipv4_endpoint("0.0.0.0"), ipv4_endpoint("198.51.100.2"),
                        ipv4_endpoint("198.51.100.2"), ipv4_endpoint("192.0.2.2")));
}

}  // namespace
}  // namespace sedge::ike

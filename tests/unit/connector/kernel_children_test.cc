// The kernel adapter of CHILD_SAs without a kernel: the pure builders against what the netlink
// layer accepts (its own validation), and KernelChildren against a fake XfrmOps that records
// every call.
#include "agent/connector/kernel_children.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "netlink/xfrm_messages.h"

namespace sedge::connector {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

constexpr uint32_t kReqid = 0x5ed00001;
constexpr uint32_t kSpiIn = 0xc0000001, kSpiOut = 0xc2000002;

Secret bytes(size_t n, uint8_t first) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + i);
  return Secret(v);
}

// Parses into `out` (16 bytes): IPv4 in the first 4. Returns the family.
sa_family_t parse_ip(const char* text, uint8_t* out) {
  if (inet_pton(AF_INET, text, out) == 1) return AF_INET;
  EXPECT_EQ(inet_pton(AF_INET6, text, out), 1) << text;
  return AF_INET6;
}

ike::Address address(const char* ip, uint16_t port) {
  ike::Address a;
  a.family = parse_ip(ip, a.ip.data());
  a.port = port;
  return a;
}

ike::TrafficSelector range(const char* start, const char* end, uint8_t protocol = 0,
                           uint16_t start_port = 0, uint16_t end_port = 65535) {
  ike::TrafficSelector ts;
  ts.type = parse_ip(start, ts.start) == AF_INET6 ? ike::kTsIpv6AddrRange : ike::kTsIpv4AddrRange;
  parse_ip(end, ts.end);
  ts.protocol = protocol;
  ts.start_port = start_port;
  ts.end_port = end_port;
  return ts;
}

netlink::IpAddress ip(const char* text) {
  return *netlink::IpAddress::parse(text);
}
netlink::IpPrefix prefix(const char* text) {
  return *netlink::IpPrefix::parse(text);
}

ike::Suite cbc_suite(uint16_t integ) {
  ike::Suite s;
  s.esp_encr = ike::kEncrAesCbc;
  s.esp_key_bits = 256;
  s.esp_integ = integ;
  return s;
}

// A CHILD_SA of the default suite (AES-GCM-16-128) between 192.0.2.1 (us) and 198.51.100.2,
// protecting 10.1.0.0/16 <-> 10.2.0.0/24.
ike::ChildSa gcm_child(uint32_t index = 0) {
  ike::ChildSa c;
  c.index = index;
  c.spi_in = kSpiIn;
  c.spi_out = kSpiOut;
  c.key_in = bytes(20, 0x10);
  c.key_out = bytes(20, 0x40);
  c.local_ts = range("10.1.0.0", "10.1.255.255");
  c.remote_ts = range("10.2.0.0", "10.2.0.255");
  c.local = address("192.0.2.1", 500);
  c.remote = address("198.51.100.2", 500);
  return c;
}

ike::ChildSa cbc_child(uint16_t integ, size_t integ_bytes) {
  ike::ChildSa c = gcm_child();
  c.suite = cbc_suite(integ);
  c.key_in = bytes(32, 0x10);
  c.key_out = bytes(32, 0x40);
  c.integ_in = bytes(integ_bytes, 0x80);
  c.integ_out = bytes(integ_bytes, 0xa0);
  return c;
}

bool same(const Secret& a, const Secret& b) {
  return a.size() == b.size() && std::equal(a.bytes().begin(), a.bytes().end(), b.bytes().begin());
}

void expect_accepted(const netlink::XfrmSa& sa) {
  const Status st = netlink::validate_sa(sa);
  EXPECT_TRUE(st.ok()) << st.error().message;
}

void expect_accepted(const netlink::XfrmPolicy& p) {
  const Status st = netlink::validate_policy(p);
  EXPECT_TRUE(st.ok()) << st.error().message;
}

// ---- esp_state ----

TEST(EspState, AesGcmInbound) {
  const ike::ChildSa c = gcm_child();
  const netlink::XfrmSa sa = esp_state(c, false, kReqid, {});
  EXPECT_EQ(sa.src, ip("198.51.100.2"));
  EXPECT_EQ(sa.dst, ip("192.0.2.1"));
  EXPECT_EQ(sa.spi, kSpiIn);
  EXPECT_EQ(sa.reqid, kReqid);
  EXPECT_EQ(sa.proto, netlink::XfrmProto::Esp);
  EXPECT_EQ(sa.mode, netlink::XfrmMode::Tunnel);
  ASSERT_TRUE(sa.aead);
  EXPECT_EQ(sa.aead->name, "rfc4106(gcm(aes))");
  EXPECT_EQ(sa.aead->icv_bits, 128u);
  EXPECT_TRUE(same(sa.aead->key, c.key_in));
  EXPECT_FALSE(sa.crypt);
  EXPECT_FALSE(sa.auth);
  EXPECT_FALSE(sa.encap);
  EXPECT_FALSE(sa.esn);
  EXPECT_EQ(sa.flags, 0);
  expect_accepted(sa);
}

TEST(EspState, AesGcmOutbound) {
  const ike::ChildSa c = gcm_child();
  const netlink::XfrmSa sa = esp_state(c, true, kReqid, {});
  EXPECT_EQ(sa.src, ip("192.0.2.1"));
  EXPECT_EQ(sa.dst, ip("198.51.100.2"));
  EXPECT_EQ(sa.spi, kSpiOut);
  ASSERT_TRUE(sa.aead);
  EXPECT_TRUE(same(sa.aead->key, c.key_out));
  expect_accepted(sa);
}

struct Integ {
  uint16_t id;
  const char* kernel_name;
  size_t key_bytes;
  uint32_t trunc_bits;  // RFC 4868: half the hash
};

class EspStateHmac : public testing::TestWithParam<Integ> {};

TEST_P(EspStateHmac, AesCbcWithHmacSha2TruncatedPerRfc4868) {
  const Integ& integ = GetParam();
  const ike::ChildSa c = cbc_child(integ.id, integ.key_bytes);
  for (const bool outbound : {false, true}) {
    const netlink::XfrmSa sa = esp_state(c, outbound, kReqid, {});
    EXPECT_FALSE(sa.aead);
    ASSERT_TRUE(sa.crypt);
    EXPECT_EQ(sa.crypt->name, "cbc(aes)");
    EXPECT_TRUE(same(sa.crypt->key, outbound ? c.key_out : c.key_in));
    ASSERT_TRUE(sa.auth);
    EXPECT_EQ(sa.auth->name, integ.kernel_name);
    EXPECT_EQ(sa.auth->trunc_bits, integ.trunc_bits);
    EXPECT_TRUE(same(sa.auth->key, outbound ? c.integ_out : c.integ_in));
    expect_accepted(sa);
  }
}

INSTANTIATE_TEST_SUITE_P(Sha2, EspStateHmac,
                         testing::Values(Integ{ike::kIntegHmacSha256_128, "hmac(sha256)", 32, 128},
                                         Integ{ike::kIntegHmacSha384_192, "hmac(sha384)", 48, 192},
                                         Integ{ike::kIntegHmacSha512_256, "hmac(sha512)", 64,
                                               256}));

TEST(EspState, NullEncryptionWithHmac) {
  ike::ChildSa c = cbc_child(ike::kIntegHmacSha256_128, 32);
  c.suite.esp_encr = ike::kEncrNull;
  c.suite.esp_key_bits = 0;
  c.key_in = Secret();
  c.key_out = Secret();
  const netlink::XfrmSa sa = esp_state(c, true, kReqid, {});
  ASSERT_TRUE(sa.crypt);
  EXPECT_EQ(sa.crypt->name, "ecb(cipher_null)");
  EXPECT_TRUE(sa.crypt->key.empty());
  ASSERT_TRUE(sa.auth);
  EXPECT_EQ(sa.auth->name, "hmac(sha256)");
  EXPECT_EQ(sa.auth->trunc_bits, 128u);
  expect_accepted(sa);
}

TEST(EspState, EsnFollowsTheSuite) {
  ike::ChildSa c = gcm_child();
  c.suite.esn = true;
  const netlink::XfrmSa sa = esp_state(c, false, kReqid, {});
  EXPECT_TRUE(sa.esn);
  expect_accepted(sa);
}

// Behind a NAT the peer's IKE port was translated: each direction's source port is its
// sender's.
TEST(EspState, UdpEncapsulationOnTheIkePortsBothDirections) {
  ike::ChildSa c = gcm_child();
  c.encapsulated = true;
  c.local.port = 4500;
  c.remote.port = 31001;
  const netlink::XfrmSa out = esp_state(c, true, kReqid, {});
  ASSERT_TRUE(out.encap);
  EXPECT_EQ(out.encap->type, 2);  // UDP_ENCAP_ESPINUDP
  EXPECT_EQ(out.encap->sport, 4500);
  EXPECT_EQ(out.encap->dport, 31001);
  const netlink::XfrmSa in = esp_state(c, false, kReqid, {});
  ASSERT_TRUE(in.encap);
  EXPECT_EQ(in.encap->sport, 31001);
  EXPECT_EQ(in.encap->dport, 4500);
  expect_accepted(out);
  expect_accepted(in);
}

TEST(EspState, PlainEspWithoutNat) {
  ike::ChildSa c = gcm_child();
  c.local.port = 4500;  // the IKE SA may be on 4500 with no NAT in between
  EXPECT_FALSE(esp_state(c, true, kReqid, {}).encap);
}

TEST(EspState, KernelLifetimeFromWhenTheSaIsAdded) {
  const netlink::XfrmSa sa = esp_state(gcm_child(), false, kReqid, ike::KernelLifetime{3240, 3960});
  EXPECT_EQ(sa.lifetime, netlink::XfrmLifetime::after_seconds(3240, 3960));
  EXPECT_EQ(sa.lifetime.hard_bytes, netlink::kXfrmInfinite);
  expect_accepted(sa);
}

TEST(EspState, NoLifetimeWhenThisSideDoesNotRekey) {
  const netlink::XfrmSa sa = esp_state(gcm_child(), false, kReqid, {});
  EXPECT_EQ(sa.lifetime.soft_add_seconds, 0u);
  EXPECT_EQ(sa.lifetime.hard_add_seconds, 0u);
}

TEST(EspState, Ipv6OuterAddresses) {
  ike::ChildSa c = gcm_child();
  c.local = address("2001:db8::1", 500);
  c.remote = address("2001:db8:ffff::2", 500);
  c.local_ts = range("2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff");
  c.remote_ts = range("2001:db8:2::", "2001:db8:2::ffff");
  const netlink::XfrmSa sa = esp_state(c, true, kReqid, {});
  EXPECT_EQ(sa.src, ip("2001:db8::1"));
  EXPECT_EQ(sa.dst, ip("2001:db8:ffff::2"));
  EXPECT_EQ(sa.flags, 0);
  expect_accepted(sa);
}

// The kernel decapsulates only the inner family of the SA's selector unless it is left open.
TEST(EspState, Ipv4InsideIpv6LeavesTheSelectorFamilyOpen) {
  ike::ChildSa c = gcm_child();
  c.local = address("2001:db8::1", 500);
  c.remote = address("2001:db8:ffff::2", 500);
  const netlink::XfrmSa sa = esp_state(c, false, kReqid, {});
  EXPECT_EQ(sa.src.family, AF_INET6);
  EXPECT_EQ(sa.flags & XFRM_STATE_AF_UNSPEC, XFRM_STATE_AF_UNSPEC);
  expect_accepted(sa);
}

// ---- prefix_of ----

TEST(PrefixOf, PrefixRanges) {
  EXPECT_EQ(prefix_of(range("10.1.0.0", "10.1.255.255")), prefix("10.1.0.0/16"));
  EXPECT_EQ(prefix_of(range("192.0.2.7", "192.0.2.7")), prefix("192.0.2.7/32"));
  EXPECT_EQ(prefix_of(range("0.0.0.0", "255.255.255.255")), prefix("0.0.0.0/0"));
  EXPECT_EQ(prefix_of(range("2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff")),
            prefix("2001:db8:1::/48"));
  EXPECT_EQ(prefix_of(range("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), prefix("::/0"));
  EXPECT_EQ(prefix_of(range("2001:db8::5", "2001:db8::5")), prefix("2001:db8::5/128"));
}

// XFRM selectors are prefixes: a range that is not one becomes the smallest prefix holding it,
// with its host bits cleared.
TEST(PrefixOf, OtherRangesWidenToTheCoveringPrefix) {
  EXPECT_EQ(prefix_of(range("10.0.0.5", "10.0.0.10")), prefix("10.0.0.0/28"));
  EXPECT_EQ(prefix_of(range("10.0.0.0", "10.0.1.4")), prefix("10.0.0.0/23"));
  EXPECT_EQ(prefix_of(range("10.0.0.1", "10.0.0.254")), prefix("10.0.0.0/24"));
  EXPECT_EQ(prefix_of(range("2001:db8::1", "2001:db8::1:0")), prefix("2001:db8::/111"));
}

// ---- child_policies ----

TEST(ChildPolicies, OutInAndFwdWithTunnelTemplates) {
  const auto policies = child_policies(gcm_child(), kReqid);
  ASSERT_EQ(policies.size(), 3u);
  EXPECT_EQ(policies[0].dir, netlink::XfrmDir::Out);
  EXPECT_EQ(policies[1].dir, netlink::XfrmDir::In);
  EXPECT_EQ(policies[2].dir, netlink::XfrmDir::Fwd);
  EXPECT_EQ(policies[0].selector.src, prefix("10.1.0.0/16"));
  EXPECT_EQ(policies[0].selector.dst, prefix("10.2.0.0/24"));
  for (const auto& p : {policies[1], policies[2]}) {
    EXPECT_EQ(p.selector.src, prefix("10.2.0.0/24"));
    EXPECT_EQ(p.selector.dst, prefix("10.1.0.0/16"));
  }
  for (const auto& p : policies) {
    EXPECT_EQ(p.action, netlink::XfrmAction::Allow);
    EXPECT_EQ(p.selector.proto, 0);
    EXPECT_EQ(p.selector.sport, 0);
    EXPECT_EQ(p.selector.dport, 0);
    ASSERT_EQ(p.templates.size(), 1u);
    const netlink::XfrmTemplate& t = p.templates[0];
    EXPECT_EQ(t.proto, netlink::XfrmProto::Esp);
    EXPECT_EQ(t.mode, netlink::XfrmMode::Tunnel);
    EXPECT_EQ(t.reqid, kReqid);
    const bool out = p.dir == netlink::XfrmDir::Out;
    EXPECT_EQ(t.src, ip(out ? "192.0.2.1" : "198.51.100.2"));
    EXPECT_EQ(t.dst, ip(out ? "198.51.100.2" : "192.0.2.1"));
    expect_accepted(p);
  }
}

TEST(ChildPolicies, Ipv6Selectors) {
  ike::ChildSa c = gcm_child();
  c.local = address("2001:db8::1", 500);
  c.remote = address("2001:db8:ffff::2", 500);
  c.local_ts = range("2001:db8:1::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff");
  c.remote_ts = range("2001:db8:2::", "2001:db8:2::ffff");
  const auto policies = child_policies(c, kReqid);
  EXPECT_EQ(policies[0].selector.src, prefix("2001:db8:1::/48"));
  EXPECT_EQ(policies[0].selector.dst, prefix("2001:db8:2::/112"));
  EXPECT_EQ(policies[0].templates[0].dst, ip("2001:db8:ffff::2"));
  for (const auto& p : policies) expect_accepted(p);
}

TEST(ChildPolicies, Ipv4SelectorsOverIpv6) {
  ike::ChildSa c = gcm_child();
  c.local = address("2001:db8::1", 500);
  c.remote = address("2001:db8:ffff::2", 500);
  const auto policies = child_policies(c, kReqid);
  EXPECT_EQ(policies[0].selector.family(), AF_INET);
  EXPECT_EQ(policies[0].templates[0].src, ip("2001:db8::1"));
  for (const auto& p : policies) expect_accepted(p);
}

// HTTPS from 10.1.0.0/16 to anything in 10.2.0.0/24: the port goes in on this side's end of
// each direction.
TEST(ChildPolicies, ProtocolAndSinglePort) {
  ike::ChildSa c = gcm_child();
  c.local_ts = range("10.1.0.0", "10.1.255.255", IPPROTO_TCP, 443, 443);
  c.remote_ts = range("10.2.0.0", "10.2.0.255", IPPROTO_TCP);
  const auto policies = child_policies(c, kReqid);
  EXPECT_EQ(policies[0].selector.proto, IPPROTO_TCP);
  EXPECT_EQ(policies[0].selector.sport, 443);
  EXPECT_EQ(policies[0].selector.dport, 0);
  for (const auto& p : {policies[1], policies[2]}) {
    EXPECT_EQ(p.selector.proto, IPPROTO_TCP);
    EXPECT_EQ(p.selector.sport, 0);
    EXPECT_EQ(p.selector.dport, 443);
  }
  for (const auto& p : policies) expect_accepted(p);
}

// XfrmSelector matches one port or any: a port range other than a single port widens to any.
TEST(ChildPolicies, PortRangeWidensToAnyPort) {
  ike::ChildSa c = gcm_child();
  c.local_ts = range("10.1.0.0", "10.1.255.255", IPPROTO_UDP, 1000, 2000);
  c.remote_ts = range("10.2.0.0", "10.2.0.255", IPPROTO_UDP, 53, 53);
  const auto policies = child_policies(c, kReqid);
  EXPECT_EQ(policies[0].selector.proto, IPPROTO_UDP);
  EXPECT_EQ(policies[0].selector.sport, 0);
  EXPECT_EQ(policies[0].selector.dport, 53);
  for (const auto& p : policies) expect_accepted(p);
}

// IKE carries ICMP's type and code in the port fields (RFC 4301 4.4.1.1); XFRM selectors take
// ports for TCP, UDP and SCTP only.
TEST(ChildPolicies, IcmpTypeAndCodeLeftOut) {
  ike::ChildSa c = gcm_child();
  c.local_ts = range("10.1.0.0", "10.1.255.255", IPPROTO_ICMP, 0x0800, 0x0800);
  c.remote_ts = range("10.2.0.0", "10.2.0.255", IPPROTO_ICMP, 0x0800, 0x0800);
  const auto policies = child_policies(c, kReqid);
  EXPECT_EQ(policies[0].selector.proto, IPPROTO_ICMP);
  EXPECT_EQ(policies[0].selector.sport, 0);
  EXPECT_EQ(policies[0].selector.dport, 0);
  for (const auto& p : policies) expect_accepted(p);
}

TEST(ChildPolicies, TheOneProtocolNamedApplies) {
  ike::ChildSa c = gcm_child();
  c.remote_ts.protocol = IPPROTO_UDP;
  for (const auto& p : child_policies(c, kReqid)) EXPECT_EQ(p.selector.proto, IPPROTO_UDP);
}

// ---- KernelChildren against a fake ----

// Records every call as one line; each status queue scripts the next answers (ok when empty).
class FakeXfrm final : public XfrmOps {
 public:
  std::vector<std::string> calls;
  std::vector<netlink::XfrmSpiRequest> spi_requests;
  std::vector<netlink::XfrmSa> sas;  // updated and added, in order
  std::vector<netlink::XfrmPolicy> policies;
  std::vector<netlink::XfrmSaId> deleted_sas;
  std::vector<netlink::XfrmPolicyId> deleted_policies;
  std::deque<Status> update_sa_results, add_sa_results, add_policy_results, delete_results;
  uint32_t next_spi = 0xc0000abc;

  Result<uint32_t> alloc_spi(const netlink::XfrmSpiRequest& r) override {
    record("alloc_spi", r.reqid);
    spi_requests.push_back(r);
    return next_spi;
  }
  Status add_sa(const netlink::XfrmSa& sa) override {
    return sa_call("add_sa", sa, add_sa_results);
  }
  Status update_sa(const netlink::XfrmSa& sa) override {
    return sa_call("update_sa", sa, update_sa_results);
  }
  Status delete_sa(const netlink::XfrmSaId& id) override {
    record("delete_sa", id.spi);
    deleted_sas.push_back(id);
    return next(delete_results);
  }
  Status add_policy(const netlink::XfrmPolicy& p) override {
    record("add_policy " + dir(p.dir), p.templates.at(0).reqid);
    policies.push_back(p);
    return next(add_policy_results);
  }
  Status delete_policy(const netlink::XfrmPolicyId& id) override {
    calls.push_back("delete_policy " + dir(id.dir));
    deleted_policies.push_back(id);
    return next(delete_results);
  }

 private:
  static std::string dir(netlink::XfrmDir d) {
    return d == netlink::XfrmDir::Out ? "out" : d == netlink::XfrmDir::In ? "in" : "fwd";
  }
  static Status next(std::deque<Status>& results) {
    if (results.empty()) return {};
    Status st = results.front();
    results.pop_front();
    return st;
  }
  void record(const std::string& op, uint32_t value) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%x", value);
    calls.push_back(op + " " + hex);
  }
  Status sa_call(const std::string& op, const netlink::XfrmSa& sa, std::deque<Status>& results) {
    record(op + " " + std::to_string(sa.reqid - kReqid), sa.spi);
    sas.push_back(sa.clone());
    return next(results);
  }
};

class KernelChildrenTest : public testing::Test {
 protected:
  FakeXfrm xfrm;
  KernelChildren children{xfrm, kReqid, ike::KernelLifetime{3240, 3960}};
};

TEST_F(KernelChildrenTest, AllocatesAnSpiFromThePeerWithTheChildsReqid) {
  const auto spi = children.allocate_spi(gcm_child(2));
  ASSERT_TRUE(spi.ok());
  EXPECT_EQ(*spi, xfrm.next_spi);
  ASSERT_EQ(xfrm.spi_requests.size(), 1u);
  EXPECT_EQ(xfrm.spi_requests[0].src, ip("198.51.100.2"));
  EXPECT_EQ(xfrm.spi_requests[0].dst, ip("192.0.2.1"));
  EXPECT_EQ(xfrm.spi_requests[0].reqid, kReqid + 2);
  EXPECT_EQ(xfrm.spi_requests[0].proto, netlink::XfrmProto::Esp);
}

// The inbound SA completes the larval SA (update), then the outbound SA, then the policies.
TEST_F(KernelChildrenTest, InstallsInboundThenOutboundThenPolicies) {
  ASSERT_TRUE(children.install(gcm_child()).ok());
  EXPECT_THAT(xfrm.calls,
              ElementsAre("update_sa 0 c0000001", "add_sa 0 c2000002", "add_policy out 5ed00001",
                          "add_policy in 5ed00001", "add_policy fwd 5ed00001"));
  ASSERT_EQ(xfrm.sas.size(), 2u);
  EXPECT_EQ(xfrm.sas[0].lifetime, netlink::XfrmLifetime::after_seconds(3240, 3960));
  EXPECT_EQ(xfrm.sas[1].lifetime, netlink::XfrmLifetime::after_seconds(3240, 3960));
  EXPECT_EQ(xfrm.policies[0], child_policies(gcm_child(), kReqid)[0]);
}

TEST_F(KernelChildrenTest, EveryChildSaItsOwnReqid) {
  ASSERT_TRUE(children.install(gcm_child(0)).ok());
  ASSERT_TRUE(children.install(gcm_child(3)).ok());
  EXPECT_EQ(children.reqid(gcm_child(3)), kReqid + 3);
  ASSERT_EQ(xfrm.sas.size(), 4u);
  EXPECT_EQ(xfrm.sas[0].reqid, kReqid);
  EXPECT_EQ(xfrm.sas[1].reqid, kReqid);
  EXPECT_EQ(xfrm.sas[2].reqid, kReqid + 3);
  EXPECT_EQ(xfrm.sas[3].reqid, kReqid + 3);
  ASSERT_EQ(xfrm.policies.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(xfrm.policies[i].templates[0].reqid, i < 3 ? kReqid : kReqid + 3);
}

// A rekeyed pair goes in SA by SA and keeps its CHILD_SA's reqid; its policies are untouched.
TEST_F(KernelChildrenTest, RekeyedPairKeepsTheReqid) {
  ike::ChildSa rekeyed = gcm_child(1);
  rekeyed.spi_in = 0xc0000077;
  rekeyed.spi_out = 0xc2000088;
  ASSERT_TRUE(children.install_inbound(rekeyed).ok());
  ASSERT_TRUE(children.install_outbound(rekeyed).ok());
  EXPECT_THAT(xfrm.calls, ElementsAre("update_sa 1 c0000077", "add_sa 1 c2000088"));
}

// The kernel dropped the larval SA while the peer was slow to answer: the SA is added anew
// under the same SPI, with the line the lab test looks for.
TEST_F(KernelChildrenTest, AddsTheInboundSaWhenTheLarvalSaExpired) {
  xfrm.update_sa_results.push_back(
      Error{"updating SA spi 0xc0000001: No such process (ESRCH)", ESRCH});
  testing::internal::CaptureStderr();
  const Status st = children.install_inbound(gcm_child());
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_THAT(xfrm.calls, ElementsAre("update_sa 0 c0000001", "add_sa 0 c0000001"));
  EXPECT_EQ(xfrm.sas[1].src, xfrm.sas[0].src);
  EXPECT_EQ(xfrm.sas[1].dst, xfrm.sas[0].dst);
  EXPECT_TRUE(same(xfrm.sas[1].aead->key, xfrm.sas[0].aead->key));
  if (!std::getenv("JOURNAL_STREAM")) {  // otherwise the line went to the journal only
    EXPECT_THAT(
        log, HasSubstr(
                 "the larval SA of SPI 3221225473 expired while the peer answered; adding the SA"));
  }
}

TEST_F(KernelChildrenTest, OtherInboundErrorsStopTheInstall) {
  xfrm.update_sa_results.push_back(Error{"updating SA: Invalid argument (EINVAL)", EINVAL});
  const Status st = children.install(gcm_child());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EINVAL);
  EXPECT_THAT(xfrm.calls, ElementsAre("update_sa 0 c0000001"));
}

TEST_F(KernelChildrenTest, OutboundErrorStopsBeforeThePolicies) {
  xfrm.add_sa_results.push_back(Error{"adding SA: File exists (EEXIST)", EEXIST});
  const Status st = children.install(gcm_child());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EEXIST);
  EXPECT_EQ(xfrm.calls.size(), 2u);
}

TEST_F(KernelChildrenTest, StopsAtTheFirstPolicyRefused) {
  xfrm.add_policy_results = {Status{},
                             Status{Error{"adding policy in: File exists (EEXIST)", EEXIST}}};
  const Status st = children.install_policies(gcm_child());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EEXIST);
  EXPECT_THAT(xfrm.calls, ElementsAre("add_policy out 5ed00001", "add_policy in 5ed00001"));
}

TEST_F(KernelChildrenTest, RemovesBothSasOfThePair) {
  children.remove(gcm_child());
  EXPECT_THAT(xfrm.calls, ElementsAre("delete_sa c0000001", "delete_sa c2000002"));
  EXPECT_EQ(xfrm.deleted_sas[0].dst, ip("192.0.2.1"));
  EXPECT_EQ(xfrm.deleted_sas[0].src, ip("198.51.100.2"));
  EXPECT_EQ(xfrm.deleted_sas[1].dst, ip("198.51.100.2"));
  EXPECT_EQ(xfrm.deleted_sas[1].src, ip("192.0.2.1"));
  for (const auto& id : xfrm.deleted_sas) EXPECT_EQ(id.proto, netlink::XfrmProto::Esp);
}

// A pair whose outbound SA never went in (the peer failed before it answered) has SPI 0 there.
TEST_F(KernelChildrenTest, SpiZeroIsNoSa) {
  ike::ChildSa c = gcm_child();
  c.spi_out = 0;
  children.remove(c);
  EXPECT_THAT(xfrm.calls, ElementsAre("delete_sa c0000001"));
  c.spi_in = 0;
  children.remove(c);
  EXPECT_EQ(xfrm.calls.size(), 1u);
}

TEST_F(KernelChildrenTest, RemovesTheThreePolicies) {
  const ike::ChildSa c = gcm_child(1);
  children.remove_policies(c);
  EXPECT_THAT(xfrm.calls,
              ElementsAre("delete_policy out", "delete_policy in", "delete_policy fwd"));
  const auto expected = child_policies(c, kReqid + 1);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(xfrm.deleted_policies[i].selector, expected[i].selector);
    EXPECT_EQ(xfrm.deleted_policies[i].dir, expected[i].dir);
  }
}

// Removal goes on past errors: what can be removed is.
TEST_F(KernelChildrenTest, RemovalGoesOnPastErrors) {
  xfrm.delete_results = {Status{Error{"deleting SA: Operation not permitted (EPERM)", EPERM}}};
  testing::internal::CaptureStderr();
  children.remove(gcm_child());
  (void)testing::internal::GetCapturedStderr();
  EXPECT_EQ(xfrm.calls.size(), 2u);
}

TEST(KernelChildren, KeyLogGetsEachSaAsItGoesIn) {
  char tmpl[] = "/tmp/sedge-kernel-children-test.XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  {
    testing::internal::CaptureStderr();  // opening it warns loudly
    auto key_log = ike::KeyLog::open(dir);
    (void)testing::internal::GetCapturedStderr();
    ASSERT_TRUE(key_log.ok()) << key_log.error().message;
    FakeXfrm xfrm;
    KernelChildren children(xfrm, kReqid, {}, key_log->get());
    const ike::ChildSa c = gcm_child();
    ASSERT_TRUE(children.install(c).ok());
    std::ostringstream text;
    text << std::ifstream(dir / "esp_sa").rdbuf();
    EXPECT_EQ(text.str(), ike::KeyLog::esp_line("198.51.100.2", "192.0.2.1", kSpiIn, c.suite,
                                                c.key_in, c.integ_in) +
                              ike::KeyLog::esp_line("192.0.2.1", "198.51.100.2", kSpiOut, c.suite,
                                                    c.key_out, c.integ_out));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sedge::connector

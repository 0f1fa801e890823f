// sedge's XFRM message builders against the bytes iproute2 sends for the same objects
// (recorded by golden/record.sh from golden/cases.txt): an independent implementation of the
// same kernel ABI. Sequence number and port id (bytes 8-15) are the sender's, not compared.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "netlink/xfrm_messages.h"

namespace sedge::netlink {
namespace {

std::vector<uint8_t> load_golden(const std::string& name) {
  const char* src = std::getenv("SEDGE_SOURCE_DIR");
  std::string dir = std::string(src ? src : ".") + "/tests/unit/netlink/golden/";
  std::ifstream f(dir + name + ".hex");
  std::string hex;
  f >> hex;
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string hexdump(std::span<const uint8_t> b) {
  std::ostringstream o;
  for (size_t i = 0; i < b.size(); ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    o << (i % 16 == 0 ? (i ? "\n" : "") : " ") << buf;
  }
  return o.str();
}

void expect_same_bytes(const std::string& name, const Result<Request>& built) {
  ASSERT_TRUE(built.ok()) << built.error().message;
  std::vector<uint8_t> golden = load_golden(name);
  ASSERT_GE(golden.size(), 16u) << "golden/" << name << ".hex missing: run golden/record.sh";
  std::vector<uint8_t> ours(built->bytes().begin(), built->bytes().end());
  for (size_t i = 8; i < 16 && i < ours.size(); ++i) ours[i] = golden[i];
  if (ours != golden) {
    size_t first = 0;
    while (first < ours.size() && first < golden.size() && ours[first] == golden[first]) ++first;
    ADD_FAILURE() << name << ": first difference at byte " << first << "\nours (" << ours.size()
                  << " bytes):\n"
                  << hexdump(ours) << "\niproute2 (" << golden.size() << " bytes):\n"
                  << hexdump(golden);
  }
}

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
IpPrefix net(const char* s) { return *IpPrefix::parse(s); }

Secret key_bytes(uint8_t first, size_t n) {
  Secret k(n);
  for (size_t i = 0; i < n; ++i) k.mutable_bytes()[i] = static_cast<uint8_t>(first + i);
  return k;
}

TEST(GoldenPolicy, OutTunnelWithMark) {
  XfrmPolicy p;
  p.selector = {net("10.1.0.0/16"), net("10.2.0.0/16")};
  p.dir = XfrmDir::Out;
  p.priority = 100;
  p.mark = XfrmMark{42, 0xffffffff};
  p.templates = {{ip("192.0.2.1"), ip("192.0.2.2"), XfrmProto::Esp, XfrmMode::Tunnel, 0x5ed00001}};
  expect_same_bytes("policy_out_tunnel_mark", build_add_policy(p));
}

TEST(GoldenPolicy, InTunnelIpv6) {
  XfrmPolicy p;
  p.selector = {net("2001:db8:2::/48"), net("2001:db8:1::/48")};
  p.dir = XfrmDir::In;
  p.priority = 200;
  p.templates = {
      {ip("2001:db8::2"), ip("2001:db8::1"), XfrmProto::Esp, XfrmMode::Tunnel, 0x5ed00002}};
  expect_same_bytes("policy_in_tunnel_v6", build_add_policy(p));
}

TEST(GoldenPolicy, FwdAnyBoundToVtiMark) {
  XfrmPolicy p;
  p.selector = XfrmSelector::any(AF_INET);
  p.dir = XfrmDir::Fwd;
  p.mark = XfrmMark{0x2a, 0xff};
  p.templates = {
      {ip("198.51.100.2"), ip("198.51.100.1"), XfrmProto::Esp, XfrmMode::Tunnel, 0x5ed00003}};
  expect_same_bytes("policy_fwd_any_vti", build_add_policy(p));
}

TEST(GoldenPolicy, OutTransportUdpPort) {
  XfrmPolicy p;
  p.selector = {net("192.0.2.1/32"), net("192.0.2.2/32"), IPPROTO_UDP, 0, 500};
  p.dir = XfrmDir::Out;
  p.priority = 5;
  XfrmTemplate t;
  t.mode = XfrmMode::Transport;
  t.reqid = 0x5ed00004;
  p.templates = {t};
  expect_same_bytes("policy_out_transport_udp", build_add_policy(p));
}

TEST(GoldenPolicy, OutBlock) {
  XfrmPolicy p;
  p.selector = {net("10.9.0.0/16"), net("10.8.0.0/16")};
  p.dir = XfrmDir::Out;
  p.action = XfrmAction::Block;
  p.priority = 1;
  expect_same_bytes("policy_out_block", build_add_policy(p));
}

TEST(GoldenPolicy, DeleteWithMark) {
  XfrmPolicyId id{{net("10.1.0.0/16"), net("10.2.0.0/16")}, XfrmDir::Out,
                  XfrmMark{42, 0xffffffff}, std::nullopt, 0};
  expect_same_bytes("policy_delete_mark", build_delete_policy(id));
}

XfrmSa aead_sa() {
  XfrmSa sa;
  sa.src = ip("192.0.2.1");
  sa.dst = ip("192.0.2.2");
  sa.spi = 0xc1a2b3c4;
  sa.reqid = 0x5ed00001;
  sa.mark = XfrmMark{42, 0xffffffff};
  sa.aead = XfrmAead{"rfc4106(gcm(aes))", key_bytes(0, 20), 128};
  return sa;
}

TEST(GoldenSa, AeadTunnelWithMark) { expect_same_bytes("state_aead_tunnel_mark", build_add_sa(aead_sa())); }

TEST(GoldenSa, CbcSha256Ipv6Esn) {
  XfrmSa sa;
  sa.src = ip("2001:db8::1");
  sa.dst = ip("2001:db8::2");
  sa.spi = 0xc0000001;
  sa.reqid = 0x5ed00002;
  sa.esn = true;
  sa.replay_window = 128;
  sa.crypt = XfrmCrypt{"cbc(aes)", key_bytes(0, 32)};
  sa.auth = XfrmAuth{"hmac(sha256)", key_bytes(0x20, 32), 128};
  expect_same_bytes("state_cbc_sha256_v6_esn", build_add_sa(sa));
}

TEST(GoldenSa, NullEncryptionSha512Transport) {
  XfrmSa sa;
  sa.src = ip("192.0.2.1");
  sa.dst = ip("192.0.2.2");
  sa.spi = 0xc0000002;
  sa.reqid = 0x5ed00004;
  sa.mode = XfrmMode::Transport;
  sa.replay_window = 0;
  sa.crypt = XfrmCrypt{"ecb(cipher_null)", Secret()};
  sa.auth = XfrmAuth{"hmac(sha512)", key_bytes(0, 64), 256};
  expect_same_bytes("state_null_sha512_transport", build_add_sa(sa));
}

TEST(GoldenSa, NatTraversalAndLifetimes) {
  XfrmSa sa;
  sa.src = ip("192.0.2.1");
  sa.dst = ip("203.0.113.9");
  sa.spi = 0xc0000003;
  sa.reqid = 0x5ed00005;
  sa.aead = XfrmAead{"rfc4106(gcm(aes))", key_bytes(0, 36), 128};
  sa.encap = XfrmEncap{2, 4500, 4500, ip("0.0.0.0")};
  sa.lifetime.soft_bytes = 1000000;
  sa.lifetime.hard_bytes = 2000000;
  sa.lifetime.soft_add_seconds = 3000;
  sa.lifetime.hard_add_seconds = 3600;
  expect_same_bytes("state_natt_lifetimes", build_add_sa(sa));
}

TEST(GoldenSa, DeleteWithMark) {
  XfrmSaId id{ip("192.0.2.2"), 0xc1a2b3c4, XfrmProto::Esp, XfrmMark{42, 0xffffffff},
              ip("192.0.2.1")};
  expect_same_bytes("state_delete_mark", build_delete_sa(id));
}

TEST(GoldenSa, AllocSpi) {
  XfrmSpiRequest r;
  r.src = ip("192.0.2.2");
  r.dst = ip("192.0.2.1");
  r.reqid = 0x5ed00001;
  expect_same_bytes("state_allocspi", build_alloc_spi(r));
}

TEST(GoldenSpd, PolicyHashThresholds) {
  expect_same_bytes("spd_hash_thresholds",
                    build_set_policy_hash_thresholds(XfrmPolicyHashThresholds{16, 24, 48, 56}));
  EXPECT_FALSE(build_set_policy_hash_thresholds(XfrmPolicyHashThresholds{33, 0, 0, 0}).ok());
}

}  // namespace
}  // namespace sedge::netlink

// Message building beyond the golden bytes: round trips through our own parser (the kernel
// answers GETSA/dumps in the very layout NEWSA uses), the bad-input table, error wording,
// and event parsing from hand-made kernel messages.
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

#include <cstring>

#include "netlink/address.h"
#include "netlink/ownership.h"
#include "netlink/xfrm_messages.h"

namespace sedge::netlink {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
IpPrefix net(const char* s) { return *IpPrefix::parse(s); }
Secret key(size_t n, uint8_t fill = 0x11) { return Secret(std::vector<uint8_t>(n, fill)); }

XfrmSa full_sa() {
  XfrmSa sa;
  sa.src = ip("2001:db8::1");
  sa.dst = ip("2001:db8::2");
  sa.spi = 0xc0ffee01;
  sa.reqid = kReqidFirst + 7;
  sa.crypt = XfrmCrypt{"cbc(aes)", key(32)};
  sa.auth = XfrmAuth{"hmac(sha384)", key(48, 0x22), 192};
  sa.esn = true;
  sa.replay_window = 1024;
  sa.lifetime.soft_bytes = 100;
  sa.lifetime.hard_bytes = 200;
  sa.lifetime.soft_add_seconds = 10;
  sa.lifetime.hard_add_seconds = 20;
  sa.encap = XfrmEncap{2, 4500, 14500, std::nullopt};
  sa.mark = XfrmMark{0x2a, 0xff};
  sa.if_id = 9;
  return sa;
}

TEST(AddressTest, ParsesAndPrints) {
  EXPECT_EQ(ip("10.0.0.1").to_string(), "10.0.0.1");
  EXPECT_EQ(ip("2001:db8::1").to_string(), "2001:db8::1");
  EXPECT_EQ(net("10.1.0.0/16").to_string(), "10.1.0.0/16");
  EXPECT_EQ(net("10.1.2.3").length, 32);
  EXPECT_FALSE(IpAddress::parse("10.0.0.256").ok());
  EXPECT_FALSE(IpPrefix::parse("10.1.0.0/33").ok());
  EXPECT_FALSE(IpPrefix::parse("10.1.0.1/16").ok());  // host bits set
  EXPECT_FALSE(IpPrefix::parse("10.1.0.0/").ok());
  EXPECT_EQ(IpAddress::v4(0x0a000001), ip("10.0.0.1"));
}

TEST(RoundTrip, SaWithEveryAttribute) {
  XfrmSa sa = full_sa();
  auto msg = build_add_sa(sa);
  ASSERT_TRUE(msg.ok()) << msg.error().message;
  auto back = parse_sa(msg->bytes());
  ASSERT_TRUE(back.ok()) << back.error().message;
  const XfrmSa& b = back->sa;
  EXPECT_EQ(b.src, sa.src);
  EXPECT_EQ(b.dst, sa.dst);
  EXPECT_EQ(b.spi, sa.spi);
  EXPECT_EQ(b.reqid, sa.reqid);
  EXPECT_EQ(b.mode, XfrmMode::Tunnel);
  ASSERT_TRUE(b.crypt && b.auth);
  EXPECT_EQ(b.crypt->name, "cbc(aes)");
  EXPECT_TRUE(constant_time_equal(b.crypt->key.bytes(), sa.crypt->key.bytes()));
  EXPECT_EQ(b.auth->name, "hmac(sha384)");
  EXPECT_EQ(b.auth->trunc_bits, 192u);
  EXPECT_TRUE(constant_time_equal(b.auth->key.bytes(), sa.auth->key.bytes()));
  EXPECT_TRUE(b.esn);
  EXPECT_EQ(b.replay_window, 1024u);
  EXPECT_EQ(b.lifetime, sa.lifetime);
  EXPECT_EQ(b.encap, sa.encap);
  EXPECT_EQ(b.mark, sa.mark);
  EXPECT_EQ(b.if_id, sa.if_id);
}

// A CHILD_SA's time limits (soft: rekey, hard: gone even if the agent is) reach the kernel in
// xfrm_usersa_info.lft of NEWSA and UPDSA (the inbound SA completes ALLOCSPI's larval SA), with
// bytes and packets unlimited (XFRM_INF).
TEST(Lifetime, TimeLimitsInNewAndUpdatedSas) {
  XfrmSa sa;
  sa.src = ip("192.0.2.1");
  sa.dst = ip("198.51.100.1");
  sa.spi = 0xc0000001;
  sa.aead = XfrmAead{"rfc4106(gcm(aes))", key(20), 128};
  sa.lifetime = XfrmLifetime::after_seconds(3240, 3960);
  for (auto build : {build_add_sa, build_update_sa}) {
    auto built = build(sa);
    ASSERT_TRUE(built.ok()) << built.error().message;
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(built->bytes().data());
    ASSERT_GE(nlh->nlmsg_len, NLMSG_LENGTH(sizeof(xfrm_usersa_info)));
    xfrm_usersa_info info;
    std::memcpy(&info, NLMSG_DATA(nlh), sizeof info);
    EXPECT_EQ(info.lft.soft_add_expires_seconds, 3240u);
    EXPECT_EQ(info.lft.hard_add_expires_seconds, 3960u);
    EXPECT_EQ(info.lft.soft_use_expires_seconds, 0u);
    EXPECT_EQ(info.lft.hard_use_expires_seconds, 0u);
    EXPECT_EQ(info.lft.soft_byte_limit, XFRM_INF);
    EXPECT_EQ(info.lft.hard_byte_limit, XFRM_INF);
    EXPECT_EQ(info.lft.soft_packet_limit, XFRM_INF);
    EXPECT_EQ(info.lft.hard_packet_limit, XFRM_INF);
  }
  // A soft limit without a hard one (or above it) is refused before the kernel sees it.
  sa.lifetime = XfrmLifetime::after_seconds(30, 20);
  EXPECT_FALSE(build_add_sa(sa).ok());
  sa.lifetime = XfrmLifetime::after_seconds(0, 20);
  EXPECT_FALSE(build_update_sa(sa).ok());
}

TEST(RoundTrip, AeadSaAndDefaultTruncation) {
  XfrmSa sa;
  sa.src = ip("10.0.0.1");
  sa.dst = ip("10.0.0.2");
  sa.spi = 0x1000;
  sa.aead = XfrmAead{"rfc4106(gcm(aes))", key(36), 96};
  auto back = parse_sa(build_add_sa(sa)->bytes());
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->sa.aead);
  EXPECT_EQ(back->sa.aead->icv_bits, 96u);
  EXPECT_EQ(back->sa.aead->key.size(), 36u);
  EXPECT_EQ(back->sa.replay_window, 32u);

  XfrmSa sha;
  sha.src = sa.src;
  sha.dst = sa.dst;
  sha.spi = 0x1001;
  sha.crypt = XfrmCrypt{"cbc(aes)", key(16)};
  sha.auth = XfrmAuth{"hmac(sha512)", key(64), 0};  // 0 = RFC 4868 default, 256 bits
  auto back2 = parse_sa(build_add_sa(sha)->bytes());
  ASSERT_TRUE(back2.ok());
  EXPECT_EQ(back2->sa.auth->trunc_bits, 256u);
}

TEST(RoundTrip, PolicyWithTemplatesMarkAndIfId) {
  XfrmPolicy p;
  p.selector = {net("10.1.0.0/16"), net("10.2.0.0/24"), IPPROTO_TCP, 0, 443};
  p.dir = XfrmDir::Fwd;
  p.priority = 1234;
  p.mark = XfrmMark{7, 0xffff};
  p.if_id = 3;
  p.templates = {{ip("192.0.2.1"), ip("192.0.2.2"), XfrmProto::Esp, XfrmMode::Tunnel, 99, 0, false},
                 {IpAddress{}, IpAddress{}, XfrmProto::Ah, XfrmMode::Transport, 100, 0, true}};
  auto back = parse_policy(build_add_policy(p)->bytes());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
}

TEST(Describe, NamesTheObject) {
  XfrmSa sa;
  sa.src = ip("10.0.0.1");
  sa.dst = ip("10.0.0.2");
  sa.spi = 0xc1a2b3c4;
  EXPECT_EQ(describe(sa.id()), "SA spi 0xc1a2b3c4 10.0.0.1->10.0.0.2");
  XfrmPolicyId id{{net("10.1.0.0/16"), net("10.2.0.0/16")}, XfrmDir::Out, XfrmMark{42, 0xffffffff},
                  std::nullopt, 0};
  EXPECT_EQ(describe(id), "policy out 10.1.0.0/16->10.2.0.0/16 mark 0x2a/0xffffffff");
}

// ---- The bad-input table: each refused before anything reaches the kernel ----

struct BadSa {
  const char* name;
  void (*mutate)(XfrmSa&);
  const char* expected;  // part of the error message
};

XfrmSa good_sa() {
  XfrmSa sa;
  sa.src = ip("10.0.0.1");
  sa.dst = ip("10.0.0.2");
  sa.spi = 0xc1a2b3c4;
  sa.reqid = kReqidFirst;
  sa.aead = XfrmAead{"rfc4106(gcm(aes))", key(20), 128};
  return sa;
}

const BadSa kBadSas[] = {
    {"short AEAD key", [](XfrmSa& s) { s.aead->key = key(16); },
     "rfc4106(gcm(aes)) key is 16 bytes, expected 20, 28, 36"},
    {"unknown AEAD", [](XfrmSa& s) { s.aead->name = "gcm(aes)"; },
     "unknown AEAD algorithm 'gcm(aes)'"},
    {"bad ICV", [](XfrmSa& s) { s.aead->icv_bits = 100; }, "ICV of 100 bits"},
    {"AEAD plus auth",
     [](XfrmSa& s) { s.auth = XfrmAuth{"hmac(sha256)", key(32), 128}; },
     "AEAD SA takes no separate"},
    {"no algorithm", [](XfrmSa& s) { s.aead.reset(); }, "without an encryption algorithm"},
    {"cbc without auth",
     [](XfrmSa& s) {
       s.aead.reset();
       s.crypt = XfrmCrypt{"cbc(aes)", key(16)};
     },
     "needs an integrity algorithm"},
    {"cbc key 20",
     [](XfrmSa& s) {
       s.aead.reset();
       s.crypt = XfrmCrypt{"cbc(aes)", key(20)};
       s.auth = XfrmAuth{"hmac(sha256)", key(32), 128};
     },
     "cbc(aes) key is 20 bytes, expected 16, 24, 32"},
    {"hmac key length",
     [](XfrmSa& s) {
       s.aead.reset();
       s.crypt = XfrmCrypt{"ecb(cipher_null)", Secret()};
       s.auth = XfrmAuth{"hmac(sha256)", key(31), 128};
     },
     "hmac(sha256) key is 31 bytes, expected 32"},
    {"unknown hmac",
     [](XfrmSa& s) {
       s.aead.reset();
       s.crypt = XfrmCrypt{"cbc(aes)", key(16)};
       s.auth = XfrmAuth{"hmac(md5)", key(16), 96};
     },
     "unknown integrity algorithm 'hmac(md5)'"},
    {"truncation too long",
     [](XfrmSa& s) {
       s.aead.reset();
       s.crypt = XfrmCrypt{"cbc(aes)", key(16)};
       s.auth = XfrmAuth{"hmac(sha256)", key(32), 512};
     },
     "truncation to 512 bits"},
    {"null key not empty",
     [](XfrmSa& s) {
       s.aead.reset();
       s.crypt = XfrmCrypt{"ecb(cipher_null)", key(4)};
       s.auth = XfrmAuth{"hmac(sha256)", key(32), 128};
     },
     "ecb(cipher_null) key is 4 bytes, expected 0"},
    {"spi zero", [](XfrmSa& s) { s.spi = 0; }, "SPI 0 is reserved"},
    {"mixed families", [](XfrmSa& s) { s.dst = ip("2001:db8::1"); }, "different families"},
    {"no destination", [](XfrmSa& s) { s.dst = IpAddress{}; }, "addresses are required"},
    {"replay window", [](XfrmSa& s) { s.replay_window = 5000; }, "replay window 5000"},
    {"soft above hard",
     [](XfrmSa& s) {
       s.lifetime.soft_bytes = 10;
       s.lifetime.hard_bytes = 5;
     },
     "soft limit is above its hard limit"},
    {"encap port 0", [](XfrmSa& s) { s.encap = XfrmEncap{2, 0, 4500, std::nullopt}; },
     "non-zero UDP ports"},
    {"AH with encryption", [](XfrmSa& s) { s.proto = XfrmProto::Ah; }, "AH SAs take no"},
};

TEST(BadInput, EverySaProblemIsAClearErrorNamingTheSa) {
  for (const auto& bad : kBadSas) {
    XfrmSa sa = good_sa();
    bad.mutate(sa);
    auto r = build_add_sa(sa);
    ASSERT_FALSE(r.ok()) << bad.name;
    EXPECT_NE(r.error().message.find(bad.expected), std::string::npos)
        << bad.name << ": " << r.error().message;
    EXPECT_EQ(r.error().message.rfind("adding ", 0), 0u) << r.error().message;
    EXPECT_EQ(r.error().code, EINVAL) << bad.name;
  }
  EXPECT_TRUE(build_add_sa(good_sa()).ok());
}

TEST(BadInput, PolicyProblems) {
  XfrmPolicy p;
  p.selector = {net("10.1.0.0/16"), net("2001:db8::/32")};
  auto r = build_add_policy(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("mixes IPv4 and IPv6"), std::string::npos);

  p.selector = {net("10.1.0.0/16"), net("10.2.0.0/16"), 0, 0, 80};
  r = build_add_policy(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ports need protocol"), std::string::npos);

  p.selector = {net("10.1.0.0/16"), net("10.2.0.0/16")};
  p.templates = {{IpAddress{}, ip("192.0.2.1"), XfrmProto::Esp, XfrmMode::Tunnel, 1}};
  r = build_add_policy(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("tunnel template"), std::string::npos);

  p.templates.assign(7, {ip("192.0.2.1"), ip("192.0.2.2"), XfrmProto::Esp, XfrmMode::Tunnel, 1});
  EXPECT_FALSE(build_add_policy(p).ok());
}

TEST(BadInput, SpiRange) {
  XfrmSpiRequest r;
  r.src = ip("10.0.0.1");
  r.dst = ip("10.0.0.2");
  r.min = 0x2000;
  r.max = 0x1000;
  auto m = build_alloc_spi(r);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("is empty"), std::string::npos);
}

TEST(BadInput, TruncatedRepliesAreErrorsNotCrashes) {
  auto msg = build_add_sa(full_sa());
  ASSERT_TRUE(msg.ok());
  std::vector<uint8_t> bytes(msg->bytes().begin(), msg->bytes().end());
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    auto r = parse_sa(part);
    if (cut < 16 + sizeof(xfrm_usersa_info)) {
      EXPECT_FALSE(r.ok()) << cut;
    }
  }
}

// ---- Events, as the kernel would send them ----

std::vector<uint8_t> message(uint16_t type, const void* body, size_t len) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  std::memcpy(mnl_nlmsg_put_extra_header(nlh, len), body, len);
  buf.resize(nlh->nlmsg_len);
  return buf;
}

TEST(Events, SoftAndHardExpire) {
  xfrm_user_expire e{};
  e.state.family = AF_INET;
  std::memcpy(&e.state.id.daddr, ip("10.0.0.2").bytes.data(), 4);
  std::memcpy(&e.state.saddr, ip("10.0.0.1").bytes.data(), 4);
  e.state.id.spi = htonl(0xc1a2b3c4);
  e.state.id.proto = IPPROTO_ESP;
  e.state.reqid = kReqidFirst + 1;
  e.hard = 0;
  auto ev = parse_event(message(XFRM_MSG_EXPIRE, &e, sizeof e));
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  auto* x = std::get_if<XfrmExpireEvent>(&*ev);
  ASSERT_NE(x, nullptr);
  EXPECT_FALSE(x->hard);
  EXPECT_EQ(x->sa.spi, 0xc1a2b3c4u);
  EXPECT_EQ(x->sa.dst, ip("10.0.0.2"));
  EXPECT_EQ(x->reqid, kReqidFirst + 1);
  e.hard = 1;
  ev = parse_event(message(XFRM_MSG_EXPIRE, &e, sizeof e));
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(std::get<XfrmExpireEvent>(*ev).hard);
}

TEST(Events, AcquireAndMapping) {
  xfrm_user_acquire a{};
  a.policy.sel.family = AF_INET;
  a.sel.family = AF_INET;
  a.policy.dir = XFRM_POLICY_OUT;
  a.policy.index = 17;
  a.seq = 5;
  std::memcpy(&a.id.daddr, ip("192.0.2.2").bytes.data(), 4);
  std::memcpy(&a.saddr, ip("192.0.2.1").bytes.data(), 4);
  auto ev = parse_event(message(XFRM_MSG_ACQUIRE, &a, sizeof a));
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  auto& acq = std::get<XfrmAcquireEvent>(*ev);
  EXPECT_EQ(acq.dst, ip("192.0.2.2"));
  EXPECT_EQ(acq.policy_index, 17u);
  EXPECT_EQ(acq.seq, 5u);

  xfrm_user_mapping m{};
  m.id.family = AF_INET;
  m.id.spi = htonl(0x1234);
  m.id.proto = IPPROTO_ESP;
  std::memcpy(&m.new_saddr, ip("203.0.113.7").bytes.data(), 4);
  m.new_sport = htons(40000);
  m.old_sport = htons(4500);
  ev = parse_event(message(XFRM_MSG_MAPPING, &m, sizeof m));
  ASSERT_TRUE(ev.ok());
  auto& map = std::get<XfrmMappingEvent>(*ev);
  EXPECT_EQ(map.new_address, ip("203.0.113.7"));
  EXPECT_EQ(map.new_port, 40000);
  EXPECT_EQ(map.old_port, 4500);
  EXPECT_EQ(map.sa.spi, 0x1234u);
}

TEST(Events, UnknownAndShortMessagesAreErrors) {
  uint8_t junk[8] = {};
  EXPECT_FALSE(parse_event(message(XFRM_MSG_EXPIRE, junk, sizeof junk)).ok());
  EXPECT_FALSE(parse_event(message(XFRM_MSG_NEWSA, junk, sizeof junk)).ok());
  EXPECT_FALSE(parse_event({}).ok());
}

TEST(Ownership, Ranges) {
  EXPECT_TRUE(is_sedge_reqid(kReqidFirst));
  EXPECT_FALSE(is_sedge_reqid(1));
  EXPECT_TRUE(is_sedge_device("sec-paris"));
  EXPECT_FALSE(is_sedge_device("eth0"));
  EXPECT_TRUE(is_sedge_spi(0xc1a2b3c4));
  EXPECT_TRUE(is_sedge_rule_priority(kRulePriorityFirst));
}

}  // namespace
}  // namespace sedge::netlink

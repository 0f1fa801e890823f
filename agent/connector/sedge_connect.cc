// sedge-connect: brings one policy-based tunnel of the configuration up with sedge's own IKEv2
// engine, as initiator or (--respond) as responder, and installs its CHILD_SA in the kernel
// through the netlink layer, then answers the peer's liveness checks. The first slice of the
// connector that sedged will run.
// Either side rekeys the CHILD_SA and the IKE SA as the tunnel's lifetimes say (ChildLifetimeSec=,
// IkeLifetimeSec=; --child-lifetime / --ike-lifetime override them, e.g. for short lab runs) and
// answers the peer's rekeys; the kernel side of a rekey goes through the ChildSaHandler below.
//   sedge-connect [--config-dir D] [--respond] [--child-lifetime S] [--ike-lifetime S]
//                 [--rekey-at F] [--rekey-jitter F] TUNNEL [SECONDS]
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "agent/config/config.h"
#include "common/log.h"
#include "ike/initiator.h"
#include "ike/keylog.h"
#include "ike/responder.h"
#include "netlink/ownership.h"
#include "netlink/xfrm_client.h"

namespace {

using namespace sedge;

int fail(const std::string& what) {
  log::error(what);
  return 1;
}

ike::TrafficSelector selector(const config::Prefix& p) {
  ike::TrafficSelector ts;
  for (unsigned i = 0; i < 4; ++i) {
    const unsigned bits = p.length > i * 8 ? std::min(8u, p.length - i * 8) : 0;
    const auto mask = static_cast<uint8_t>(bits ? 0xff << (8 - bits) : 0);
    ts.start[i] = p.bytes[i] & mask;
    ts.end[i] = static_cast<uint8_t>(ts.start[i] | static_cast<uint8_t>(~mask));
  }
  return ts;
}

netlink::IpPrefix prefix_of(const ike::TrafficSelector& ts) {
  uint32_t start = 0, end = 0;
  for (int i = 0; i < 4; ++i) {
    start = start << 8 | ts.start[i];
    end = end << 8 | ts.end[i];
  }
  uint8_t len = 32;
  while (len > 0 && ((start ^ end) >> (32 - len)) != 0) --len;
  return {netlink::IpAddress::v4(start), len};
}

uint8_t id_type(config::IdType t) {
  switch (t) {
    case config::IdType::rfc822: return ike::kIdRfc822;
    case config::IdType::ipv4: return ike::kIdIpv4;
    case config::IdType::key_id: return ike::kIdKeyId;
    case config::IdType::ipv6: return ike::kIdIpv6;
    case config::IdType::der_asn1_dn: return ike::kIdDerAsn1Dn;
    default: return ike::kIdFqdn;
  }
}

ike::FragmentMode fragment_mode(config::Fragmentation f) {
  switch (f) {
    case config::Fragmentation::accept: return ike::FragmentMode::accept;
    case config::Fragmentation::force: return ike::FragmentMode::force;
    case config::Fragmentation::no: return ike::FragmentMode::no;
    default: return ike::FragmentMode::yes;
  }
}

// The local address the kernel would use towards `remote`.
Result<sockaddr_in> source_for(const sockaddr_in& remote) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  const bool ok = fd >= 0 && connect(fd, reinterpret_cast<const sockaddr*>(&remote), sizeof remote) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0;
  if (fd >= 0) close(fd);
  if (!ok) return Error::sys("finding a route to the peer");
  local.sin_port = htons(500);
  return local;
}

// The kernel's names for the negotiated ESP algorithms (RFC 4106 AES-GCM-16 with a 128-bit ICV;
// AES-CBC or ENCR_NULL with HMAC-SHA2 truncated as RFC 4868 says), and ESN as the replay-esn state.
std::string kernel_integ(uint16_t integ) {
  switch (integ) {
    case ike::kIntegHmacSha384_192: return "hmac(sha384)";
    case ike::kIntegHmacSha512_256: return "hmac(sha512)";
    default: return "hmac(sha256)";
  }
}

netlink::XfrmSa child_sa(const netlink::IpAddress& src, const netlink::IpAddress& dst, uint32_t spi,
                         uint32_t reqid, const Secret& key, const ike::EstablishedSa& ike_sa,
                         bool outbound, const Secret& integ_key,
                         const ike::KernelLifetime& lifetime) {
  netlink::XfrmSa sa;
  sa.lifetime = netlink::XfrmLifetime::after_seconds(lifetime.soft_seconds, lifetime.hard_seconds);
  if (ike_sa.behind_nat) {  // ESP in UDP (RFC 3948), on the ports IKE floated to
    netlink::XfrmEncap encap;
    encap.sport = outbound ? ike_sa.local_port : ike_sa.remote_port;
    encap.dport = outbound ? ike_sa.remote_port : ike_sa.local_port;
    sa.encap = encap;
  }
  sa.src = src;
  sa.dst = dst;
  sa.spi = spi;
  sa.reqid = reqid;
  const ike::Suite& suite = ike_sa.suite;
  if (suite.esp_aead()) {
    sa.aead = netlink::XfrmAead{"rfc4106(gcm(aes))", key.clone(), 128};
  } else {
    sa.crypt = netlink::XfrmCrypt{suite.esp_encr == ike::kEncrNull ? "ecb(cipher_null)" : "cbc(aes)", key.clone()};
    sa.auth = netlink::XfrmAuth{kernel_integ(suite.esp_integ), integ_key.clone(),
                                static_cast<uint32_t>(ike::integ_icv_size(suite.esp_integ) * 8)};
  }
  sa.esn = suite.esn;  // the netlink layer sends the replay-esn state with it
  return sa;
}

netlink::XfrmPolicy policy(netlink::XfrmDir dir, const netlink::IpPrefix& src, const netlink::IpPrefix& dst,
                           const netlink::IpAddress& tsrc, const netlink::IpAddress& tdst, uint32_t reqid) {
  netlink::XfrmPolicy p;
  p.selector.src = src;
  p.selector.dst = dst;
  p.dir = dir;
  netlink::XfrmTemplate t;
  t.src = tsrc;
  t.dst = tdst;
  t.reqid = reqid;
  p.templates.push_back(t);
  return p;
}

// An inbound SA completes the larval SA ALLOCSPI made. The kernel drops that one when the peer
// takes longer than it waits (net.core.xfrm_acq_expires, 30 s: a slow peer installing its side
// before it answers IKE_AUTH); the SA is then added anew under the same SPI.
Status install_inbound_sa(netlink::XfrmClient& xfrm, const netlink::XfrmSa& sa) {
  auto st = xfrm.update_sa(sa);
  if (st.ok() || st.error().code != ESRCH) return st;
  log::info("the larval SA of SPI " + std::to_string(sa.spi) + " expired while the peer answered; adding the SA");
  return xfrm.add_sa(sa);
}

// The kernel side of CHILD_SAs: SPIs from ALLOCSPI, SAs and policies through the netlink layer,
// every CHILD_SA with its own reqid (the first the tunnel's, then one more per CHILD_SA) so that
// each policy takes its own SAs. Rekeyed pairs share their CHILD_SA's reqid and policies.
class KernelChildren : public ike::ChildSaHandler {
 public:
  KernelChildren(netlink::XfrmClient& xfrm, const ike::EstablishedSa& sa, netlink::IpAddress me,
                 netlink::IpAddress them, uint32_t reqid, ike::KernelLifetime lifetime,
                 ike::KeyLog* key_log)
      : xfrm_(xfrm),
        sa_(sa),
        me_(me),
        them_(them),
        reqid_(reqid),
        lifetime_(lifetime),
        key_log_(key_log) {}
  Result<uint32_t> allocate_spi(const ike::ChildSa& c) override {
    netlink::XfrmSpiRequest req;
    req.src = them_;
    req.dst = me_;
    req.reqid = reqid_ + c.index;
    return xfrm_.alloc_spi(req);
  }
  Status install_inbound(const ike::ChildSa& c) override {
    if (key_log_) (void)key_log_->esp_sa(them_.to_string(), me_.to_string(), c.spi_in, sa_.suite, c.key_in, c.integ_in);
    return install_inbound_sa(xfrm_, child_sa(them_, me_, c.spi_in, reqid_ + c.index, c.key_in, sa_,
                                              false, c.integ_in, lifetime_));
  }
  Status install_outbound(const ike::ChildSa& c) override {
    if (key_log_) (void)key_log_->esp_sa(me_.to_string(), them_.to_string(), c.spi_out, sa_.suite, c.key_out, c.integ_out);
    return xfrm_.add_sa(child_sa(me_, them_, c.spi_out, reqid_ + c.index, c.key_out, sa_, true,
                                 c.integ_out, lifetime_));
  }
  Status install_policies(const ike::ChildSa& c) override {
    for (const auto& p : policies(c)) {
      if (auto st = xfrm_.add_policy(p); !st) return st;
    }
    return {};
  }
  void remove_policies(const ike::ChildSa& c) override {
    for (const auto& p : policies(c)) (void)xfrm_.delete_policy(p.id());
  }
  void remove(const ike::ChildSa& c) override {
    if (c.spi_in) (void)xfrm_.delete_sa(netlink::XfrmSaId{me_, c.spi_in, netlink::XfrmProto::Esp, std::nullopt, them_});
    if (c.spi_out) (void)xfrm_.delete_sa(netlink::XfrmSaId{them_, c.spi_out, netlink::XfrmProto::Esp, std::nullopt, me_});
  }
  // A CHILD_SA whole: inbound SA first (it completes the larval SA ALLOCSPI made), then
  // outbound, then the policies; the first CHILD_SA goes in this way too.
  Status install(const ike::ChildSa& c) {
    Status st = install_inbound(c);
    if (st) st = install_outbound(c);
    if (st) st = install_policies(c);
    return st;
  }

 private:
  std::array<netlink::XfrmPolicy, 3> policies(const ike::ChildSa& c) const {
    const auto lp = prefix_of(c.local_ts), rp = prefix_of(c.remote_ts);
    const uint32_t reqid = reqid_ + c.index;
    return {policy(netlink::XfrmDir::Out, lp, rp, me_, them_, reqid),
            policy(netlink::XfrmDir::In, rp, lp, them_, me_, reqid),
            policy(netlink::XfrmDir::Fwd, rp, lp, them_, me_, reqid)};
  }
  netlink::XfrmClient& xfrm_;
  const ike::EstablishedSa& sa_;
  netlink::IpAddress me_, them_;
  uint32_t reqid_;
  ike::KernelLifetime lifetime_;
  ike::KeyLog* key_log_;
};

}  // namespace

int main(int argc, char** argv) {
  config::Sources sources = config::Sources::from_environment();
  int i = 1;
  bool respond = false;
  double child_lifetime = -1, ike_lifetime = -1;  // seconds
  double jitter = 0.1, fraction = 0.9;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (std::strcmp(argv[i], "--config-dir") == 0 && i + 1 < argc) {
      sources.directories = {argv[++i]};
    } else if (std::strcmp(argv[i], "--respond") == 0) {
      respond = true;
    } else if (std::strcmp(argv[i], "--child-lifetime") == 0 && i + 1 < argc) {
      child_lifetime = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--ike-lifetime") == 0 && i + 1 < argc) {
      ike_lifetime = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--rekey-at") == 0 && i + 1 < argc) {
      fraction = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--rekey-jitter") == 0 && i + 1 < argc) {
      jitter = std::atof(argv[++i]);
    } else {
      break;
    }
  }
  if (i >= argc) {
    std::cerr << "usage: sedge-connect [--config-dir D] [--respond] [--child-lifetime S] [--ike-lifetime S] [--rekey-at F] [--rekey-jitter F] TUNNEL "
                 "[SECONDS]\n";
    return 2;
  }
  const std::string name = argv[i];
  const int seconds = i + 1 < argc ? std::atoi(argv[i + 1]) : 0;
  auto loaded = config::load(sources);
  if (!loaded) return fail(loaded.error().message);
  const config::Config& cfg = loaded->config;
  auto it = cfg.tunnels.find(name);
  if (it == cfg.tunnels.end()) return fail("no tunnel " + name + " in the configuration");
  const config::Tunnel& t = it->second;
  if (t.routing != config::Routing::policy_based || t.local_ts.empty() || t.remote_ts.empty() || !t.remote_id) {
    return fail("tunnel " + name + ": this tool brings up policy-based tunnels with a RemoteId");
  }
  ike::InitiatorConfig ic;
  ic.remote.sin_family = AF_INET;
  ic.remote.sin_port = htons(500);
  if (inet_pton(AF_INET, t.remote.c_str(), &ic.remote.sin_addr) != 1) return fail("Remote=" + t.remote + " is not an IPv4 address");
  auto local = source_for(ic.remote);
  if (!local) return fail(local.error().message);
  ic.local = *local;
  const config::Identity lid = cfg.local_id_for(t);
  ic.tunnel.local_id_type = id_type(lid.type);
  ic.tunnel.local_id = lid.value;
  ic.tunnel.remote_id_type = id_type(t.remote_id->type);
  ic.tunnel.remote_id = t.remote_id->value;
  ic.tunnel.psk = &cfg.psk_for(t);
  if (cfg.auth_method_for(t) == config::AuthMethod::pubkey) {
    auto pubkey = ike::load_pubkey_auth(cfg.certificate_for(t), cfg.private_key_for(t), cfg.ca_path_for(t));
    if (!pubkey) return fail("tunnel " + name + ": " + pubkey.error().message);
    log::info("tunnel " + name + ": authenticating with certificate " + (*pubkey)->chain.front().subject() + " (issuer " +
              (*pubkey)->chain.front().issuer() + "), trusting " + std::to_string((*pubkey)->trust.size()) + " CA certificate(s) from " +
              cfg.ca_path_for(t));
    ic.tunnel.pubkey = std::move(*pubkey);
  }
  ic.nat_traversal = t.nat_traversal;
  ic.tunnel.fragmentation = {fragment_mode(t.fragmentation), t.fragment_size};
  auto suite = ike::parse_suite(t.ike_proposals.front(), t.esp_proposals.front());
  if (!suite) return fail("tunnel " + name + ": " + suite.error().message);
  ic.suite = *suite;
  auto pfs = ike::parse_pfs_group(t.esp_proposals.front());
  if (!pfs) return fail("tunnel " + name + ": " + pfs.error().message);
  ic.tunnel.local_ts = selector(t.local_ts.front());
  ic.tunnel.remote_ts = selector(t.remote_ts.front());

  char laddr[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &ic.local.sin_addr, laddr, sizeof laddr);
  const auto me = *netlink::IpAddress::parse(laddr);
  const auto them = *netlink::IpAddress::parse(t.remote);
  const uint32_t reqid = netlink::kReqidFirst + 1;
  auto xfrm = netlink::XfrmClient::open();
  if (!xfrm) return fail(xfrm.error().message);
  auto allocate = [&](const sockaddr_in& peer) -> Result<uint32_t> {
    char paddr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, paddr, sizeof paddr);
    netlink::XfrmSpiRequest req;
    req.src = *netlink::IpAddress::parse(paddr);
    req.dst = me;
    req.reqid = reqid;
    return xfrm->alloc_spi(req);
  };
  std::unique_ptr<ike::Initiator> initiator;
  std::unique_ptr<ike::Responder> responder;
  Result<ike::EstablishedSa> sa = Error{"", 0};
  uint32_t larval_spi = 0;  // the initiator's ALLOCSPI SA, until the CHILD_SA completes it
  if (respond) {
    ike::ResponderConfig rc;
    rc.local = ic.local;
    rc.tunnel = ic.tunnel;
    rc.suite = ic.suite;
    rc.allocate_spi = allocate;
    responder = std::make_unique<ike::Responder>(std::move(rc));
    if (auto st = responder->listen(); !st) return fail(st.error().message);
    std::printf("tunnel %s: listening on %s\n", name.c_str(), laddr);
    std::fflush(stdout);
    sa = responder->accept(std::chrono::seconds(seconds > 0 ? seconds : 3600));
  } else {
    // A service location may be unreachable for a while (a new one takes minutes to deploy):
    // keep trying with backoff, up to a minute apart, rather than give up.
    auto wait = std::chrono::seconds(5);
    for (;;) {
      auto spi = allocate(ic.remote);
      if (!spi) return fail(spi.error().message);
      ic.child_spi = *spi;
      larval_spi = *spi;
      initiator = std::make_unique<ike::Initiator>(ic);
      sa = initiator->establish();
      if (sa || (sa.error().code != ETIMEDOUT && sa.error().code != ECONNREFUSED)) break;
      (void)xfrm->delete_sa(netlink::XfrmSaId{me, *spi, netlink::XfrmProto::Esp, std::nullopt, them});  // the larval SA
      log::warning("tunnel " + name + ": " + sa.error().message + "; retrying in " + std::to_string(wait.count()) + " s");
      std::this_thread::sleep_for(wait);
      wait = std::min(wait * 2, std::chrono::seconds(60));
    }
  }
  if (!sa) {
    // Refused or failed: nothing of the tunnel stays in the kernel, not even the larval SA.
    if (larval_spi) (void)xfrm->delete_sa(netlink::XfrmSaId{me, larval_spi, netlink::XfrmProto::Esp, std::nullopt, them});
    return fail("tunnel " + name + ": " + sa.error().message);
  }
  log::info("tunnel " + name + ": IKE SA established", {{"IKE_SPI_I", std::to_string(sa->spi_i)}, {"TUNNEL", name}});
  std::unique_ptr<ike::KeyLog> key_log;
  if (!cfg.key_log_directory.empty()) {
    auto opened = ike::KeyLog::open(cfg.key_log_directory);
    if (!opened) return fail(opened.error().message);
    key_log = std::move(*opened);
    (void)key_log->ike_sa(sa->spi_i, sa->spi_r, sa->keys);  // each CHILD_SA's keys as it goes in
  }
  ike::ServeOptions options;
  options.duration = std::chrono::seconds(seconds);
  options.dpd_interval = std::chrono::seconds(t.dpd_interval_sec);
  options.dpd_timeout = std::chrono::seconds(t.dpd_timeout_sec);
  auto lifetime = [](double given, uint32_t configured) {
    return std::chrono::milliseconds(given >= 0 ? static_cast<int64_t>(given * 1000) : int64_t{configured} * 1000);
  };
  options.child_lifetime = lifetime(child_lifetime, t.child_lifetime_sec);
  options.ike_lifetime = lifetime(ike_lifetime, t.ike_lifetime_sec);
  options.rekey_jitter = std::clamp(jitter, 0.0, 0.5);
  options.rekey_fraction = std::clamp(fraction, 0.5, 1.0);
  options.suite = sa->suite;
  options.pfs_group = *pfs;
  options.key_log = key_log.get();
  for (const auto& p : t.local_ts) options.local_ts.push_back(selector(p));
  for (const auto& p : t.remote_ts) options.remote_ts.push_back(selector(p));
  options.max_children = t.max_child_sas;
  if (!respond) {
    for (const config::Child* c : cfg.children_of(name))
      options.create_children.emplace_back(selector(c->local_ts), selector(c->remote_ts));
  }
  KernelChildren children(*xfrm, *sa, me, them, reqid, ike::kernel_lifetime(options),
                          key_log.get());
  options.children = &children;
  if (auto st = children.install(ike::first_child(*sa)); !st) return fail(st.error().message);
  const auto lp = prefix_of(sa->local_ts), rp = prefix_of(sa->remote_ts);
  std::printf("tunnel %s up: IKE SA %016llx_i %016llx_r, ESP in 0x%08x out 0x%08x, %s <=> %s%s\n",
              name.c_str(), static_cast<unsigned long long>(sa->spi_i),
              static_cast<unsigned long long>(sa->spi_r), sa->child_spi_in, sa->child_spi_out,
              lp.to_string().c_str(), rp.to_string().c_str(),
              sa->behind_nat ? ", behind NAT: UDP 4500" : "");
  std::fflush(stdout);
  auto st = respond ? responder->serve(*sa, options) : initiator->serve(*sa, options);
  if (!st) {
    // The tunnel is gone: its kernel objects go with it, so nothing stale steers traffic.
    const ike::ChildSa first = ike::first_child(*sa);
    children.remove(first);
    children.remove_policies(first);
    return fail("tunnel " + name + ": " + st.error().message + "; its SAs and policies were removed");
  }
  return 0;
}

// ike-responder: sedge's multi-SA IKE server for the IKE benchmark. It accepts any initiator
// identity with the benchmark's PSK and installs each first CHILD_SA into the kernel (ALLOCSPI,
// then both ESP SAs through the netlink layer), as charon does in the same benchmark. Runs
// until SIGTERM or SIGINT, then prints its counters.
//   ike-responder LOCAL_IP GROUP [PSK_FILE]  (the key: the file's first line)
#include <arpa/inet.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "ike/server.h"
#include "netlink/ownership.h"
#include "netlink/xfrm_client.h"

using namespace sedge;

namespace {

ike::Server* running = nullptr;

std::string ip_of(const sockaddr_in& a) {
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a.sin_addr, b, sizeof b);
  return b;
}

class KernelHandler : public ike::SaHandler {
 public:
  KernelHandler(netlink::XfrmClient xfrm, netlink::IpAddress me) : xfrm_(std::move(xfrm)), me_(me) {}
  Result<uint32_t> allocate_spi(const sockaddr_in& peer) override {
    netlink::XfrmSpiRequest req;
    req.src = *netlink::IpAddress::parse(ip_of(peer));
    req.dst = me_;
    req.reqid = reqid_;
    return xfrm_.alloc_spi(req);
  }
  Status install(const ike::EstablishedSa& sa, const sockaddr_in& peer) override {
    const auto them = *netlink::IpAddress::parse(ip_of(peer));
    if (auto st = xfrm_.update_sa(esp(them, me_, sa.child_spi_in, sa.child_keys.initiator_to_responder)); !st) return st;
    return xfrm_.add_sa(esp(me_, them, sa.child_spi_out, sa.child_keys.responder_to_initiator));
  }
  void remove(const ike::EstablishedSa& sa, const sockaddr_in& peer) override {
    const auto them = *netlink::IpAddress::parse(ip_of(peer));
    (void)xfrm_.delete_sa(netlink::XfrmSaId{me_, sa.child_spi_in, netlink::XfrmProto::Esp, std::nullopt, them});
    (void)xfrm_.delete_sa(netlink::XfrmSaId{them, sa.child_spi_out, netlink::XfrmProto::Esp, std::nullopt, me_});
  }

 private:
  // The benchmark's ESP is AES-GCM-16 128 (RFC 4106).
  netlink::XfrmSa esp(const netlink::IpAddress& src, const netlink::IpAddress& dst, uint32_t spi, const Secret& key) const {
    netlink::XfrmSa s;
    s.src = src;
    s.dst = dst;
    s.spi = spi;
    s.reqid = reqid_;
    s.aead = netlink::XfrmAead{"rfc4106(gcm(aes))", key.clone(), 128};
    return s;
  }
  netlink::XfrmClient xfrm_;
  netlink::IpAddress me_;
  uint32_t reqid_ = netlink::kReqidFirst + 77;
};

std::string group_name(int g) { return g == 14 ? "modp2048" : g == 19 ? "ecp256" : g == 31 ? "curve25519" : "?"; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: ike-responder LOCAL_IP GROUP [PSK_FILE]\n");
    return 2;
  }
  std::string psk_text = "sedge ike benchmark pre-shared key";
  if (argc > 3) {
    std::ifstream f(argv[3]);
    std::getline(f, psk_text);
  }
  const Secret psk{std::string_view(psk_text)};
  auto suite = ike::parse_suite("aes128gcm16-prfsha256-" + group_name(std::atoi(argv[2])), "aes128gcm16");
  auto me = netlink::IpAddress::parse(argv[1]);
  auto xfrm = netlink::XfrmClient::open();
  if (!suite || !me || !xfrm) {
    std::fprintf(stderr, "ike-responder: %s\n", !suite ? suite.error().message.c_str() : !me ? "bad address" : xfrm.error().message.c_str());
    return 2;
  }
  KernelHandler handler(std::move(*xfrm), *me);
  ike::TunnelSpec tunnel;
  tunnel.local_id_type = ike::kIdFqdn;
  tunnel.local_id = "pop.example.net";
  tunnel.psk = &psk;
  tunnel.local_ts = {{10, 201, 0, 0}, {10, 201, 0, 255}};
  tunnel.remote_ts = {{10, 99, 99, 0}, {10, 99, 99, 255}};
  ike::ServerConfig c;
  inet_pton(AF_INET, argv[1], &c.local.sin_addr);
  c.local.sin_family = AF_INET;
  c.suite = *suite;
  c.handler = &handler;
  c.cookie_threshold = 100000;  // as charon is configured in the benchmark
  c.tunnel_for = [&](uint8_t, const std::string&) { return &tunnel; };  // any identity, one key
  auto server = ike::Server::create(std::move(c));
  if (!server) {
    std::fprintf(stderr, "ike-responder: %s\n", server.error().message.c_str());
    return 1;
  }
  running = server->get();
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);  // the workers inherit it; a thread of ours waits
  std::thread waiter([mask] {
    int sig = 0;
    sigwait(&mask, &sig);
    running->stop();
  });
  std::printf("ike-responder: listening\n");
  std::fflush(stdout);
  auto st = (*server)->run();
  waiter.join();
  const ike::ServerStats s = (*server)->stats();
  std::printf("ike-responder: %llu setups, %zu established, %llu refused, %llu dropped, %llu retransmissions answered\n",
              static_cast<unsigned long long>(s.setups), s.established, static_cast<unsigned long long>(s.refused),
              static_cast<unsigned long long>(s.dropped), static_cast<unsigned long long>(s.retransmits_answered));
  if (!st) std::fprintf(stderr, "ike-responder: %s\n", st.error().message.c_str());
  return st ? 0 : 1;
}

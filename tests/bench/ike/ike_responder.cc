// ike-responder: sedge's IKE engine (ike::Engine, the one tunnels run) as the many-SA responder
// of the IKE benchmark. It accepts any initiator identity with the benchmark's PSK and installs
// each first CHILD_SA into the kernel through the connector's kernel adapter (ALLOCSPI, both
// ESP SAs, the policies), as charon does in the same benchmark. Runs until SIGTERM or SIGINT,
// then prints its counters. Logs below warnings are left out unless SEDGE_LOG_LEVEL says.
//   ike-responder LOCAL_IP GROUP [PSK_FILE]  (the key: the file's first line)
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "agent/config/values.h"
#include "agent/connector/kernel_children.h"
#include "agent/connector/tunnel_config.h"
#include "common/log.h"
#include "ike/engine.h"
#include "netlink/ownership.h"
#include "netlink/xfrm_client.h"

using namespace sedge;

namespace {

// KernelChildren with one set of policies for all the CHILD_SAs that share selectors: every
// initiator of the benchmark asks for the same ones and the kernel holds one policy per
// selector and direction, so they go in with the first such CHILD_SA and out with the last
// (strongSwan's kernel-netlink counts them the same way).
class SharedPolicies final : public ike::ChildSaHandler {
 public:
  explicit SharedPolicies(connector::KernelChildren& kernel) : kernel_(kernel) {}
  Result<uint32_t> allocate_spi(const ike::ChildSa& child) override {
    return kernel_.allocate_spi(child);
  }
  Status install_inbound(const ike::ChildSa& child) override {
    return kernel_.install_inbound(child);
  }
  Status install_outbound(const ike::ChildSa& child) override {
    return kernel_.install_outbound(child);
  }
  Status install_policies(const ike::ChildSa& child) override {
    Users& u = users_of(child);
    if (u.count == 0) {
      if (auto st = kernel_.install_policies(child); !st) return st;
    }
    ++u.count;
    return {};
  }
  void remove_policies(const ike::ChildSa& child) override {
    Users& u = users_of(child);
    if (u.count == 0 || --u.count > 0) return;
    kernel_.remove_policies(child);
  }
  void remove(const ike::ChildSa& child) override { kernel_.remove(child); }

 private:
  struct Users {
    ike::SelectorPair selectors;
    size_t count = 0;
  };
  Users& users_of(const ike::ChildSa& child) {
    const ike::SelectorPair s{child.local_ts, child.remote_ts};
    for (auto& u : users_) {
      if (u.selectors == s) return u;
    }
    return users_.emplace_back(Users{s, 0});
  }
  connector::KernelChildren& kernel_;
  std::vector<Users> users_;  // a few distinct pairs at most
};

std::string group_name(int g) {
  return g == 14 ? "modp2048" : g == 19 ? "ecp256" : g == 31 ? "curve25519" : "?";
}

// The counters of the run: the engine's, and what the events of its IKE SAs tell.
struct Counters {
  uint64_t setups = 0;           // IKE SAs established with their CHILD_SA installed
  uint64_t refused_at_auth = 0;  // IKE SAs that closed before they were up: IKE_AUTH refused
  std::unordered_set<const ike::IkeSa*> up;  // established now
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: ike-responder LOCAL_IP GROUP [PSK_FILE]\n");
    return 2;
  }
  if (!std::getenv("SEDGE_LOG_LEVEL")) log::set_level(log::Level::warning);
  std::string psk_text = "sedge ike benchmark pre-shared key";
  if (argc > 3) {
    std::ifstream f(argv[3]);
    std::getline(f, psk_text);
  }
  const Secret psk{std::string_view(psk_text)};
  auto suite =
      ike::parse_suite("aes128gcm16-prfsha256-" + group_name(std::atoi(argv[2])), "aes128gcm16");
  auto me = ike::Address::parse(argv[1], ike::kIkePort);
  auto xfrm = netlink::XfrmClient::open();
  if (!suite || !me || !xfrm) {
    std::fprintf(stderr, "ike-responder: %s\n",
                 !suite ? suite.error().message.c_str()
                 : !me  ? "bad address"
                        : xfrm.error().message.c_str());
    return 2;
  }
  connector::KernelChildren kernel(*xfrm, netlink::kReqidFirst + 77, ike::KernelLifetime{});
  SharedPolicies children(kernel);
  ike::SaConfig sa_config;
  sa_config.suite = *suite;
  sa_config.tunnel.local_id_type = ike::kIdFqdn;
  sa_config.tunnel.local_id = "pop.example.net";
  sa_config.tunnel.psk = &psk;
  sa_config.tunnel.local_ts = connector::selector(*config::parse_prefix("10.201.0.0/24"));
  sa_config.tunnel.remote_ts = connector::selector(*config::parse_prefix("10.99.99.0/24"));

  sd_event* loop = nullptr;
  if (int r = sd_event_default(&loop); r < 0) {
    std::fprintf(stderr, "ike-responder: creating the event loop: %s\n", std::strerror(-r));
    return 1;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sd_event_add_signal(loop, nullptr, SIGTERM, nullptr, nullptr);
  sd_event_add_signal(loop, nullptr, SIGINT, nullptr, nullptr);
  ike::EngineOptions options;
  options.sockets.bind = {*me};
  // As charon is configured in the benchmark (cookie_threshold, cookie_threshold_ip,
  // block_threshold): no COOKIEs and no half-open caps in reach of the load.
  options.limits.cookie_threshold = 100000;
  options.limits.half_open_per_source = 100000;
  options.limits.half_open_max = 100000;
  auto engine = ike::Engine::open(loop, options);
  if (!engine) {
    std::fprintf(stderr, "ike-responder: %s\n", engine.error().message.c_str());
    sd_event_unref(loop);
    return 1;
  }
  Counters counters;
  (*engine)->observe([&counters](ike::IkeSa& sa, const ike::SaEvent& e) {
    if (e.kind == ike::SaEventKind::up) {
      ++counters.setups;
      counters.up.insert(&sa);
    } else if (e.kind == ike::SaEventKind::down && counters.up.erase(&sa) == 0) {
      ++counters.refused_at_auth;
    }
  });
  (*engine)->listen(
      sa_config,
      [&sa_config](uint8_t, const std::string&) { return &sa_config; },  // any identity, one key
      ike::SaEnvironment{&children, nullptr, 0});
  std::printf("ike-responder: listening\n");
  std::fflush(stdout);
  const int r = sd_event_loop(loop);
  const ike::Engine::Stats& s = (*engine)->stats();
  std::printf(
      "ike-responder: %llu setups, %zu established, %llu refused, %llu dropped, %llu "
      "retransmissions answered\n",
      static_cast<unsigned long long>(counters.setups), counters.up.size(),
      static_cast<unsigned long long>(s.refused + counters.refused_at_auth),
      static_cast<unsigned long long>(s.dropped + s.refused_half_open),
      static_cast<unsigned long long>(s.retransmits_answered));
  std::fflush(stdout);
  // The kernel's SAs and policies stay (the benchmark flushes them): nothing is deleted on exit.
  engine->reset();
  sd_event_unref(loop);
  if (r < 0) std::fprintf(stderr, "ike-responder: %s\n", std::strerror(-r));
  return r < 0 ? 1 : 0;
}

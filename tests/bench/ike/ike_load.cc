// ike-load: many IKE SAs in flight from one process against a responder (sedge's ike-responder
// or charon), for the IKE benchmarks. One ike::Engine (the one tunnels run) with COUNT
// initiators, CONCURRENCY of them setting up at a time, all on one pair of UDP sockets (each IKE
// SA has its own random SPI): IKE_SA_INIT (answering a COOKIE) then IKE_AUTH with a PSK and one
// CHILD_SA, the responder's AUTH verified. The CHILD_SAs' SPIs are counted out here and nothing
// goes into this kernel. A failed request is sent again every 5 s, 3 times. Prints the setups
// per second; logs below warnings are left out unless SEDGE_LOG_LEVEL says.
//   ike-load LOCAL_IP REMOTE_IP GROUP COUNT [CONCURRENCY [PSK_FILE]]  (the key: the file's first
//   line)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <utility>

#include "agent/config/values.h"
#include "agent/connector/tunnel_config.h"
#include "common/log.h"
#include "ike/engine.h"
#include "tests/support/no_kernel.h"

using namespace sedge;
using Clock = std::chrono::steady_clock;

namespace {

std::string group_name(uint16_t g) {
  switch (g) {
    case 14:
      return "modp2048";
    case 19:
      return "ecp256";
    case 31:
      return "curve25519";
    default:
      return "";
  }
}

// The initiators' CHILD_SAs stay out of the kernel (as the load tester's fake kernel interface);
// the inbound SPIs are counted up from a random start (successive runs against one responder
// must not reuse the SPIs of its outbound SAs).
uint32_t random_first_spi() { return 0x1000 + static_cast<uint32_t>(std::random_device{}() % 0xe0000000u); }

// COUNT setups, WINDOW at a time: the next ones start, from the loop, once some are up or failed.
class Load {
 public:
  Load(ike::Engine& engine, ike::SaConfig config, ike::Address local, ike::Address remote,
       long count, long window)
      : engine_(engine),
        config_(std::move(config)),
        local_(local),
        remote_(remote),
        count_(count),
        window_(window) {}
  ~Load() {
    engine_.observe(nullptr);
    if (refill_) sd_event_source_disable_unref(refill_);
  }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  Status start(sd_event* loop) {
    loop_ = loop;
    if (int r = sd_event_add_defer(loop, &refill_, on_refill, this); r < 0)
      return Error::sys("adding an event source", -r);
    sd_event_source_set_enabled(refill_, SD_EVENT_OFF);
    engine_.observe([this](ike::IkeSa& sa, const ike::SaEvent& e) { on_event(sa, e); });
    t0_ = Clock::now();
    fill();
    return {};
  }
  long established() const { return established_; }
  long failed() const { return failed_; }
  double seconds() const { return std::chrono::duration<double>(t1_ - t0_).count(); }

 private:
  void fill() {
    while (started_ < count_ && started_ - established_ - failed_ < window_) {
      ++started_;
      engine_.initiate(config_, {&children_, nullptr, 0}, local_, remote_);
    }
    if (established_ + failed_ >= count_ && !done_) {
      done_ = true;
      t1_ = Clock::now();
      sd_event_exit(loop_, 0);
    }
  }
  void on_event(ike::IkeSa& sa, const ike::SaEvent& e) {
    if (e.kind == ike::SaEventKind::up) {
      ++established_;
      up_.insert(&sa);
    } else if (e.kind == ike::SaEventKind::down) {
      if (up_.erase(&sa)) return;
      ++failed_;
      log::warning("IKE SA with " + sa.remote().to_string() + " failed: " + sa.failure().message);
    } else {
      return;
    }
    // Not from inside the engine's call (it is settling this SA): from the loop, next.
    sd_event_source_set_enabled(refill_, SD_EVENT_ONESHOT);
  }
  static int on_refill(sd_event_source* /*source*/, void* load) {
    static_cast<Load*>(load)->fill();
    return 0;
  }

  ike::Engine& engine_;
  ike::SaConfig config_;
  ike::Address local_, remote_;
  long count_, window_;
  testing::NoKernel children_{random_first_spi()};
  sd_event* loop_ = nullptr;
  sd_event_source* refill_ = nullptr;
  std::unordered_set<const ike::IkeSa*> up_;
  long started_ = 0, established_ = 0, failed_ = 0;
  bool done_ = false;
  Clock::time_point t0_, t1_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: ike-load LOCAL_IP REMOTE_IP GROUP COUNT [CONCURRENCY [PSK_FILE]]  (the "
                 "key: the file's first line)\n");
    return 2;
  }
  if (!std::getenv("SEDGE_LOG_LEVEL")) log::set_level(log::Level::warning);
  auto local = ike::Address::parse(argv[1]);
  auto remote = ike::Address::parse(argv[2], ike::kIkePort);
  if (!local || !remote) {
    std::fprintf(stderr, "ike-load: bad address\n");
    return 2;
  }
  const auto group = static_cast<uint16_t>(std::stoi(argv[3]));
  const long count = std::stol(argv[4]);
  const long window = argc > 5 ? std::stol(argv[5]) : 32;
  std::string psk_text = "sedge ike benchmark pre-shared key";
  if (argc > 6) {
    std::ifstream f(argv[6]);
    std::getline(f, psk_text);
  }
  const Secret psk{std::string_view(psk_text)};
  auto suite = ike::parse_suite("aes128gcm16-prfsha256-" + group_name(group), "aes128gcm16");
  if (!suite) {
    std::fprintf(stderr, "ike-load: group %u: %s\n", group, suite.error().message.c_str());
    return 2;
  }
  if (count <= 0 || window <= 0) {
    std::fprintf(stderr, "ike-load: COUNT and CONCURRENCY must be positive\n");
    return 2;
  }
  ike::SaConfig config;
  config.suite = *suite;
  config.tunnel.local_id_type = ike::kIdRfc822;
  config.tunnel.local_id = "load@example.com";
  config.tunnel.remote_id_type = ike::kIdFqdn;
  config.tunnel.remote_id = "pop.example.net";
  config.tunnel.psk = &psk;
  config.tunnel.local_ts = connector::selector(*config::parse_prefix("10.99.99.0/24"));
  config.tunnel.remote_ts = connector::selector(*config::parse_prefix("10.201.0.0/24"));
  config.retransmit = ike::RetransmitConfig{std::chrono::milliseconds(5000), 1.0, 3, 0.0};

  sd_event* loop = nullptr;
  if (int r = sd_event_default(&loop); r < 0) {
    std::fprintf(stderr, "ike-load: creating the event loop: %s\n", std::strerror(-r));
    return 1;
  }
  // The kernel picks both ports, as for any client: several loads may run side by side.
  ike::EngineOptions options;
  options.sockets.bind = {*local};
  options.sockets.ike_port = 0;
  options.sockets.natt_port = 0;
  auto engine = ike::Engine::open(loop, options);
  if (!engine) {
    std::fprintf(stderr, "ike-load: %s\n", engine.error().message.c_str());
    sd_event_unref(loop);
    return 1;
  }
  int code = 0;
  {
    Load load(**engine, std::move(config), *local, *remote, count, window);
    const Status started = load.start(loop);
    const int r = started ? sd_event_loop(loop) : 0;
    if (!started || r < 0) {
      std::fprintf(stderr, "ike-load: %s\n",
                   started ? std::strerror(-r) : started.error().message.c_str());
      code = 1;
    } else {
      const ike::Engine::Stats& s = (*engine)->stats();
      const double seconds = load.seconds();
      std::printf(
          "ike-load: group %u: %ld established, %ld failed, %llu cookies, %llu retransmissions in "
          "%.3f s: %.1f setups/s\n",
          group, load.established(), load.failed(),
          static_cast<unsigned long long>(s.cookies_received),
          static_cast<unsigned long long>(s.retransmitted), seconds,
          static_cast<double>(load.established()) / seconds);
      if (load.failed() != 0) code = 1;
    }
  }
  // The established IKE SAs are left as they are: nothing is sent on exit.
  engine->reset();
  sd_event_unref(loop);
  return code;
}

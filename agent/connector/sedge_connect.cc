// sedge-connect: brings one policy-based tunnel of the configuration up on the IKE engine (the
// one sedged runs), as initiator or (--respond) as responder, with its CHILD_SAs in the kernel
// through the connector's kernel adapter. A thin main: the engine, the configuration's
// translation and the kernel adapter are the libraries'.
//   sedge-connect [--config-dir D] [--respond] [--child-lifetime S] [--ike-lifetime S]
//                 [--rekey-at F] [--rekey-jitter F] TUNNEL [SECONDS]
// SECONDS: stop after that long once up (the kernel objects stay until their lifetimes end).
// The engine's totals (datagrams, COOKIEs sent, half-open SAs refused and given up) are logged
// every 5 s while they change and at exit.
#include <getopt.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <tuple>

#include "agent/config/config.h"
#include "agent/connector/kernel_children.h"
#include "agent/connector/tunnel_config.h"
#include "common/log.h"
#include "ike/engine.h"
#include "ike/keylog.h"
#include "netlink/ownership.h"
#include "netlink/xfrm_client.h"

namespace {

using namespace sedge;

struct Options {
  config::Sources sources = config::Sources::from_environment();
  bool respond = false;
  double child_lifetime = -1, ike_lifetime = -1;  // seconds; -1: the configuration's
  double rekey_at = 0.9, rekey_jitter = 0.1;
  std::string tunnel;
  int seconds = 0;
};

int fail(const std::string& what) {
  log::error(what);
  return 1;
}

// A number in [lo, hi], or an error naming the option.
bool number(const char* text, double lo, double hi, double& out, const char* option) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  if (end == text || *end != '\0' || out < lo || out > hi) {
    std::cerr << "sedge-connect: " << option << ": '" << text << "' is not a number from " << lo << " to " << hi << "\n";
    return false;
  }
  return true;
}

constexpr const char* kUsage =
    "usage: sedge-connect [--config-dir D] [--respond] [--child-lifetime S] [--ike-lifetime S] [--rekey-at F] "
    "[--rekey-jitter F] TUNNEL [SECONDS]\n";

bool parse_args(int argc, char** argv, Options& o) {
  static const option longs[] = {{"config-dir", required_argument, nullptr, 'd'}, {"respond", no_argument, nullptr, 'r'},
                                 {"child-lifetime", required_argument, nullptr, 'c'}, {"ike-lifetime", required_argument, nullptr, 'i'},
                                 {"rekey-at", required_argument, nullptr, 'a'}, {"rekey-jitter", required_argument, nullptr, 'j'},
                                 {"help", no_argument, nullptr, 'h'}, {nullptr, 0, nullptr, 0}};
  int c = 0;
  while ((c = getopt_long(argc, argv, "+", longs, nullptr)) != -1) {
    bool ok = true;
    switch (c) {
      case 'd': o.sources.directories = {optarg}; break;
      case 'r': o.respond = true; break;
      case 'c': ok = number(optarg, 0, 1e7, o.child_lifetime, "--child-lifetime"); break;
      case 'i': ok = number(optarg, 0, 1e7, o.ike_lifetime, "--ike-lifetime"); break;
      case 'a': ok = number(optarg, 0.5, 1.0, o.rekey_at, "--rekey-at"); break;
      case 'j': ok = number(optarg, 0.0, 0.5, o.rekey_jitter, "--rekey-jitter"); break;
      default: ok = false;
    }
    if (!ok) return false;
  }
  if (optind >= argc || argc - optind > 2) return false;
  o.tunnel = argv[optind];
  if (optind + 1 < argc) {
    double s = 0;
    if (!number(argv[optind + 1], 0, 1e7, s, "SECONDS")) return false;
    o.seconds = static_cast<int>(s);
  }
  return true;
}

// The run of one tunnel: the engine, the kernel adapter, retries of a first connection.
class Connect {
 public:
  Connect(const Options& o, const config::Config& cfg, ike::SaConfig sa, sd_event* loop)
      : o_(o), cfg_(cfg), sa_config_(std::move(sa)), loop_(loop) {}
  Status start();
  int exit_code() const { return exit_code_; }
  // The engine's counters, among them the responder's protection against IKE_SA_INIT floods
  // (COOKIEs sent, requests refused for too many half-open SAs, half-open SAs given up): one
  // line every 5 s while they change, and one when the run ends.
  void log_stats(const char* when);

 private:
  void connect();
  void on_event(ike::IkeSa& sa, const ike::SaEvent& e);
  void print_up(const ike::IkeSa& sa);
  void stop(int code) {
    exit_code_ = code;
    sd_event_exit(loop_, code);
  }
  void after(std::chrono::seconds delay, void (Connect::*what)());
  // SECONDS after coming up: stop, leaving the kernel objects to their lifetimes.
  void finish() {
    if (sa_) engine_->close(sa_, true);
    stop(0);
  }
  void stats_tick() {
    if (engine_) {
      const auto& s = engine_->stats();
      const auto seen = std::make_tuple(s.received, s.dropped, s.cookies_sent, s.refused_half_open, s.half_open_expired,
                                        engine_->size(), engine_->half_open());
      if (seen != stats_seen_) log_stats("so far");
      stats_seen_ = seen;
    }
    after(std::chrono::seconds(5), &Connect::stats_tick);
  }
  void give_up_waiting() {
    if (was_up_) return;
    log::error("tunnel " + o_.tunnel + ": no initiator came");
    stop(1);
  }

  const Options& o_;
  const config::Config& cfg_;
  ike::SaConfig sa_config_;
  sd_event* loop_;
  ike::Address local_, remote_;
  std::unique_ptr<netlink::XfrmClient> xfrm_;
  std::unique_ptr<ike::KeyLog> key_log_;
  std::unique_ptr<connector::KernelChildren> kernel_;
  std::unique_ptr<ike::Engine> engine_;
  ike::IkeSa* sa_ = nullptr;
  bool was_up_ = false;
  std::chrono::seconds wait_{5};
  std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, size_t, size_t> stats_seen_{};
  int exit_code_ = 0;
};

Status Connect::start() {
  const config::Tunnel& t = cfg_.tunnels.at(o_.tunnel);
  auto remote = ike::Address::parse(t.remote, ike::kIkePort);
  if (!remote) return Error{"Remote=" + t.remote + " is not an IP address", EINVAL};
  remote_ = *remote;
  auto local = ike::Engine::source_for(remote_);
  if (!local) return local.error();
  local_ = *local;
  auto xfrm = netlink::XfrmClient::open();
  if (!xfrm) return xfrm.error();
  xfrm_ = std::make_unique<netlink::XfrmClient>(std::move(*xfrm));
  if (!cfg_.key_log_directory.empty()) {
    auto opened = ike::KeyLog::open(cfg_.key_log_directory);
    if (!opened) return opened.error();
    key_log_ = std::move(*opened);
  }
  kernel_ = std::make_unique<connector::KernelChildren>(
      *xfrm_, netlink::kReqidFirst + 1, ike::kernel_lifetime(sa_config_.child_lifetime, sa_config_.rekey_fraction), key_log_.get());
  ike::EngineOptions eo;
  eo.sockets.bind = {local_};
  auto engine = ike::Engine::open(loop_, eo);
  if (!engine) return engine.error();
  engine_ = std::move(*engine);
  engine_->observe([this](ike::IkeSa& sa, const ike::SaEvent& e) { on_event(sa, e); });
  after(std::chrono::seconds(5), &Connect::stats_tick);
  const ike::SaEnvironment env{kernel_.get(), key_log_.get(), 0};
  if (o_.respond) {
    const ike::SaConfig* only = &sa_config_;
    const ike::TunnelSpec& spec = sa_config_.tunnel;
    engine_->listen(sa_config_,
                    [only, &spec](uint8_t type, const std::string& id) {
                      return type == spec.remote_id_type && id == spec.remote_id ? only : nullptr;
                    },
                    env);
    std::printf("tunnel %s: listening on %s\n", o_.tunnel.c_str(), local_.ip_string().c_str());
    std::fflush(stdout);
    after(std::chrono::seconds(o_.seconds > 0 ? o_.seconds : 3600), &Connect::give_up_waiting);
    return {};
  }
  connect();
  return {};
}

void Connect::connect() { sa_ = engine_->initiate(sa_config_, {kernel_.get(), key_log_.get(), 0}, local_, remote_); }

void Connect::after(std::chrono::seconds delay, void (Connect::*what)()) {
  struct Call {
    Connect* self;
    void (Connect::*what)();
  };
  auto* call = new Call{this, what};
  const uint64_t usec = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(delay).count());
  sd_event_add_time_relative(
      loop_, nullptr, CLOCK_MONOTONIC, usec, 0,
      [](sd_event_source*, uint64_t, void* data) {
        std::unique_ptr<Call> c(static_cast<Call*>(data));
        (c->self->*c->what)();
        return 0;
      },
      call);
}

void Connect::log_stats(const char* when) {
  if (!engine_) return;
  const ike::Engine::Stats& s = engine_->stats();
  log::info("tunnel " + o_.tunnel + ": IKE engine totals " + when + ": sas=" + std::to_string(engine_->size()) +
                " half_open=" + std::to_string(engine_->half_open()) + " received=" + std::to_string(s.received) +
                " dropped=" + std::to_string(s.dropped) + " cookies_sent=" + std::to_string(s.cookies_sent) +
                " refused_half_open=" + std::to_string(s.refused_half_open) + " half_open_expired=" + std::to_string(s.half_open_expired),
            {{"TUNNEL", o_.tunnel}});
}

void Connect::print_up(const ike::IkeSa& sa) {
  const ike::Generation* g = sa.current();
  const ike::Child* c = sa.child(0);
  if (!g || !c) return;
  std::printf("tunnel %s up: IKE SA %016llx_i %016llx_r, ESP in 0x%08x out 0x%08x, %s <=> %s%s\n", o_.tunnel.c_str(),
              static_cast<unsigned long long>(g->spi_i), static_cast<unsigned long long>(g->spi_r), c->sa.spi_in, c->sa.spi_out,
              connector::prefix_of(c->sa.local_ts).to_string().c_str(), connector::prefix_of(c->sa.remote_ts).to_string().c_str(),
              sa.encapsulated() ? (", behind NAT: UDP " + std::to_string(sa.local().port)).c_str() : "");
  std::fflush(stdout);
}

void Connect::on_event(ike::IkeSa& sa, const ike::SaEvent& e) {
  log::info("tunnel " + o_.tunnel + ": " + e.text, {{"TUNNEL", o_.tunnel}});
  if (e.kind == ike::SaEventKind::up) {
    sa_ = &sa;
    was_up_ = true;
    log::info("tunnel " + o_.tunnel + ": IKE SA established", {{"IKE_SPI", sa.current()->name()}, {"TUNNEL", o_.tunnel}});
    print_up(sa);
    if (o_.seconds > 0) after(std::chrono::seconds(o_.seconds), &Connect::finish);
    return;
  }
  if (e.kind != ike::SaEventKind::down) return;
  sa_ = nullptr;
  const Error& why = sa.failure();
  // A service location may be unreachable for a while (a new one takes minutes to deploy): keep
  // trying with backoff, up to a minute apart, rather than give up.
  if (!was_up_ && !o_.respond && (why.code == ETIMEDOUT || why.code == ECONNREFUSED)) {
    log::warning("tunnel " + o_.tunnel + ": " + why.message + "; retrying in " + std::to_string(wait_.count()) + " s");
    after(wait_, &Connect::connect);
    wait_ = std::min(wait_ * 2, std::chrono::seconds(60));
    return;
  }
  log::error("tunnel " + o_.tunnel + ": " + why.message + "; its SAs and policies were removed");
  stop(1);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) {
    std::cerr << kUsage;
    return 2;
  }
  auto loaded = config::load(o.sources);
  if (!loaded) return fail(loaded.error().message);
  const config::Config& cfg = loaded->config;
  auto it = cfg.tunnels.find(o.tunnel);
  if (it == cfg.tunnels.end()) return fail("no tunnel " + o.tunnel + " in the configuration");
  const config::Tunnel& t = it->second;
  if (t.routing != config::Routing::policy_based || t.local_ts.empty() || t.remote_ts.empty() || !t.remote_id) {
    return fail("tunnel " + o.tunnel + ": this tool brings up policy-based tunnels with a RemoteId");
  }
  auto sa = connector::sa_config(cfg, o.tunnel);
  if (!sa) return fail(sa.error().message);
  if (o.child_lifetime >= 0) sa->child_lifetime = std::chrono::milliseconds(static_cast<int64_t>(o.child_lifetime * 1000));
  if (o.ike_lifetime >= 0) sa->ike_lifetime = std::chrono::milliseconds(static_cast<int64_t>(o.ike_lifetime * 1000));
  sa->rekey_fraction = o.rekey_at;
  sa->rekey_jitter = o.rekey_jitter;
  if (o.respond) sa->create_children.clear();  // the initiator creates the further CHILD_SAs

  sd_event* loop = nullptr;
  if (int r = sd_event_default(&loop); r < 0) return fail("creating the event loop: " + std::string(strerror(-r)));
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  sd_event_add_signal(loop, nullptr, SIGTERM, nullptr, nullptr);
  sd_event_add_signal(loop, nullptr, SIGINT, nullptr, nullptr);
  int code = 0;
  {
    Connect run(o, cfg, std::move(*sa), loop);
    if (auto st = run.start(); !st) {
      sd_event_unref(loop);
      return fail("tunnel " + o.tunnel + ": " + st.error().message);
    }
    code = sd_event_loop(loop);
    if (code >= 0) code = run.exit_code();
    run.log_stats("at exit");
  }
  sd_event_unref(loop);
  return code < 0 ? 1 : code;
}

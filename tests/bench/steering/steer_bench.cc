// Steering benchmark on the host kernel (JIT), BPF_PROG_TEST_RUN: ns per packet through the
// classifier at 10 to 1 000 000 rules, for a flow cache hit (the same packet again) and a miss
// (a new flow each run), against the no-op program at the same hook in the same run; and the
// time to compile and swap in the 1 000 000-rule set. Needs root.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "agent/steering/compiler.h"
#include "bpf/steer_loader.h"
#include "steer_bench_bpf.skel.h"
#include "tests/netns/steering/frames.h"
#include "tests/support/bpffs.h"

namespace {

using namespace sedge;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kLan = 100;
constexpr uint32_t kRepeat = 1000000;
constexpr int kTries = 3;  // the best of three: the machine may be busy with other work

// N rules, each a distinct /28 inside 10.0.0.0/8 (TCP 443, steered).
steering::PolicySet rules(uint32_t n) {
  steering::PolicySet s;
  s.networks = {{"lan0", kLan, steering::Action::breakout, ""}};
  s.profiles = {{"Cloud", config::Strategy::ordered, {{"pop1", 1}, {"pop2", 1}}}};
  s.rules.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t base = (10u << 24) + i * 16u;
    config::Prefix p;
    p.family = AF_INET;
    p.length = 28;
    p.bytes[0] = static_cast<uint8_t>(base >> 24);
    p.bytes[1] = static_cast<uint8_t>(base >> 16);
    p.bytes[2] = static_cast<uint8_t>(base >> 8);
    p.bytes[3] = static_cast<uint8_t>(base);
    s.rules.push_back({"r" + std::to_string(i), {}, {}, {p}, IPPROTO_TCP, {{443, 443}}, steering::Action::steer, "Cloud"});
  }
  return s;
}

std::string address_of_rule(uint32_t i) {
  const uint32_t a = (10u << 24) + i * 16u + 5u;
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255u) + "." + std::to_string((a >> 8) & 255u) + "." +
         std::to_string(a & 255u);
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// The best average ns per run of kTries runs of kRepeat; -1 when a run fails or is not steered
// (`must_mark`).
double ns_per_run(int fd, const std::vector<uint8_t>& frame, bool must_mark) {
  double best = -1;
  for (int i = 0; i < kTries; ++i) {
    auto r = bpf::test_run(fd, frame, kLan, kRepeat);
    if (!r || (must_mark && r->mark == 0)) return -1;
    const auto ns = static_cast<double>(r->duration_ns);
    if (best < 0 || ns < best) best = ns;
  }
  return best;
}

void line(const char* name, uint32_t n, double ns, double ref, const char* reference) {
  std::printf("%s_%u_rules: %.1f ns ratio %.2f vs %s\n", name, n, ns, ns / (ref > 0 ? ref : 1), reference);
}

struct Reference {
  steer_bench_bpf* skel = nullptr;
  ~Reference() { steer_bench_bpf__destroy(skel); }
};

}  // namespace

int main(int argc, char** argv) {
  // An optional argument stops at that many rules (for a quick look; ctest runs them all).
  const unsigned long max_rules = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000000;
  if (geteuid() != 0) {
    std::fprintf(stderr, "steer_bench needs root (BPF_PROG_TEST_RUN)\n");
    return 77;
  }
  testing::PrivateBpffs fs;
  if (!fs.ok()) {
    std::fprintf(stderr, "steer_bench: cannot mount bpffs\n");
    return 1;
  }
  auto prog = bpf::SteerProgram::load(fs.pin_dir());
  if (!prog) {
    std::fprintf(stderr, "steer_bench: %s\n", prog.error().message.c_str());
    return 1;
  }
  Reference ref{steer_bench_bpf__open_and_load()};
  if (!ref.skel) {
    std::fprintf(stderr, "steer_bench: cannot load the reference programs\n");
    return 1;
  }
  const int targets = bpf_map__fd(ref.skel->maps.bench_targets);
  const uint32_t steer_slot = 0, noop_slot = 1;
  const int steer_fd = (*prog)->program_fd(), noop_fd = bpf_program__fd(ref.skel->progs.bench_noop);
  if (bpf_map_update_elem(targets, &steer_slot, &steer_fd, BPF_ANY) != 0 || bpf_map_update_elem(targets, &noop_slot, &noop_fd, BPF_ANY) != 0) {
    std::fprintf(stderr, "steer_bench: cannot fill the tail-call slots\n");
    return 1;
  }
  const int new_flow_steer = bpf_program__fd(ref.skel->progs.bench_new_flow_steer);
  const int new_flow_noop = bpf_program__fd(ref.skel->progs.bench_new_flow_noop);

  double miss_at_100 = 0, hit_at_100 = 0;
  for (uint32_t n : {10u, 100u, 1000u, 10000u, 100000u, 1000000u}) {
    if (n > max_rules) break;
    const auto set = rules(n);
    const auto t0 = Clock::now();
    auto compiled = steering::compile(set);
    const double compile_ms = ms_since(t0);
    if (!compiled) {
      std::fprintf(stderr, "steer_bench: %s\n", compiled.error().message.c_str());
      return 1;
    }
    const auto t1 = Clock::now();
    if (auto st = (*prog)->replace_rules(compiled->tables); !st) {
      std::fprintf(stderr, "steer_bench: %s\n", st.error().message.c_str());
      return 1;
    }
    const double swap_ms = ms_since(t1);
    const auto frame = steering::testing::frame({"10.99.99.10", address_of_rule(n / 2), IPPROTO_TCP, 443});
    const double noop = ns_per_run(noop_fd, frame, false);
    // Hit: the flow's decision is cached by the first run.
    const double hit = ns_per_run(steer_fd, frame, true);
    // Miss: a new flow each run (a lookup that fails, the rules, an insert that evicts once
    // the cache is full); the driver's own cost is taken out with its no-op twin.
    const double driver_steer = ns_per_run(new_flow_steer, frame, true), driver_noop = ns_per_run(new_flow_noop, frame, false);
    const double miss = driver_steer - driver_noop + noop;
    // The rules alone, the cache off.
    if (auto st = (*prog)->set_flow_cache(false); !st) return 1;
    const double uncached = ns_per_run(steer_fd, frame, true);
    if (auto st = (*prog)->set_flow_cache(true); !st) return 1;
    if (noop < 0 || hit < 0 || driver_steer < 0 || driver_noop < 0 || uncached < 0) {
      std::fprintf(stderr, "steer_bench: the test packet was not steered at %u rules\n", n);
      return 1;
    }
    line("steer_noop_ns_per_packet", n, noop, noop, "noop-bpf-program");
    line("steer_hit_ns_per_packet", n, hit, noop, "noop-bpf-program");
    line("steer_miss_ns_per_packet", n, miss, noop, "noop-bpf-program");
    line("steer_uncached_ns_per_packet", n, uncached, noop, "noop-bpf-program");
    std::fflush(stdout);
    if (n == 100) {
      miss_at_100 = miss;
      hit_at_100 = hit;
    }
    if (n == 1000000) {
      std::printf("steer_miss_growth_100_to_1000000_rules: %.1f ns ratio %.2f vs 100-rule-set\n", miss, miss / miss_at_100);
      std::printf("steer_hit_growth_100_to_1000000_rules: %.1f ns ratio %.2f vs 100-rule-set\n", hit, hit / hit_at_100);
      std::printf("steer_compile_and_swap_1000000_rules: %.0f ms ratio %.2f vs 1-second-goal (compile %.0f ms, swap %.0f ms)\n",
                  compile_ms + swap_ms, (compile_ms + swap_ms) / 1000.0, compile_ms, swap_ms);
    }
  }
  return 0;
}

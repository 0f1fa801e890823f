// Steering benchmark on the host kernel (JIT): ns per packet through the classifier with
// BPF_PROG_TEST_RUN, against the no-op program attached the same way, at growing rule counts;
// and the time to compile and swap in a 100 000-rule set. Needs root.
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "agent/steering/compiler.h"
#include "bpf/steer_loader.h"
#include "steer_bench_bpf.skel.h"
#include "tests/netns/steering/frames.h"
#include "tests/support/bpffs.h"

namespace {

using namespace sedge;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kLan = 100;
constexpr uint32_t kRepeat = 2000000;

// N rules, each a distinct /28 inside 10.0.0.0/8 (TCP 443, steered), then a catch-all.
steering::PolicySet rules(uint32_t n) {
  steering::PolicySet s;
  s.networks = {{"lan0", kLan, steering::Action::breakout, ""}};
  s.profiles = {{"Cloud", config::Strategy::ordered, {{"pop1", 1}, {"pop2", 1}}}};
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

}  // namespace

int main() {
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
  steer_bench_bpf* reference = steer_bench_bpf__open_and_load();
  if (!reference) {
    std::fprintf(stderr, "steer_bench: cannot load the reference program\n");
    return 1;
  }
  const int noop_fd = bpf_program__fd(reference->progs.bench_noop);
  double ns_at_100 = 0, swap_ms_at_10 = 0;
  for (uint32_t n : {10u, 100u, 1000u, 10000u, 100000u}) {
    const auto t0 = Clock::now();
    auto compiled = steering::compile(rules(n));
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
    auto steer = (*prog)->test_run(frame, kLan, kRepeat);
    auto noop = bpf::test_run(noop_fd, frame, kLan, kRepeat);
    if (!steer || !noop || steer->mark == 0) {
      std::fprintf(stderr, "steer_bench: the test packet was not steered\n");
      return 1;
    }
    const double ns = static_cast<double>(steer->duration_ns), ref = static_cast<double>(noop->duration_ns);
    std::printf("steer_ns_per_packet_%u_rules: %.1f ns ratio %.2f vs noop-bpf-program\n", n, ns, ns / (ref > 0 ? ref : 1));
    if (n == 10) swap_ms_at_10 = compile_ms + swap_ms;
    if (n == 100) ns_at_100 = ns;
    if (n == 100000) {
      std::printf("steer_growth_100_to_100000_rules: %.1f ns ratio %.2f vs 100-rule-set\n", ns, ns / ns_at_100);
      std::printf("steer_compile_and_swap_100000_rules: %.0f ms ratio %.1f vs 10-rule-set (compile %.0f ms, swap %.0f ms)\n",
                  compile_ms + swap_ms, (compile_ms + swap_ms) / swap_ms_at_10, compile_ms, swap_ms);
    }
  }
  steer_bench_bpf__destroy(reference);
  return 0;
}

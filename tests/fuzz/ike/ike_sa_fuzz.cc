// Fuzzes an established pair of IKE SAs (tests/unit/ike/sa_pair.h) with what a peer may send:
// each input sets up a fresh pair on the fake clock, then its steps feed datagrams to either
// side's process(), raw or sealed with that side's current keys (so that the inside of the SK
// payload, the message IDs and the exchanges are what is fuzzed, not just the ICV check), move
// the clock on so that timers run, and start rekeys, closes, holds and drops. The format is
// sa_pair.h's fuzz_input; the seeds (corpus-sa) come from real exchanges of the pair
// (ike_sa_test's IkeSaFuzzCorpus.DISABLED_Write). Anything may be refused; nothing may crash,
// make the two sides answer each other forever, or install an inbound SA the kernel did not
// allocate or install one twice.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "common/log.h"
#include "tests/unit/ike/sa_pair.h"

namespace {

using namespace sedge::ike;
using namespace sedge::ike::testing;
namespace fi = fuzz_input;

struct Reader {
  const uint8_t* data;
  size_t size, at = 0;
  bool more() const { return at < size; }
  uint8_t byte() { return at < size ? data[at++] : 0; }
  size_t len16() {
    const size_t hi = byte();
    return hi << 8 | byte();
  }
  Bytes take(size_t n) {
    n = std::min(n, size - at);
    Bytes b(data + at, data + at + n);
    at += n;
    return b;
  }
};

void deliver(SaPair& p, bool to_b, Bytes data) {
  Flight f;
  f.to_b = to_b;
  f.out = {std::move(data), to_b ? p.a_addr : p.b_addr, to_b ? p.b_addr : p.a_addr, false};
  if (auto m = parse(f.out.data)) f.message = std::move(*m);
  p.deliver(std::move(f));
}

// A message as the peer of `target` would seal it: `target`'s current SPIs and inbound key.
Bytes sealed(IkeSa& target, Reader& r, uint64_t& iv) {
  const auto exchange = static_cast<Exchange>(r.byte());
  const uint8_t flags = r.byte(), id_mode = r.byte(), first = r.byte();
  const Bytes chain = r.take(r.len16());
  Generation* g = target.current_generation();
  if (!g) return {};
  uint32_t id = id_mode;
  if (id_mode == 0) id = g->peer_next_id;
  if (id_mode == 1) id = g->next_id ? g->next_id - 1 : 0;
  if (id_mode == 2) id = g->answered.value_or(0);
  return seal(g->in(), Header{g->spi_i, g->spi_r, kSk, exchange, flags, id, 0}, first, chain, iv++);
}

void check(SaPair& p) {
  for (const auto& problem : p.all_problems()) {
    const bool fatal = problem.find("never stops") != std::string::npos || problem.find("without ALLOCSPI") != std::string::npos ||
                       (problem.find("inbound SA") != std::string::npos && problem.find("installed twice") != std::string::npos);
    if (fatal) {
      std::fprintf(stderr, "ike_sa_fuzz: %s\n", problem.c_str());
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    sedge::log::set_level(sedge::log::Level::err);
    return true;
  }();
  (void)quiet;
  if (size < 1) return 0;
  Reader r{data, size};
  const uint8_t flags = r.byte();
  SaPair p;
  if (flags & fi::kFuzzFragments) {
    p.a_config.tunnel.fragmentation = p.b_config.tunnel.fragmentation = {FragmentMode::yes, FragmentConfig::kMinSize};
  }
  if (flags & fi::kFuzzDpd) p.a_config.dpd_interval = std::chrono::seconds(10);
  if (flags & fi::kFuzzLifetimes) {
    p.a_config.child_lifetime = std::chrono::seconds(60);
    p.b_config.ike_lifetime = std::chrono::seconds(90);
  }
  if (flags & fi::kFuzzPfs) p.a_config.pfs_group = p.b_config.pfs_group = 31;
  if (flags & fi::kFuzzMoreChildren) p.a_config.create_children = {{cidr("10.1.1.0/24"), cidr("10.2.1.0/24")}};
  if (flags & fi::kFuzzOneChild) p.b_config.max_children = 1;
  if (!p.establish()) {
    std::fprintf(stderr, "ike_sa_fuzz: the pair did not come up\n");
    std::abort();
  }
  uint64_t iv = uint64_t{1} << 40;
  for (int steps = 0; r.more() && steps < 64; ++steps) {
    const uint8_t op = r.byte();
    const bool b_side = op & 4;
    IkeSa& target = b_side ? *p.b : *p.a;
    switch (op & 3) {
      case 0: deliver(p, b_side, r.take(r.len16())); break;
      case 1:
        if (Bytes m = sealed(target, r, iv); !m.empty()) deliver(p, b_side, std::move(m));
        break;
      case 2: p.run_for(std::chrono::milliseconds(250) * r.byte()); break;
      case 3:
        switch (r.byte() % 8) {
          case 0: target.rekey_ike(p.now); break;
          case 1: target.rekey_child(0, p.now); break;
          case 2: target.close(p.now); break;
          case 3: p.release(); break;
          case 4: p.filter = [](const Flight&) { return Verdict::hold; }; break;
          case 5: p.filter = [b_side](const Flight& f) { return f.to_b == b_side ? Verdict::drop : Verdict::deliver; }; break;
          case 6: p.filter = nullptr; break;
          default: target.rekey_child(1, p.now); break;
        }
        p.collect();
        break;
    }
    p.pump();
    check(p);
  }
  // Whatever state it is in, the pair settles: a few minutes of timers.
  p.filter = nullptr;
  p.release();
  p.pump();
  p.run_for(std::chrono::minutes(5));
  check(p);
  return 0;
}

// Two IKE SAs back to back in memory, on a fake clock: A from IkeSa::initiate, B from
// IkeSa::respond on A's first IKE_SA_INIT request. What one sends is parsed and fed to the other
// (with its from/to addresses, through an optional NAT rewrite); a filter may drop or hold any
// datagram, and held ones are delivered when and in the order a test says, which is how
// collisions are forced. The kernel of each side is a FakeKernel that records every call and
// checks the make-before-break rules. No sockets, no threads, no sleeps: time moves only when a
// test advances it, by jumps to the next timer of either side.
//
// Free of GoogleTest (the fuzz target uses it too): what goes wrong is collected in `problems`.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/secret.h"
#include "ike/crypto.h"
#include "ike/ike_sa.h"
#include "ike/message.h"
#include "ike/rekey.h"

namespace sedge::ike::testing {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// ---- Configuration ----

// "10.1.0.0/16" as an IPv4 address range, any protocol and port.
inline TrafficSelector cidr(const char* text) {
  TrafficSelector t;
  const std::string s(text);
  const auto slash = s.find('/');
  const int bits = slash == std::string::npos ? 32 : std::stoi(s.substr(slash + 1));
  in_addr a{};
  inet_pton(AF_INET, s.substr(0, slash).c_str(), &a);
  const uint32_t ip = ntohl(a.s_addr);
  const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  const uint32_t lo = ip & mask, hi = lo | ~mask;
  for (int i = 0; i < 4; ++i) {
    t.start[i] = static_cast<uint8_t>(lo >> (24 - 8 * i));
    t.end[i] = static_cast<uint8_t>(hi >> (24 - 8 * i));
  }
  return t;
}

inline Address addr(const char* ip, uint16_t port = kIkePort) { return *Address::parse(ip, port); }

inline Suite suite(const char* ike = "aes128gcm16-prfsha256-curve25519", const char* esp = "aes128gcm16") {
  auto s = parse_suite(ike, esp);
  return s ? *s : Suite{};
}

// A site (the initiator, site1@example.com, 10.1.0.0/16) and its gateway (the responder,
// gw.example.com, 10.2.0.0/16), with a pre-shared key.
inline SaConfig site_config(const Suite& su, const Secret* psk) {
  SaConfig c;
  c.suite = su;
  c.tunnel.local_id_type = kIdRfc822;
  c.tunnel.local_id = "site1@example.com";
  c.tunnel.remote_id_type = kIdFqdn;
  c.tunnel.remote_id = "gw.example.com";
  c.tunnel.psk = psk;
  c.tunnel.local_ts = cidr("10.1.0.0/16");
  c.tunnel.remote_ts = cidr("10.2.0.0/16");
  return c;
}
inline SaConfig gateway_config(const Suite& su, const Secret* psk) {
  SaConfig c;
  c.suite = su;
  c.tunnel.local_id_type = kIdFqdn;
  c.tunnel.local_id = "gw.example.com";
  c.tunnel.remote_id_type = kIdRfc822;
  c.tunnel.remote_id = "site1@example.com";
  c.tunnel.psk = psk;
  c.tunnel.local_ts = cidr("10.2.0.0/16");
  c.tunnel.remote_ts = cidr("10.1.0.0/16");
  return c;
}

inline std::string hex(uint32_t v) {
  char b[11];
  std::snprintf(b, sizeof b, "%08x", v);
  return b;
}

// ---- The kernel ----

// Records every call; allocate_spi gives increasing SPIs from `first_spi`. Checks: an inbound SA
// only for an allocated SPI, an outbound SA only after its pair's inbound SA, nothing installed
// twice, policies once per CHILD_SA, and a CHILD_SA with policies never left without an outbound
// SA (make-before-break) other than on the way to removing its policies.
class FakeKernel : public ChildSaHandler {
 public:
  enum class Op : uint8_t { allocate, inbound, outbound, policies, remove_policies, remove };
  struct Call {
    Op op;
    uint32_t index = 0, spi_in = 0, spi_out = 0;
    bool failed = false;
  };
  struct Sa {
    uint32_t index = 0;
    Bytes key;  // encryption then integrity key
  };

  explicit FakeKernel(uint32_t first_spi) : next_spi_(first_spi) {}

  Result<uint32_t> allocate_spi(const ChildSa& c) override {
    check_bare();
    if (injected(Op::allocate)) {
      calls.push_back({Op::allocate, c.index, 0, 0, true});
      return Error{"injected ALLOCSPI failure", ENOSPC};
    }
    const uint32_t spi = next_spi_++;
    calls.push_back({Op::allocate, c.index, spi, 0});
    larval.insert(spi);
    return spi;
  }
  Status install_inbound(const ChildSa& c) override {
    check_bare();
    calls.push_back({Op::inbound, c.index, c.spi_in, c.spi_out});
    if (injected(Op::inbound)) return fail_last("injected inbound SA failure");
    if (!larval.erase(c.spi_in)) problem("inbound SA " + hex(c.spi_in) + " without ALLOCSPI");
    if (inbound.count(c.spi_in)) problem("inbound SA " + hex(c.spi_in) + " installed twice");
    inbound[c.spi_in] = {c.index, key_of(c.key_in, c.integ_in)};
    return {};
  }
  Status install_outbound(const ChildSa& c) override {
    check_bare();
    calls.push_back({Op::outbound, c.index, c.spi_in, c.spi_out});
    if (injected(Op::outbound)) return fail_last("injected outbound SA failure");
    if (!inbound.count(c.spi_in)) problem("outbound SA " + hex(c.spi_out) + " before its inbound SA " + hex(c.spi_in));
    if (outbound.count(c.spi_out)) problem("outbound SA " + hex(c.spi_out) + " installed twice");
    outbound[c.spi_out] = {c.index, key_of(c.key_out, c.integ_out)};
    return {};
  }
  Status install_policies(const ChildSa& c) override {
    check_bare();
    calls.push_back({Op::policies, c.index, c.spi_in, c.spi_out});
    if (injected(Op::policies)) return fail_last("injected policy failure");
    if (!inbound.count(c.spi_in) || !outbound.count(c.spi_out)) problem("policies of CHILD_SA " + std::to_string(c.index) + " before its SAs");
    if (policies.count(c.index)) problem("policies of CHILD_SA " + std::to_string(c.index) + " installed twice");
    policies[c.index] = {c.local_ts, c.remote_ts};
    return {};
  }
  void remove_policies(const ChildSa& c) override {
    calls.push_back({Op::remove_policies, c.index, c.spi_in, c.spi_out});
    if (bare_ == c.index) bare_.reset();
    check_bare();
    policies.erase(c.index);
  }
  void remove(const ChildSa& c) override {  // a teardown removes every pair, then the policies
    calls.push_back({Op::remove, c.index, c.spi_in, c.spi_out});
    larval.erase(c.spi_in);
    inbound.erase(c.spi_in);
    if (c.spi_out && outbound.erase(c.spi_out) && policies.count(c.index) && !has_outbound(c.index)) {
      if (bare_ && *bare_ != c.index) check_bare();
      bare_ = c.index;
    }
  }

  // The deferred make-before-break check, for the end of a test.
  void check() { check_bare(); }
  bool has_outbound(uint32_t index) const {
    return std::any_of(outbound.begin(), outbound.end(), [&](const auto& o) { return o.second.index == index; });
  }
  size_t count(Op op) const {
    return static_cast<size_t>(std::count_if(calls.begin(), calls.end(), [&](const Call& c) { return c.op == op; }));
  }
  // The operations from call `from` on, as words ("allocate", "inbound", ...).
  std::vector<std::string> ops(size_t from = 0) const {
    static const char* const names[] = {"allocate", "inbound", "outbound", "policies", "remove_policies", "remove"};
    std::vector<std::string> out;
    for (size_t i = from; i < calls.size(); ++i) out.push_back(names[static_cast<int>(calls[i].op)]);
    return out;
  }
  bool empty() const { return larval.empty() && inbound.empty() && outbound.empty() && policies.empty(); }

  std::vector<Call> calls;
  std::set<uint32_t> larval;           // allocated, not (yet) an inbound SA
  std::map<uint32_t, Sa> inbound, outbound;  // by SPI
  std::map<uint32_t, SelectorPair> policies;  // by CHILD_SA index
  std::map<Op, int> fail_next;          // the next n calls of an operation fail
  std::vector<std::string> problems;

 private:
  static Bytes key_of(const Secret& k, const Secret& integ) {
    Bytes b(k.bytes().begin(), k.bytes().end());
    b.insert(b.end(), integ.bytes().begin(), integ.bytes().end());
    return b;
  }
  bool injected(Op op) {
    auto it = fail_next.find(op);
    if (it == fail_next.end() || it->second <= 0) return false;
    --it->second;
    return true;
  }
  Status fail_last(const char* why) {
    calls.back().failed = true;
    return Error{why, EIO};
  }
  void problem(std::string p) { problems.push_back(std::move(p)); }
  void check_bare() {
    if (bare_ && policies.count(*bare_) && !has_outbound(*bare_)) {
      problem("CHILD_SA " + std::to_string(*bare_) + " kept its policies without an outbound SA (not make-before-break)");
    }
    bare_.reset();
  }
  uint32_t next_spi_;
  std::optional<uint32_t> bare_;  // its last outbound SA went; its policies must go next
};

// ---- Datagrams ----

struct Flight {
  bool to_b = true;
  Outgoing out;
  std::chrono::steady_clock::time_point sent_at{};
  std::optional<Message> message;             // nullopt: a keepalive or not parsable
  std::optional<std::vector<Payload>> inner;  // decrypted with the sender's keys when sent (IKE_SA_INIT: its payloads)

  bool request() const { return message && !(message->header.flags & kFlagResponse); }
  bool response() const { return message && (message->header.flags & kFlagResponse); }
  Exchange exchange() const { return message ? message->header.exchange : Exchange::informational; }
  uint32_t id() const { return message ? message->header.message_id : 0; }
  bool is(Exchange e, bool req) const { return message && exchange() == e && request() == req; }
  const Payload* find(uint8_t type) const {
    if (!inner) return nullptr;
    for (const auto& p : *inner) {
      if (p.type == type) return &p;
    }
    return nullptr;
  }
  std::optional<Notify> notify(uint16_t type) const {
    if (!inner) return std::nullopt;
    for (const auto& p : *inner) {
      if (p.type != kNotify) continue;
      if (auto n = decode_notify(p.body); n && n->type == type) return *n;
    }
    return std::nullopt;
  }
  std::optional<CreateChildSa> create_child() const {
    if (!inner || exchange() != Exchange::create_child_sa) return std::nullopt;
    auto c = decode_create_child(*inner);
    if (!c) return std::nullopt;
    return std::move(*c);
  }
  bool rekeys_child() const { return request() && notify(kNotifyRekeySa).has_value(); }
  bool rekeys_ike() const {
    auto c = create_child();
    return c && !c->error && c->rekeys_ike();
  }
  bool deletes(uint8_t protocol) const {
    if (!inner) return false;
    for (const auto& p : *inner) {
      if (p.type != kDelete) continue;
      if (auto d = decode_delete(p.body); d && d->protocol == protocol) return true;
    }
    return false;
  }
};

enum class Verdict : uint8_t { deliver, drop, hold };

// ---- The pair ----

class SaPair {
 public:
  using Time = ike::Time;

  explicit SaPair(Suite su = suite()) : a_config(site_config(su, &psk)), b_config(gateway_config(su, &psk)) {}
  SaPair(const SaPair&) = delete;
  SaPair& operator=(const SaPair&) = delete;

  // ---- Setup (change the configs before start) ----
  Secret psk{std::string_view("a pre-shared key of some length")};
  SaConfig a_config, b_config;
  std::optional<SaConfig> b_init_config;  // respond()'s, when not b_config (B's tunnel at IKE_AUTH)
  FakeKernel ka{0xa0000001}, kb{0xb0000001};
  KeyLog* a_key_log = nullptr;
  Address a_addr = addr("192.0.2.1"), b_addr = addr("192.0.2.2");
  // Applied to every datagram before delivery (a NAT between them): from/to as the receiver sees them.
  std::function<void(Flight&)> rewrite;
  // What happens to each datagram when it comes up for delivery (default: delivered).
  std::function<Verdict(const Flight&)> filter;

  const Time t0 = Time{} + std::chrono::hours(1);
  Time now = t0;
  std::unique_ptr<IkeSa> a, b;
  std::deque<Flight> wire;     // sent, not yet delivered
  std::vector<Flight> held;    // held by the filter
  std::vector<Flight> history;  // everything sent, in order
  std::vector<SaEvent> events_a, events_b;
  std::optional<Error> refused;  // respond()'s error, when it refused
  std::vector<std::string> problems;

  // A's IKE_SA_INIT request is on the wire.
  void start() {
    a = IkeSa::initiate(a_config, SaEnvironment{&ka, a_key_log, 1}, a_addr, b_addr, now);
    collect();
  }
  // start() and deliver until quiet: whether both are established.
  bool establish() {
    start();
    pump();
    return established();
  }
  bool established() const {
    return a && b && a->state() == SaState::established && b->state() == SaState::established;
  }

  // Collects what both sides sent and signalled.
  void collect() {
    take(a.get(), true);
    take(b.get(), false);
  }

  // Delivers what is on the wire, and what that makes them send, until nothing is left.
  void pump() {
    for (int i = 0; !wire.empty(); ++i) {
      if (i > 10000) {
        problems.push_back("the pair never stops sending");
        wire.clear();
        return;
      }
      Flight f = std::move(wire.front());
      wire.pop_front();
      const Verdict v = filter ? filter(f) : Verdict::deliver;
      if (v == Verdict::drop) continue;
      if (v == Verdict::hold) {
        held.push_back(std::move(f));
        continue;
      }
      deliver(f);
    }
  }

  // Delivers one datagram now (no filter), then collects what it caused.
  void deliver(Flight f) {
    if (rewrite) rewrite(f);
    if (f.out.keepalive || !f.message) return;
    const Message& m = *f.message;
    const auto& data = f.out.data;
    if (f.to_b) {
      const bool init_request = m.header.exchange == Exchange::ike_sa_init && !(m.header.flags & kFlagResponse);
      if (!b && init_request) {
        Outgoing refusal;
        auto r = IkeSa::respond(
            b_init_config ? *b_init_config : b_config,
            [this](uint8_t type, const std::string& id) -> const SaConfig* {
              return type == b_config.tunnel.remote_id_type && id == b_config.tunnel.remote_id ? &b_config : nullptr;
            },
            SaEnvironment{&kb, nullptr, 2}, m, data, f.out.to, f.out.from, now, &refusal);
        if (r) {
          b = std::move(*r);
        } else {
          refused = r.error();
          if (!refusal.data.empty()) push(false, std::move(refusal), nullptr);
        }
      } else if (b && init_request) {
        // The dispatcher's part: a retransmitted IKE_SA_INIT gets the cached response.
        if (m.header.spi_i == b->generations().back().spi_i) push(false, {b->init().response, f.out.to, f.out.from, false}, nullptr);
      } else if (b) {
        b->process(m, data, f.out.from, f.out.to, now);
      }
    } else if (a) {
      a->process(m, data, f.out.from, f.out.to, now);
    }
    collect();
  }

  // Releases held datagrams (those `which` picks, all by default) onto the wire, in order.
  void release(const std::function<bool(const Flight&)>& which = {}) {
    std::vector<Flight> keep;
    for (auto& f : held) {
      if (!which || which(f)) {
        wire.push_back(std::move(f));
      } else {
        keep.push_back(std::move(f));
      }
    }
    held = std::move(keep);
  }

  void tick() {
    if (a) a->tick(now);
    if (b) b->tick(now);
    collect();
  }
  Time next_timer() const {
    Time t = Time::max();
    if (a) t = std::min(t, a->next_timer());
    if (b) t = std::min(t, b->next_timer());
    return t;
  }

  // Runs both sides' timers up to `t`, jumping from one timer to the next and delivering what
  // they send. A timer that stays due without anything happening is a busy loop in a real event
  // loop: it is reported (once) and time moves on.
  void run_until(Time t) {
    int idle = 0;
    for (int i = 0; i < 100000; ++i) {
      const Time next = next_timer();
      if (next > t) break;
      if (next > now) now = next;
      const size_t before = progress();
      tick();
      pump();
      if (next_timer() <= now && progress() == before) {
        if (++idle >= 3) {
          if (!spun) problems.push_back("busy loop at +" + std::to_string(seconds(now)) + " s: next_timer() is due, tick() does nothing");
          spun = true;
          if (now >= t) break;
          now = std::min(t, now + 10ms);
        }
      } else {
        idle = 0;
      }
    }
    if (t > now) now = t;
    tick();
    pump();
  }
  void run_for(std::chrono::milliseconds d) { run_until(now + d); }

  // ---- Inspection ----
  double seconds(Time t) const { return std::chrono::duration<double>(t - t0).count(); }
  std::vector<const Flight*> sent(bool by_a, const std::function<bool(const Flight&)>& which = {}) const {
    std::vector<const Flight*> out;
    for (const auto& f : history) {
      if (f.to_b == by_a && (!which || which(f))) out.push_back(&f);
    }
    return out;
  }
  static size_t count(const std::vector<SaEvent>& events, SaEventKind kind) {
    return static_cast<size_t>(std::count_if(events.begin(), events.end(), [&](const SaEvent& e) { return e.kind == kind; }));
  }
  // Every problem of the pair and both kernels.
  std::vector<std::string> all_problems() {
    ka.check();
    kb.check();
    std::vector<std::string> out = problems;
    for (const auto& p : ka.problems) out.push_back("A's kernel: " + p);
    for (const auto& p : kb.problems) out.push_back("B's kernel: " + p);
    return out;
  }
  bool spun = false;

 private:
  size_t progress() const {
    return history.size() + events_a.size() + events_b.size() + ka.calls.size() + kb.calls.size() +
           (a ? static_cast<size_t>(a->state()) : 0) + (b ? static_cast<size_t>(b->state()) : 0);
  }
  void take(IkeSa* sa, bool by_a) {
    if (!sa) return;
    for (auto& o : sa->take_sends()) push(by_a, std::move(o), sa);
    auto ev = sa->take_events();
    auto& into = by_a ? events_a : events_b;
    into.insert(into.end(), ev.begin(), ev.end());
  }
  void push(bool by_a, Outgoing o, IkeSa* sender) {
    Flight f;
    f.to_b = by_a;
    f.sent_at = now;
    if (!o.keepalive) {
      if (auto m = parse(o.data)) {
        f.message = std::move(*m);
        const Header& h = f.message->header;
        if (h.exchange == Exchange::ike_sa_init) {
          f.inner = f.message->payloads;
        } else if (sender) {
          for (auto& g : sender->generations()) {
            if (g.spi_i != h.spi_i || g.spi_r != h.spi_r) continue;
            if (auto in = open(g.out(), *f.message, o.data)) f.inner = std::move(*in);
          }
        }
      }
    }
    f.out = std::move(o);
    history.push_back(f);
    wire.push_back(std::move(f));
  }
};

// ---- The fuzz target's input (tests/fuzz/ike/ike_sa_fuzz.cc), written by the corpus generator ----
//
// An input is a byte of configuration flags (kFuzz...), then a list of steps, each a byte `op`
// then its operands:
//   op & 3 == 0  raw datagram: len16, bytes; processed as is by side (op >> 2) & 1 (0: A)
//   op & 3 == 1  sealed message: exchange, flags, id_mode, first payload, len16, payload chain;
//                sealed with the keys of that side's current IKE SA as if the peer sent it
//                (id_mode 0: its next expected request ID, 1: its own last request's ID,
//                2: the last one it answered, else id_mode itself)
//   op & 3 == 2  time: the clock moves on by the next byte x 250 ms (timers run, the pair talks)
//   op & 3 == 3  action of side (op >> 2) & 1 by the next byte (modulo 8): 0 rekey the IKE SA,
//                1 rekey CHILD_SA 0, 2 close, 3 deliver what is held, 4 hold every datagram,
//                5 drop those to this side, 6 deliver every datagram again, 7 rekey CHILD_SA 1
namespace fuzz_input {

enum Flags : uint8_t {
  kFuzzFragments = 1,     // IKE fragmentation on both sides, 576-byte datagrams
  kFuzzDpd = 2,           // A checks liveness after 10 s of silence
  kFuzzLifetimes = 4,     // A's CHILD_SA lifetime 60 s, B's IKE SA lifetime 90 s
  kFuzzPfs = 8,           // PFS with curve25519 in CREATE_CHILD_SA
  kFuzzMoreChildren = 16, // A creates a second CHILD_SA
  kFuzzOneChild = 32,     // B accepts no CHILD_SA beyond the first (max_children 1)
};

inline void put16(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline Bytes raw(bool to_b, const Bytes& datagram) {
  Bytes b{static_cast<uint8_t>(0 | (to_b ? 4 : 0))};
  put16(b, datagram.size());
  b.insert(b.end(), datagram.begin(), datagram.end());
  return b;
}
inline Bytes sealed(bool to_b, Exchange exchange, uint8_t flags, uint8_t id_mode, const std::vector<Payload>& inner) {
  Bytes b{static_cast<uint8_t>(1 | (to_b ? 4 : 0)), static_cast<uint8_t>(exchange), flags, id_mode,
          inner.empty() ? kNoNext : inner.front().type};
  const Bytes chain = serialize_payloads(inner);
  put16(b, chain.size());
  b.insert(b.end(), chain.begin(), chain.end());
  return b;
}
inline Bytes wait(uint8_t quarter_seconds) { return {2, quarter_seconds}; }
inline Bytes action(bool b_side, uint8_t what) { return {static_cast<uint8_t>(3 | (b_side ? 4 : 0)), what}; }

}  // namespace fuzz_input

}  // namespace sedge::ike::testing

#include "ike/engine.h"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "common/log.h"
#include "ike/tasks/task.h"

namespace sedge::ike {

using std::chrono::microseconds;

Engine::Engine(sd_event* loop)
    : loop_(sd_event_ref(loop)), cookie_secret_(random_bytes(32)), cookie_previous_(random_bytes(32)) {
  cookie_secret_born_ = now();
}

Engine::~Engine() {
  sas_.clear();
  sockets_.reset();
  if (timer_) sd_event_source_disable_unref(timer_);
  sd_event_unref(loop_);
}

Result<std::unique_ptr<Engine>> Engine::open(sd_event* loop, const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine(loop));
  e->limits_ = options.limits;
  auto sockets = Sockets::open(loop, options.sockets, [raw = e.get()](Datagram&& d) { raw->receive(std::move(d)); });
  if (!sockets) return sockets.error();
  e->sockets_ = std::move(*sockets);
  if (int r = sd_event_add_time(loop, &e->timer_, CLOCK_MONOTONIC, UINT64_MAX, kTimerAccuracyUsec, on_timer, e.get()); r < 0) {
    return Error::sys("adding the IKE timer", -r);
  }
  return e;
}

Time Engine::now() const {
  uint64_t usec = 0;
  sd_event_now(loop_, CLOCK_MONOTONIC, &usec);
  return Time{} + microseconds(usec);
}

Result<Address> Engine::source_for(const Address& remote) {
  sockaddr_storage ss{};
  const socklen_t len = remote.with_port(remote.port ? remote.port : kIkePort).to_sockaddr(ss);
  const int fd = socket(remote.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  const bool ok = fd >= 0 && connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) return Error::sys("finding a route to " + remote.ip_string());
  auto a = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&local), local_len);
  if (!a) return Error{"finding a route to " + remote.ip_string() + ": no address", EADDRNOTAVAIL};
  return a->with_port(0);
}

void Engine::listen(SaConfig init_config, ConfigLookup lookup, SaEnvironment env) {
  listen_config_ = std::move(init_config);
  lookup_ = std::move(lookup);
  listen_env_ = env;
}

IkeSa* Engine::initiate(SaConfig config, SaEnvironment env, const Address& local, const Address& remote) {
  auto sa = IkeSa::initiate(std::move(config), env, local.with_port(ike_port()), remote.port ? remote : remote.with_port(kIkePort), now());
  sa->natt_port = natt_port();
  IkeSa* raw = sa.get();
  sas_.emplace(raw, std::move(sa));
  settle(raw);
  return sas_.count(raw) ? raw : nullptr;
}

void Engine::close(IkeSa* sa, bool abandon) {
  if (!sas_.count(sa)) return;
  if (abandon) {
    sa->abandon();
  } else {
    sa->close(now());
  }
  settle(sa);
}

// ---- Receiving ----

void Engine::receive(Datagram&& d) {
  ++stats_.received;
  auto m = parse(d.data);
  if (!m) {
    ++stats_.dropped;
    log::debug("dropped a malformed message from " + d.from.to_string() + ": " + m.error().message);
    return;
  }
  const Header& h = m->header;
  const bool response = h.flags & kFlagResponse;
  if (h.exchange == Exchange::ike_sa_init && !response && h.spi_r == 0) return on_init_request(*m, d);
  const uint64_t ours = (h.flags & kFlagInitiator) ? h.spi_r : h.spi_i;
  auto it = by_spi_.find(ours);
  if (it == by_spi_.end()) {
    ++stats_.dropped;
    return;
  }
  IkeSa* sa = it->second;
  if (response && h.exchange == Exchange::ike_sa_init && !m->payloads.empty() && m->payloads.front().type == kNotify) {
    if (auto n = decode_notify(m->payloads.front().body); n && n->type == kNotifyCookie) ++stats_.cookies_received;
  }
  // A request the SA answered last (unfragmented): it sends the same response again.
  if (const Generation* g = sa->current(); !response && h.first_payload == kSk && g && g->spi_i == h.spi_i &&
                                           g->spi_r == h.spi_r && g->answered == h.message_id) {
    ++stats_.retransmits_answered;
  }
  sa->process(*m, d.data, d.from, d.to, now());
  settle(sa);
}

// COOKIE (2.6): <VersionIDofSecret> | prf(<secret>, Ni | IPi | SPIi), so a responder under load
// keeps no state until the initiator proves it receives at its address. The secret changes
// every cookie_secret_lifetime; COOKIEs of the previous one are still good, older ones are not.
Bytes Engine::cookie_for(const Message& m, const Datagram& d, uint8_t version) const {
  Bytes data;
  if (const Payload* ni = m.find(kNonce)) data = ni->body;
  const auto ip = d.from.ip_bytes();
  data.insert(data.end(), ip.begin(), ip.end());
  put64(data, m.header.spi_i);
  const Secret& secret = version == cookie_version_ ? cookie_secret_ : cookie_previous_;
  Bytes cookie{version};
  const Bytes mac = prf(kPrfHmacSha256, secret.bytes(), data);
  cookie.insert(cookie.end(), mac.begin(), mac.end());
  return cookie;
}

// One secret per lifetime since the engine opened: a COOKIE is good in the lifetime it was made
// in and the next one. After a quiet spell the current secret is older than that: none is kept.
void Engine::rotate_cookie_secret(Time t) {
  const auto lifetime = limits_.cookie_secret_lifetime;
  if (lifetime.count() <= 0 || t < cookie_secret_born_ + lifetime) return;
  const auto passed = (t - cookie_secret_born_) / lifetime;
  cookie_previous_ = passed == 1 ? std::move(cookie_secret_) : Secret(random_bytes(32));
  cookie_secret_ = Secret(random_bytes(32));
  ++cookie_version_;
  cookie_secret_born_ += passed * lifetime;
}

// IKE_SA_INIT requests refused after the costly step (a KE value that fails its check) leave
// no half-open SA: they count toward COOKIEs for a second, so such a flood is met with COOKIEs.
void Engine::note_refusal(Time t) {
  refusals_.push_back(t);
  while (!refusals_.empty() && (refusals_.size() > limits_.cookie_threshold || refusals_.front() + std::chrono::seconds(1) < t)) {
    refusals_.pop_front();
  }
}

bool Engine::cookie_ok(const Message& m, const Datagram& d) {
  while (!refusals_.empty() && refusals_.front() + std::chrono::seconds(1) < now()) refusals_.pop_front();
  if (half_open_.size() + refusals_.size() < limits_.cookie_threshold) return true;
  rotate_cookie_secret(now());
  const bool first_is_cookie = !m.payloads.empty() && m.payloads.front().type == kNotify;
  if (first_is_cookie) {
    auto n = decode_notify(m.payloads.front().body);
    const uint8_t previous = static_cast<uint8_t>(cookie_version_ - 1);
    if (n && n->type == kNotifyCookie && !n->data.empty() && (n->data[0] == cookie_version_ || n->data[0] == previous) &&
        constant_time_equal(n->data, cookie_for(m, d, n->data[0]))) {
      return true;
    }
  }
  const Header h{m.header.spi_i, 0, 0, Exchange::ike_sa_init, kFlagResponse, 0, 0};
  const Bytes reply = serialize(h, {notify_payload(kNotifyCookie, cookie_for(m, d, cookie_version_))});
  (void)sockets_->send(reply, d.to, d.from);
  ++stats_.cookies_sent;
  return false;
}

void Engine::on_init_request(const Message& m, Datagram& d) {
  if (!listen_config_) {
    ++stats_.dropped;
    return;
  }
  // A retransmission: the same response again (kept in the SA's response cache) while the SA
  // is half-open; a late copy once it is established is dropped.
  if (auto it = half_open_by_init_.find({d.from, m.header.spi_i}); it != half_open_by_init_.end()) {
    const Generation* g = it->second->current();
    if (g && it->second->state() == SaState::connecting) {
      for (const auto& b : g->answer) (void)sockets_->send(b, d.to, d.from);
      ++stats_.retransmits_answered;
    }
    return;
  }
  const Address source = d.from.with_port(0);
  // find, not []: an entry for every address that only sent a request would grow without bound.
  const auto held = half_open_per_source_.find(source);
  if (half_open_.size() >= limits_.half_open_max ||
      (held != half_open_per_source_.end() && held->second >= limits_.half_open_per_source)) {
    ++stats_.refused_half_open;
    log::debug("dropped IKE_SA_INIT from " + d.from.to_string() + ": too many half-open IKE SAs");
    return;
  }
  if (!cookie_ok(m, d)) return;
  Outgoing refusal;
  auto sa = IkeSa::respond(*listen_config_, lookup_, listen_env_, m, d.data, d.to, d.from, now(), &refusal);
  if (!sa) {
    if (!refusal.data.empty()) {
      (void)sockets_->send(refusal.data, refusal.from, refusal.to);
      ++stats_.refused;
    }
    note_refusal(now());
    log::debug(sa.error().message);
    return;
  }
  (*sa)->natt_port = natt_port();
  IkeSa* raw = sa->get();
  sas_.emplace(raw, std::move(*sa));
  half_open_[raw] = HalfOpen{d.from, m.header.spi_i, now()};
  half_open_by_init_[{d.from, m.header.spi_i}] = raw;
  init_of_[raw] = {d.from, m.header.spi_i};
  ++half_open_per_source_[source];
  settle(raw);
}

// ---- After an SA ran ----

size_t Engine::flush(IkeSa* sa) {
  size_t sent = 0;
  for (auto& o : sa->take_sends()) {
    const Status st = o.keepalive ? sockets_->send_keepalive(o.from, o.to) : sockets_->send(o.data, o.from, o.to);
    if (!st) log::debug("sending to " + o.to.to_string() + ": " + st.error().message);
    if (!o.keepalive) ++sent;
  }
  return sent;
}

void Engine::settle(IkeSa* sa) {
  flush(sa);
  // Our SPIs: new generations in, deleted ones out.
  auto& spis = spis_of_[sa];
  for (uint64_t s : spis) by_spi_.erase(s);
  spis = sa->local_spis();
  for (uint64_t s : spis) by_spi_[s] = sa;
  if (sa->state() != SaState::connecting) drop_half_open(sa);
  for (const auto& e : sa->take_events()) {
    if (observer_) observer_(*sa, e);
  }
  if (sa->state() == SaState::closed) {
    forget(sa);
    arm();
    return;
  }
  if (auto t = timer_of_.find(sa); t != timer_of_.end()) timers_.erase({t->second, sa});
  const Time next = sa->next_timer();
  timer_of_[sa] = next;
  timers_.insert({next, sa});
  arm();
}

void Engine::drop_half_open(IkeSa* sa) {
  auto it = half_open_.find(sa);
  if (it == half_open_.end()) return;
  const Address source = it->second.from.with_port(0);
  half_open_.erase(it);
  if (--half_open_per_source_[source] == 0) half_open_per_source_.erase(source);
}

void Engine::forget(IkeSa* sa) {
  drop_half_open(sa);
  if (auto k = init_of_.find(sa); k != init_of_.end()) {
    half_open_by_init_.erase(k->second);
    init_of_.erase(k);
  }
  for (uint64_t s : spis_of_[sa]) by_spi_.erase(s);
  spis_of_.erase(sa);
  if (auto t = timer_of_.find(sa); t != timer_of_.end()) {
    timers_.erase({t->second, sa});
    timer_of_.erase(t);
  }
  sas_.erase(sa);
}

// ---- Timers ----

void Engine::arm() {
  Time next = timers_.empty() ? Time::max() : timers_.begin()->first;
  if (!half_open_.empty()) next = std::min(next, now() + std::chrono::seconds(1));
  const uint64_t usec = next == Time::max() ? UINT64_MAX
                                            : static_cast<uint64_t>(std::chrono::duration_cast<microseconds>(next.time_since_epoch()).count());
  sd_event_source_set_time(timer_, usec);
  sd_event_source_set_enabled(timer_, usec == UINT64_MAX ? SD_EVENT_OFF : SD_EVENT_ONESHOT);
}

void Engine::expire_half_open(Time t) {
  std::vector<IkeSa*> stale;
  for (const auto& [sa, h] : half_open_) {
    if (t >= h.started + limits_.half_open_timeout) stale.push_back(sa);
  }
  for (IkeSa* sa : stale) {
    ++stats_.half_open_expired;
    log::info("half-open IKE SA with " + sa->remote().to_string() + " given up: no IKE_AUTH within " +
              std::to_string(limits_.half_open_timeout.count()) + " s");
    forget(sa);
  }
}

int Engine::on_timer(sd_event_source* /*source*/, uint64_t /*usec*/, void* engine) {
  auto* e = static_cast<Engine*>(engine);
  const Time t = e->now();
  e->expire_half_open(t);
  std::vector<IkeSa*> due;
  for (auto it = e->timers_.begin(); it != e->timers_.end() && it->first <= t; ++it) due.push_back(it->second);
  for (IkeSa* sa : due) {
    if (!e->sas_.count(sa)) continue;
    const Task* waiting = sa->outstanding();
    sa->tick(t);
    // The same request still outstanding and something sent: that request again.
    if (waiting && sa->outstanding() == waiting && e->flush(sa) > 0) ++e->stats_.retransmitted;
    e->settle(sa);
  }
  e->arm();
  return 0;
}

}  // namespace sedge::ike

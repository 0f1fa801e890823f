// The task manager of one IKE SA: message IDs, retransmission, the response cache, the queue of
// our tasks and the timers that fill it. The exchanges themselves are in ike/tasks/.
#include "ike/ike_sa.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "ike/keylog.h"
#include "ike/tasks/task.h"

namespace sedge::ike {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Generation::name() const { return hex64(spi_i) + "_i " + hex64(spi_r) + "_r"; }

ChildSa ChildSa::shape() const {
  ChildSa c;
  c.index = index;
  c.spi_in = spi_in;
  c.spi_out = spi_out;
  c.local_ts = local_ts;
  c.remote_ts = remote_ts;
  c.local = local;
  c.remote = remote;
  c.encapsulated = encapsulated;
  c.suite = suite;
  return c;
}

IkeSa::IkeSa(SaConfig config, SaEnvironment env, Address local, Address remote)
    : config_(std::move(config)),
      env_(env),
      local_(local),
      remote_(remote),
      rng_(env.seed ? env.seed : std::random_device{}()) {
  if (config_.local_ts.empty()) config_.local_ts = {config_.tunnel.local_ts};
  if (config_.remote_ts.empty()) config_.remote_ts = {config_.tunnel.remote_ts};
  child_group = config_.pfs_group;
  ike_group = config_.suite.dh_group;
}

IkeSa::~IkeSa() = default;

std::unique_ptr<IkeSa> IkeSa::initiate(SaConfig config, SaEnvironment env, Address local, Address remote, Time now) {
  std::unique_ptr<IkeSa> sa(new IkeSa(std::move(config), env, local, remote));
  Generation g;
  g.initiator = true;
  g.spi_i = random_ike_spi();
  sa->generations_.push_back(std::move(g));
  sa->last_heard_ = now;
  sa->enqueue(make_ike_init());
  sa->start_next(now);
  return sa;
}

const Generation* IkeSa::current() const {
  for (const auto& g : generations_) {
    if (!g.dying) return &g;
  }
  return nullptr;
}
Generation* IkeSa::current_generation() { return const_cast<Generation*>(std::as_const(*this).current()); }

std::vector<uint64_t> IkeSa::local_spis() const {
  std::vector<uint64_t> out;
  for (const auto& g : generations_) out.push_back(g.our_spi());
  return out;
}

const Child* IkeSa::child(uint32_t index) const {
  const Child* best = nullptr;
  for (const auto& c : children_) {
    if (!c.live() || c.sa.index != index) continue;
    if (!best || (c.outbound && !best->outbound)) best = &c;
  }
  return best;
}

std::vector<const Child*> IkeSa::children() const {
  std::vector<const Child*> out;
  for (const auto& c : children_) out.push_back(&c);
  return out;
}

std::string IkeSa::name() const {
  const Generation* g = current();
  return remote_.to_string() + (g ? " " + g->name() : "");
}

const Task* IkeSa::outstanding() const { return out_ ? out_->task.get() : nullptr; }
Task* IkeSa::outstanding_task() { return out_ ? out_->task.get() : nullptr; }

void IkeSa::enqueue(std::unique_ptr<Task> task) { queue_.push_back(std::move(task)); }

void IkeSa::emit(SaEventKind kind, std::string text, uint32_t child_index) {
  events_.push_back({kind, std::move(text), child_index});
}

std::vector<Outgoing> IkeSa::take_sends() { return std::exchange(sends_, {}); }
std::vector<SaEvent> IkeSa::take_events() { return std::exchange(events_, {}); }

// ---- Timers ----

Time IkeSa::soft(milliseconds lifetime, Time now) {
  if (lifetime.count() == 0) return Time::max();
  std::uniform_real_distribution<double> u(0.0, config_.rekey_jitter);
  const double at = static_cast<double>(lifetime.count()) * (config_.rekey_fraction - (config_.rekey_jitter > 0 ? u(rng_) : 0.0));
  return now + milliseconds(static_cast<int64_t>(at));
}

Time IkeSa::hard(milliseconds lifetime, Time now) const { return lifetime.count() == 0 ? Time::max() : now + lifetime; }

Time IkeSa::retry_soon(Time now) {
  std::uniform_int_distribution<int> u(1000, 4000);
  return now + milliseconds(u(rng_));
}

void IkeSa::start_child_timers(Child& c, Time now) {
  c.rekey_at = soft(config_.child_lifetime, now);
  c.expire_at = hard(config_.child_lifetime, now);
}

Time IkeSa::retransmit_delay(int n) {
  const auto& r = config_.retransmit;
  double ms = static_cast<double>(r.timeout.count()) * std::pow(r.base, n);
  if (r.jitter > 0) ms -= ms * std::uniform_real_distribution<double>(0.0, std::min(r.jitter, 0.5))(rng_);
  return Time{} + milliseconds(static_cast<int64_t>(ms));
}

void IkeSa::established(Time now) {
  state_ = SaState::established;
  ike_rekey_at = soft(config_.ike_lifetime, now);
  ike_expire_at = hard(config_.ike_lifetime, now);
  create_at = now;
  if (encapsulated_) next_keepalive_ = now + config_.keepalive;
  emit(SaEventKind::up, "IKE SA " + current()->name() + " established with " + remote_.to_string());
}

void IkeSa::float_to_natt() {
  encapsulated_ = true;
  local_.port = natt_port;
  remote_.port = natt_port;
}

void IkeSa::fail(Error why) {
  if (state_ == SaState::closed) return;
  state_ = SaState::closed;
  failure_ = std::move(why);
  // The tunnel is gone: its kernel objects go with it, so nothing stale steers traffic.
  if (env_.children) {
    for (auto& c : children_) {
      env_.children->remove(c.sa.shape());
      if (c.live()) env_.children->remove_policies(c.sa.shape());  // a rekey's pairs share them
    }
  }
  children_.clear();
  queue_.clear();
  if (out_) out_->task->abort(*this);
  out_.reset();
  emit(SaEventKind::down, failure_.message);
}

void IkeSa::abandon() {
  state_ = SaState::closed;
  children_.clear();
  queue_.clear();
  out_.reset();
}

void IkeSa::close(Time now) {
  if (state_ != SaState::established) {
    fail(Error{"closed before it was established", ECANCELED});
    return;
  }
  for (auto& g : generations_) {
    if (!g.dying) g.delete_by_us = true, g.dying = true;
  }
  start_next(now);
}

void IkeSa::rekey_ike(Time now) {
  ike_rekey_at = now;
  tick(now);
}

void IkeSa::rekey_child(uint32_t index, Time now) {
  for (auto& c : children_) {
    if (c.live() && c.sa.index == index) c.rekey_at = now;
  }
  tick(now);
}

// ---- Sending ----

std::vector<Bytes> IkeSa::seal_for(Generation& g, const Header& header, const std::vector<Payload>& payloads) {
  // FragmentSize= counts an IPv4 header; an IPv6 one is 20 bytes longer.
  const size_t max = fragment_size && remote_.ipv6() ? fragment_size - 20 : fragment_size;
  return seal_message(g.out(), header, payloads.empty() ? kNoNext : payloads.front().type, serialize_payloads(payloads), g.iv, max);
}

void IkeSa::send_datagrams(const std::vector<Bytes>& datagrams) {
  for (const auto& d : datagrams) sends_.push_back({d, local_, remote_, false});
}

// The next of our tasks, if none is outstanding: deletes of what rekeys replaced first, then
// the queue, then what the timers ask for.
void IkeSa::start_next(Time now) {
  while (!out_ && state_ != SaState::closed) {
    std::unique_ptr<Task> task;
    for (auto& g : generations_) {
      if (!task && g.dying && g.delete_by_us) {
        g.delete_by_us = false;
        task = make_ike_delete(&g);
      }
    }
    for (auto& c : children_) {
      if (!task && c.delete_by_us) {
        c.delete_by_us = false;
        task = make_child_delete(c.sa.spi_in);
      }
    }
    if (!task && !queue_.empty()) {
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!task && state_ == SaState::established) {
      const bool rekeying_ike = std::any_of(generations_.begin(), generations_.end(), [](const Generation& g) { return g.dying; });
      const bool child_work = std::any_of(children_.begin(), children_.end(), [](const Child& c) { return !c.live(); });
      if (now >= ike_rekey_at && !rekeying_ike && !child_work) {
        ike_rekey_at = Time::max();  // set again when the rekey completes or is retried
        task = make_ike_rekey();
      } else if (!rekeying_ike && !child_work) {
        for (auto& c : children_) {
          if (!task && c.live() && now >= c.rekey_at) {
            c.rekey_at = Time::max();
            task = make_child_rekey(c.sa.spi_in);
          }
        }
        if (!task && next_create < config_.create_children.size() && now >= create_at) {
          create_at = Time::max();
          task = make_child_create(config_.create_children[next_create]);
        }
      }
      if (!task && config_.dpd_interval.count() > 0 && now >= last_heard_ + config_.dpd_interval) task = make_liveness();
    }
    if (!task) return;
    auto request = task->build(*this, now);
    if (!request) continue;
    Generation& g = *request->on;
    Outstanding o;
    o.on = &g;
    o.exchange = request->exchange;
    if (request->exchange == Exchange::ike_sa_init) {  // message ID 0 again when sent again
      o.id = 0;
      g.next_id = 1;
      o.wire = {serialize(Header{g.spi_i, 0, 0, Exchange::ike_sa_init, kFlagInitiator, o.id, 0}, request->payloads)};
      init_.request = o.wire.front();
    } else {
      o.id = g.next_id++;
      o.wire = seal_for(g, Header{g.spi_i, g.spi_r, kSk, request->exchange, g.role(), o.id, 0}, request->payloads);
    }
    o.first_sent = now;
    o.next_retransmit = now + (retransmit_delay(0) - Time{});
    // DpdTimeoutSec= below the first retransmission's wait still decides when the peer is dead.
    if (config_.dpd_timeout.count() > 0) o.next_retransmit = std::min(o.next_retransmit, now + config_.dpd_timeout);
    o.task = std::move(task);
    log::info(std::string("request sent: ") + o.task->name(), {{"IKE_SPI", g.name()}, {"IKE_MESSAGE_ID", std::to_string(o.id)}});
    send_datagrams(o.wire);
    out_ = std::move(o);
  }
}

void IkeSa::retransmit(Time now) {
  if (!out_ || now < out_->next_retransmit) return;
  const bool dpd_cap = config_.dpd_timeout.count() > 0 && now >= out_->first_sent + config_.dpd_timeout;
  const int tries = out_->task->max_tries() >= 0 ? std::min(out_->task->max_tries(), config_.retransmit.tries) : config_.retransmit.tries;
  if (out_->retransmitted >= tries || dpd_cap) {
    if (out_->task->kind() == TaskKind::notify) {  // a courtesy to the peer: not a sign it is dead
      out_->task->abort(*this);
      return;
    }
    if (out_->task->kind() == TaskKind::ike_delete && out_->on->dying && current()) {
      // A replaced IKE SA's Delete: the peer deleted it already if only its answer was lost, and
      // with it the keys to answer again. The current IKE SA is not at stake.
      Generation* g = out_->on;
      log::info("no answer to the Delete of the replaced IKE SA " + g->name() + ": taken as deleted");
      out_.reset();
      generations_.remove_if([g](const Generation& x) { return &x == g; });
      start_next(now);
      return;
    }
    const auto waited = std::chrono::duration_cast<seconds>(now - out_->first_sent).count();
    fail(Error{"the peer " + remote_.to_string() + " is dead: no answer to a " + out_->task->name() + " for " +
                   std::to_string(waited) + " s",
               ETIMEDOUT});
    return;
  }
  ++out_->retransmitted;
  log::info(std::string("retransmitting the ") + out_->task->name() + " request (" + std::to_string(out_->retransmitted) + ")",
            {{"IKE_MESSAGE_ID", std::to_string(out_->id)}});
  // IKE_SA_INIT may have floated: resend from where the SA is now.
  send_datagrams(out_->wire);
  out_->next_retransmit = now + (retransmit_delay(out_->retransmitted) - Time{});
  if (config_.dpd_timeout.count() > 0) out_->next_retransmit = std::min(out_->next_retransmit, out_->first_sent + config_.dpd_timeout);
}

void IkeSa::check_lifetimes(Time now) {
  if (state_ != SaState::established) return;
  if (now >= ike_expire_at) return fail(Error{"the IKE SA's lifetime ran out before it could be rekeyed", ETIMEDOUT});
  for (const auto& c : children_) {
    if (c.live() && now >= c.expire_at) {
      return fail(Error{"CHILD_SA " + std::to_string(c.sa.index) + "'s lifetime ran out before it could be rekeyed", ETIMEDOUT});
    }
  }
}

void IkeSa::install_due_outbound(Time now) {
  for (auto& c : children_) {
    if (c.outbound || !c.live() || now < c.outbound_by) continue;
    if (auto st = env_.children->install_outbound(c.sa); !st) {
      log::error("installing the outbound SA " + hex32(c.sa.spi_out) + ": " + st.error().message);
    }
    c.outbound = true;
    log::info("CHILD_SA outbound SA installed", {{"ESP_SPI_OUT", hex32(c.sa.spi_out)}});
  }
}

void IkeSa::tick(Time now) {
  if (state_ == SaState::closed) return;
  fragments_.expire(now);
  retransmit(now);
  check_lifetimes(now);
  if (state_ == SaState::closed) return;
  install_due_outbound(now);
  forget_undeleted_generations(now);
  if (encapsulated_ && now >= next_keepalive_) {
    sends_.push_back({{0xff}, local_, remote_, true});
    next_keepalive_ = now + config_.keepalive;
  }
  start_next(now);
}

// A replaced IKE SA the peer was to delete: if its Delete never comes (every retransmission
// lost), it would block our rekeys for good; after as long as a request may take, it goes.
void IkeSa::forget_undeleted_generations(Time now) {
  Time longest = now;
  for (int n = 0; n <= config_.retransmit.tries; ++n) longest += retransmit_delay(n) - Time{};
  for (auto it = generations_.begin(); it != generations_.end();) {
    Generation& g = *it;
    const bool waiting = g.dying && !g.delete_by_us && current() != &g && !(out_ && out_->on == &g);
    if (waiting && g.delete_by == Time::max()) g.delete_by = longest;
    if (!waiting || now < g.delete_by) {
      ++it;
      continue;
    }
    log::info("the replaced IKE SA " + g.name() + " was never deleted by the peer: forgotten");
    it = generations_.erase(it);
  }
}

Time IkeSa::next_timer() const {
  if (state_ == SaState::closed) return Time::max();
  Time t = Time::max();
  if (out_) {
    t = out_->next_retransmit;
  } else if (state_ == SaState::established) {
    // Rekeys and new CHILD_SAs wait while an IKE SA rekey or CHILD_SA work is unfinished (as in
    // start_next): a message of the peer ends that, so they are not due before (no busy loop).
    const bool rekeying_ike = std::any_of(generations_.begin(), generations_.end(), [](const Generation& g) { return g.dying; });
    const bool child_work = std::any_of(children_.begin(), children_.end(), [](const Child& c) { return !c.live(); });
    if (!rekeying_ike && !child_work) {
      t = std::min(t, ike_rekey_at);
      if (next_create < config_.create_children.size()) t = std::min(t, create_at);
      for (const auto& c : children_) {
        if (c.live()) t = std::min(t, c.rekey_at);
      }
    }
    if (config_.dpd_interval.count() > 0) t = std::min(t, last_heard_ + config_.dpd_interval);
  }
  if (state_ == SaState::established) {
    t = std::min(t, ike_expire_at);
    for (const auto& c : children_) {
      if (c.live()) t = std::min(t, c.expire_at);
      if (!c.outbound && c.live()) t = std::min(t, c.outbound_by);
    }
    if (encapsulated_) t = std::min(t, next_keepalive_);
    for (const auto& g : generations_) t = std::min(t, g.delete_by);
  }
  return t;
}

// ---- Receiving ----

void IkeSa::process(const Message& m, std::span<const uint8_t> wire, const Address& from, const Address& to, Time now) {
  if (state_ == SaState::closed) return;
  const bool response = m.header.flags & kFlagResponse;
  if (m.header.exchange == Exchange::ike_sa_init) {
    // Only our own IKE_SA_INIT's response is taken here (a responder's retransmitted request
    // is answered by the dispatcher from the cached response).
    if (!response || !out_ || out_->exchange != Exchange::ike_sa_init) return;
    auto& g = generations_.front();
    if (m.header.spi_i != g.spi_i) return;
    last_heard_ = now;
    Outstanding o = std::move(*out_);
    out_.reset();
    if (o.task->process(*this, m, wire, m.payloads, now) == Task::Next::again) queue_.push_front(std::move(o.task));
    start_next(now);
    return;
  }
  auto g_it = std::find_if(generations_.begin(), generations_.end(),
                           [&](const Generation& x) { return x.spi_i == m.header.spi_i && x.spi_r == m.header.spi_r; });
  if (g_it == generations_.end()) return;
  Generation& g = *g_it;
  auto inner = fragmentation ? fragments_.open(g.in(), m, wire, now) : open(g.in(), m, wire);
  if (!inner) {
    if (inner.error().code != EINPROGRESS) log::warning("dropped a message that does not decrypt: " + inner.error().message);
    return;
  }
  last_heard_ = now;
  // Authenticated: our answers and requests go where it came from (the initiator floats to the
  // NAT-T port; a NAT may change its mapping, RFC 7296 2.23).
  remote_ = from;
  local_ = to.is_any() ? local_.with_port(to.port) : to;
  if (response) {
    if (out_ && out_->on == &g && m.header.message_id == out_->id) on_response(g, m, wire, *inner, now);
  } else {
    on_request(g, m, *inner, now);
  }
  tick(now);
}

void IkeSa::on_response(Generation& g, const Message& m, std::span<const uint8_t> wire, const std::vector<Payload>& inner, Time now) {
  (void)g;
  Outstanding o = std::move(*out_);
  out_.reset();
  if (o.task->process(*this, m, wire, inner, now) == Task::Next::again) queue_.push_front(std::move(o.task));
  if (deleted_generation) {
    generations_.remove_if([this](const Generation& x) { return &x == deleted_generation; });
    deleted_generation = nullptr;
  }
  if (generations_.empty() && state_ != SaState::closed) fail(Error{"the IKE SA is deleted", 0});
}

void IkeSa::on_request(Generation& g, const Message& m, const std::vector<Payload>& inner, Time now) {
  const uint32_t id = m.header.message_id;
  if (g.answered && *g.answered == id) {
    send_datagrams(g.answer);  // the peer retransmitted: the same response again
    return;
  }
  if (id != g.peer_next_id) {
    log::debug("dropped a request with message ID " + std::to_string(id) + " (expected " + std::to_string(g.peer_next_id) + ")");
    return;
  }
  deleted_generation = nullptr;
  peer_deleted = false;
  std::vector<Payload> out;
  switch (m.header.exchange) {
    case Exchange::ike_auth: out = answer_ike_auth(*this, g, inner, now); break;
    case Exchange::create_child_sa: out = answer_create_child(*this, g, inner, now); break;
    case Exchange::informational: out = answer_informational(*this, g, inner, now); break;
    default: return;
  }
  const Header rh{g.spi_i, g.spi_r, kSk, m.header.exchange, static_cast<uint8_t>(kFlagResponse | g.role()), id, 0};
  g.answer = seal_for(g, rh, out);
  g.answered = id;
  g.peer_next_id = id + 1;
  send_datagrams(g.answer);
  if (m.header.exchange == Exchange::informational && out.empty()) {
    log::info("answered the peer's INFORMATIONAL request", {{"IKE_MESSAGE_ID", std::to_string(id)}});
  }
  if (deleted_generation) {
    if (out_ && out_->on == deleted_generation) out_.reset();
    generations_.remove_if([this](const Generation& x) { return &x == deleted_generation; });
    deleted_generation = nullptr;
  }
  // The last one goes too when the peer deletes an IKE SA we were deleting ourselves (both closed at once).
  if (peer_deleted || generations_.empty()) fail(Error{"the peer deleted the IKE SA", ECONNRESET});
}

}  // namespace sedge::ike

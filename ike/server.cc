#include "ike/server.h"

#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"

namespace sedge::ike {
namespace {

constexpr uint16_t kCookie = 16390, kInvalidSyntax = 7, kNoAdditionalSas = 35;
constexpr size_t kMaxReadsPerWakeup = 64;
constexpr uint64_t kTickUsec = 1'000'000;


}  // namespace

// One IKE SA as the loop sees it. Jobs on the pool never touch it: they get copies.
struct Server::Sa {
  enum class Phase { computing_init, half_open, computing_auth, established };
  Phase phase = Phase::computing_init;
  uint64_t spi_i = 0, spi_r = 0;
  sockaddr_in peer{};
  const Endpoint* endpoint = nullptr;
  std::chrono::steady_clock::time_point created;
  Bytes init_request;                // while computing_init: to know a retransmission
  std::unique_ptr<HalfOpenSa> half;  // from half_open on (established: its `sa`)
  uint32_t last_message_id = 0;
  Bytes last_request, last_response;  // the response cache (RFC 7296 2.1)
  bool half_open_indexed = true;
  HalfOpenKey half_open_key;
};

Result<std::unique_ptr<Server>> Server::create(ServerConfig config) {
  if (!config.handler || !config.tunnel_for) return Error{"ike::Server needs a handler and a tunnel lookup", EINVAL};
  std::unique_ptr<Server> s(new Server(std::move(config)));
  if (auto st = s->ike_port_.open(s->config_.local, s->config_.ike_port, false); !st) return st.error();
  if (auto st = s->natt_port_.open(s->config_.local, s->config_.natt_port, true); !st) return st.error();
  auto pool = WorkerPool::start(s->config_.workers);
  if (!pool) return pool.error();
  s->pool_ = std::move(*pool);
  s->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->wake_fd_ < 0) return Error::sys("creating the server's eventfd");
  s->rotate_cookie_secret();
  return s;
}

Server::~Server() {
  for (auto*& src : sources_) src = sd_event_source_disable_unref(src);
  pool_.reset();  // joins the workers before the SAs go
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status Server::attach(sd_event* event) {
  event_ = event;
  int r = sd_event_add_io(event, &sources_[0], ike_port_.fd(), EPOLLIN, on_packet, this);
  if (r >= 0) r = sd_event_add_io(event, &sources_[1], natt_port_.fd(), EPOLLIN, on_packet, this);
  if (r >= 0) r = sd_event_add_io(event, &sources_[2], pool_->fd(), EPOLLIN, on_completions, this);
  if (r >= 0) r = sd_event_add_io(event, &sources_[3], wake_fd_, EPOLLIN, on_wake, this);
  uint64_t now = 0;
  if (r >= 0) r = sd_event_now(event, CLOCK_MONOTONIC, &now);
  if (r >= 0) r = sd_event_add_time(event, &sources_[4], CLOCK_MONOTONIC, now + kTickUsec, 0, on_tick, this);
  if (r < 0) return Error::sys("adding the IKE server to the event loop", -r);
  log::info("IKE server on " + to_string(config_.local) + " ports " + std::to_string(config_.ike_port) + "/" +
            std::to_string(config_.natt_port) + ", " + std::to_string(pool_->size()) + " workers");
  return {};
}

Status Server::run() {
  sd_event* event = nullptr;
  if (int r = sd_event_new(&event); r < 0) return Error::sys("creating an event loop", -r);
  Status st = attach(event);
  if (st && !stopping_) {
    if (int r = sd_event_loop(event); r < 0) st = Error::sys("running the IKE server's loop", -r);
  }
  for (auto*& src : sources_) src = sd_event_source_disable_unref(src);
  sd_event_unref(event);
  event_ = nullptr;
  return st;
}

void Server::stop() {
  stopping_ = true;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

ServerStats Server::stats() const {
  std::lock_guard lock(stats_mutex_);
  return published_;
}

void Server::publish_stats() {
  counters_.half_open = half_open_.size();
  counters_.established = sas_.size() - half_open_.size();
  std::lock_guard lock(stats_mutex_);
  published_ = counters_;
}

int Server::on_wake(sd_event_source*, int fd, uint32_t, void* self) {
  uint64_t n = 0;
  (void)!read(fd, &n, sizeof n);
  auto* s = static_cast<Server*>(self);
  if (s->stopping_) sd_event_exit(s->event_, 0);
  return 0;
}

int Server::on_completions(sd_event_source*, int, uint32_t, void* self) {
  auto* s = static_cast<Server*>(self);
  s->pool_->run_completions();
  s->publish_stats();
  return 0;
}

int Server::on_tick(sd_event_source* src, uint64_t usec, void* self) {
  auto* s = static_cast<Server*>(self);
  const auto now = std::chrono::steady_clock::now();
  for (auto it = s->half_open_.begin(); it != s->half_open_.end();) {
    auto sa = s->sas_.find(it->second);
    if (sa != s->sas_.end() && now - sa->second->created < s->config_.half_open_timeout) {
      ++it;
      continue;
    }
    if (sa != s->sas_.end()) s->sas_.erase(sa);
    it = s->half_open_.erase(it);
    ++s->counters_.expired;
  }
  if (now - s->cookie_rotated_ >= s->config_.cookie_secret_lifetime) s->rotate_cookie_secret();
  s->publish_stats();
  sd_event_source_set_time(src, usec + kTickUsec);
  sd_event_source_set_enabled(src, SD_EVENT_ON);
  return 0;
}

int Server::on_packet(sd_event_source*, int fd, uint32_t, void* self) {
  auto* s = static_cast<Server*>(self);
  const bool natt = fd == s->natt_port_.fd();
  const Endpoint& endpoint = natt ? s->natt_port_ : s->ike_port_;
  static thread_local uint8_t buf[kMaxMessageSize];
  for (size_t i = 0; i < kMaxReadsPerWakeup; ++i) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) break;  // EAGAIN, or an ICMP error for an earlier send
    size_t skip = 0;
    if (natt) {  // the non-ESP marker; anything else (a keepalive) is not IKE
      if (n < 4 || buf[0] || buf[1] || buf[2] || buf[3]) continue;
      skip = 4;
    }
    s->handle(endpoint, Bytes(buf + skip, buf + n), from);
  }
  s->publish_stats();
  return 0;
}

void Server::handle(const Endpoint& endpoint, Bytes wire, const sockaddr_in& from) {
  auto m = parse(wire);
  if (!m || (m->header.flags & kFlagResponse)) {
    ++counters_.dropped;
    return;
  }
  if (m->header.exchange == Exchange::ike_sa_init) {
    if (m->header.spi_r == 0 && m->header.message_id == 0) {
      handle_init(endpoint, std::move(wire), std::move(*m), from);
    } else {
      ++counters_.dropped;
    }
    return;
  }
  auto it = sas_.find(m->header.spi_r);
  if (it == sas_.end() || it->second->spi_i != m->header.spi_i || from.sin_addr.s_addr != it->second->peer.sin_addr.s_addr) {
    ++counters_.dropped;
    return;
  }
  Sa& sa = *it->second;
  // A retransmission of the last request gets the same response again.
  if (!sa.last_response.empty() && m->header.message_id == sa.last_message_id && wire == sa.last_request) {
    ++counters_.retransmits_answered;
    (void)endpoint.send_to(sa.last_response, from);
    return;
  }
  switch (sa.phase) {
    case Sa::Phase::half_open: handle_auth(sa, endpoint, std::move(wire), *m, from); break;
    case Sa::Phase::established: handle_established(sa, endpoint, std::move(wire), *m, from); break;
    default: ++counters_.dropped; break;  // its last request is still being worked on
  }
}

void Server::handle_init(const Endpoint& endpoint, Bytes wire, Message m, const sockaddr_in& from) {
  const HalfOpenKey key{m.header.spi_i, from.sin_addr.s_addr, from.sin_port};
  if (auto h = half_open_.find(key); h != half_open_.end()) {  // a retransmission, or a second try with a COOKIE
    auto it = sas_.find(h->second);
    if (it != sas_.end() && it->second->half && it->second->half->init_request == wire) {
      ++counters_.retransmits_answered;
      (void)endpoint.send_to(it->second->half->init_response, from);
    } else {
      ++counters_.dropped;
    }
    return;
  }
  if (half_open_.size() >= config_.cookie_threshold && !cookie_ok(m, from)) {
    const Payload* ni = m.find(kNonce);
    if (!ni) {
      ++counters_.dropped;
      return;
    }
    Header h = m.header;
    h.flags = kFlagResponse;
    const Bytes cookie = cookie_for(cookie_version_, cookie_secret_, ni->body, from, m.header.spi_i);
    (void)endpoint.send_to(serialize(h, {{kNotify, false, encode_notify({0, {}, kCookie, cookie})}}), from);
    ++counters_.cookies_sent;
    return;
  }
  Refusal refusal;
  auto offer = read_ike_sa_init(m, config_.suite, &refusal);
  if (!offer) {
    if (refusal.notify) {
      (void)endpoint.send_to(refusal_message(m, refusal, nullptr), from);
      ++counters_.refused;
    } else {
      ++counters_.dropped;
    }
    log::debug("IKE_SA_INIT from " + to_string(from) + ": " + offer.error().message);
    return;
  }
  auto sa = std::make_shared<Sa>();
  do sa->spi_r = random_ike_spi();
  while (sas_.count(sa->spi_r));
  sa->spi_i = m.header.spi_i;
  sa->peer = from;
  sa->endpoint = &endpoint;
  sa->created = std::chrono::steady_clock::now();
  sa->init_request = wire;
  sa->half_open_key = key;
  sas_.emplace(sa->spi_r, sa);
  half_open_.emplace(key, sa->spi_r);
  pool_->submit([this, sa, suite = config_.suite, local = config_.local, offer = std::move(*offer), wire = std::move(wire),
                 payloads = std::move(m.payloads)]() mutable -> WorkerPool::Completion {
    auto half = std::make_shared<Result<HalfOpenSa>>(
        answer_ike_sa_init(suite, offer, sa->spi_i, sa->spi_r, std::move(wire), local, sa->peer, payloads));
    return [this, sa, half] { init_done(sa, std::move(*half)); };
  });
}

void Server::init_done(const std::shared_ptr<Sa>& sa, Result<HalfOpenSa> half) {
  auto it = sas_.find(sa->spi_r);
  if (it == sas_.end() || it->second != sa) return;  // expired meanwhile
  if (!half) {
    log::warning("IKE_SA_INIT from " + to_string(sa->peer) + ": " + half.error().message);
    erase(sa->spi_r);
    return;
  }
  sa->half = std::make_unique<HalfOpenSa>(std::move(*half));
  sa->init_request.clear();
  sa->init_request.shrink_to_fit();
  sa->phase = Sa::Phase::half_open;
  (void)sa->endpoint->send_to(sa->half->init_response, sa->peer);
}

void Server::handle_auth(Sa& sa, const Endpoint& endpoint, Bytes wire, const Message& m, const sockaddr_in& from) {
  if (m.header.exchange != Exchange::ike_auth || m.header.message_id != 1) {
    ++counters_.dropped;
    return;
  }
  auto inner = open(sa.half->sa.keys.sk_ei, m, wire);
  if (!inner) {
    ++counters_.dropped;
    return;
  }
  sa.peer = from;  // the initiator may have floated to 4500
  sa.endpoint = &endpoint;
  sa.phase = Sa::Phase::computing_auth;
  sa.last_message_id = 1;
  sa.last_request = std::move(wire);
  // The job reads the half-open SA's keys and messages, which nothing changes while it runs.
  auto self = sas_.at(sa.spi_r);
  pool_->submit([this, self, inner = std::move(*inner), lookup = config_.tunnel_for]() -> WorkerPool::Completion {
    auto refusal = std::make_shared<Refusal>();
    auto answer = std::make_shared<Result<AuthAnswer>>(check_ike_auth(*self->half, inner, lookup, refusal.get()));
    return [this, self, answer, refusal] { auth_done(self, std::move(*answer), *refusal); };
  });
}

void Server::auth_done(const std::shared_ptr<Sa>& sa, Result<AuthAnswer> answer, Refusal refusal) {
  auto it = sas_.find(sa->spi_r);
  if (it == sas_.end() || it->second != sa) return;
  Message request;
  request.header = {sa->spi_i, sa->spi_r, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0};
  if (!answer) {
    log::warning("IKE_AUTH from " + to_string(sa->peer) + ": " + answer.error().message);
    if (refusal.notify) {
      (void)sa->endpoint->send_to(refusal_message(request, refusal, &sa->half->sa), sa->peer);
      ++counters_.refused;
    }
    erase(sa->spi_r);
    return;
  }
  auto spi = config_.handler->allocate_spi(sa->peer);
  if (!spi) {
    log::warning("IKE_AUTH from " + to_string(sa->peer) + ": allocating an inbound SPI: " + spi.error().message);
    (void)sa->endpoint->send_to(refusal_message(request, {43 /* TEMPORARY_FAILURE */, {}}, &sa->half->sa), sa->peer);
    erase(sa->spi_r);
    return;
  }
  respond(*sa, answer_ike_auth(*sa->half, *answer, *spi, sa->peer));
  if (auto st = config_.handler->install(sa->half->sa, sa->peer); !st) {
    log::warning("installing the CHILD_SA of " + answer->peer_id + " at " + to_string(sa->peer) + ": " + st.error().message);
    erase(sa->spi_r);
    return;
  }
  half_open_.erase(sa->half_open_key);
  sa->half_open_indexed = false;
  sa->phase = Sa::Phase::established;
  // What an established SA needs no more.
  sa->half->init_request = Bytes();
  sa->half->init_response = Bytes();
  sa->half->ni = Bytes();
  sa->half->nr = Bytes();
  ++counters_.setups;
}

void Server::handle_established(Sa& sa, const Endpoint& endpoint, Bytes wire, const Message& m, const sockaddr_in& from) {
  EstablishedSa& ike = sa.half->sa;
  if (m.header.message_id != sa.last_message_id + 1) {
    ++counters_.dropped;
    return;
  }
  auto inner = open(ike.keys.sk_ei, m, wire);
  if (!inner) {
    ++counters_.dropped;
    return;
  }
  sa.peer = from;
  sa.endpoint = &endpoint;
  sa.last_message_id = m.header.message_id;
  sa.last_request = std::move(wire);
  Header h = m.header;
  h.flags = kFlagResponse;
  if (m.header.exchange == Exchange::informational) {
    const bool delete_ike = std::any_of(inner->begin(), inner->end(), [](const Payload& p) { return p.type == kDelete && !p.body.empty() && p.body[0] == 1; });
    respond(sa, seal(ike.keys.sk_er, h, kNoNext, {}, ike.iv_counter++));
    if (delete_ike) {
      config_.handler->remove(ike, sa.peer);
      ++counters_.deleted;
      erase(sa.spi_r);
    }
    return;
  }
  const uint16_t notify = m.header.exchange == Exchange::create_child_sa ? kNoAdditionalSas : kInvalidSyntax;
  ++counters_.refused;
  respond(sa, seal(ike.keys.sk_er, h, kNotify, serialize_payloads({{kNotify, false, encode_notify({0, {}, notify, {}})}}), ike.iv_counter++));
}

void Server::respond(Sa& sa, Bytes response) {
  (void)sa.endpoint->send_to(response, sa.peer);
  sa.last_response = std::move(response);
}

void Server::erase(uint64_t spi_r) {
  auto it = sas_.find(spi_r);
  if (it == sas_.end()) return;
  if (it->second->half_open_indexed) half_open_.erase(it->second->half_open_key);
  sas_.erase(it);
}

// <version (4 bytes)> | HMAC-SHA2-256(secret, Ni | IPi | SPIi), as RFC 7296 2.6 suggests.
Bytes Server::cookie_for(uint32_t version, const Secret& secret, const Bytes& ni, const sockaddr_in& from, uint64_t spi_i) const {
  Bytes data = ni;
  const auto* ip = reinterpret_cast<const uint8_t*>(&from.sin_addr.s_addr);
  data.insert(data.end(), ip, ip + 4);
  for (int i = 7; i >= 0; --i) data.push_back(static_cast<uint8_t>(spi_i >> (i * 8)));
  Bytes cookie = {static_cast<uint8_t>(version >> 24), static_cast<uint8_t>(version >> 16), static_cast<uint8_t>(version >> 8),
                  static_cast<uint8_t>(version)};
  const Bytes mac = prf(kPrfHmacSha256, secret.bytes(), data);
  cookie.insert(cookie.end(), mac.begin(), mac.end());
  return cookie;
}

bool Server::cookie_ok(const Message& m, const sockaddr_in& from) const {
  // The COOKIE notify comes first (RFC 7296 2.6).
  if (m.payloads.empty() || m.payloads.front().type != kNotify) return false;
  auto n = decode_notify(m.payloads.front().body);
  const Payload* ni = m.find(kNonce);
  if (!n || n->type != kCookie || !ni || n->data.size() != 4 + 32) return false;
  const uint32_t version = static_cast<uint32_t>(n->data[0]) << 24 | static_cast<uint32_t>(n->data[1]) << 16 |
                           static_cast<uint32_t>(n->data[2]) << 8 | n->data[3];
  const Secret* secret = version == cookie_version_ ? &cookie_secret_
                         : version + 1 == cookie_version_ && !previous_cookie_secret_.empty() ? &previous_cookie_secret_
                                                                                                : nullptr;
  return secret && constant_time_equal(n->data, cookie_for(version, *secret, ni->body, from, m.header.spi_i));
}

void Server::rotate_cookie_secret() {
  previous_cookie_secret_ = std::move(cookie_secret_);
  const Bytes fresh = random_bytes(32);
  cookie_secret_ = Secret(fresh);
  ++cookie_version_;
  cookie_rotated_ = std::chrono::steady_clock::now();
}

}  // namespace sedge::ike

// The life of an established IKE SA (ike::serve): the peer's requests, this side's rekeys of the
// CHILD_SA and of the IKE SA (RFC 7296 1.3, 2.8, 2.18), their collisions (2.8.1, 2.25), the
// deletes that retire replaced SAs, liveness checks and NAT keepalives. One request of ours is
// outstanding at a time (window size 1); responses to the peer's requests are kept to answer a
// retransmitted request with the same bytes rather than act on it twice.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <list>
#include <optional>
#include <random>

#include "common/log.h"
#include "ike/endpoint.h"
#include "ike/fragment.h"
#include "ike/initiator.h"
#include "ike/keylog.h"

namespace sedge::ike {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string hex32(uint32_t v) {
  char b[11];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}
std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}


bool supported_group(uint16_t g) { return KeyExchange::supported(g); }

std::vector<uint16_t> groups_of(const Proposal& p) {
  std::vector<uint16_t> out;
  for (const auto& t : p.transforms) {
    if (t.type == 4) out.push_back(t.id);
  }
  return out;
}

bool within(const TrafficSelector& inner, const TrafficSelector& outer) {
  return std::memcmp(inner.start, outer.start, 4) >= 0 && std::memcmp(inner.end, outer.end, 4) <= 0;
}
// The addresses of `a` that are in one of `offered` too (the first that overlaps), if any.
std::optional<TrafficSelector> narrowed(const TrafficSelector& a,
                                        const std::vector<TrafficSelector>& offered) {
  for (const auto& t : offered) {
    TrafficSelector n;
    std::memcpy(n.start, std::memcmp(a.start, t.start, 4) >= 0 ? a.start : t.start, 4);
    std::memcpy(n.end, std::memcmp(a.end, t.end, 4) <= 0 ? a.end : t.end, 4);
    if (std::memcmp(n.start, n.end, 4) <= 0) return n;
  }
  return std::nullopt;
}

// The first of our selector pairs that overlaps what the peer asks for (TSi: its side, ours
// remote), narrowed to the overlap.
std::optional<SelectorPair> narrowed_pair(const ServeOptions& o, const CreateChildSa& req) {
  for (const auto& local : o.local_ts) {
    for (const auto& remote : o.remote_ts) {
      auto l = narrowed(local, req.tsr), r = narrowed(remote, req.tsi);
      if (l && r) return SelectorPair{*l, *r};
    }
  }
  return std::nullopt;
}

// A new pair's keys from KEYMAT; `initiator`: this side initiated the CREATE_CHILD_SA exchange.
ChildSa keyed_pair(ChildKeys k, bool initiator) {
  ChildSa c;
  c.key_in = std::move(initiator ? k.responder_to_initiator : k.initiator_to_responder);
  c.key_out = std::move(initiator ? k.initiator_to_responder : k.responder_to_initiator);
  c.integ_in =
      std::move(initiator ? k.integ_responder_to_initiator : k.integ_initiator_to_responder);
  c.integ_out =
      std::move(initiator ? k.integ_initiator_to_responder : k.integ_responder_to_initiator);
  return c;
}

// An INVALID_KE_PAYLOAD that asks for another group we support: `group` becomes it.
bool take_group(const std::optional<Notify>& refusal, uint16_t& group) {
  if (!refusal || refusal->type != kNotifyInvalidKe || refusal->data.size() != 2) return false;
  const uint16_t g = get16(refusal->data, 0);
  if (!supported_group(g) || g == group) return false;
  group = g;
  return true;
}

// The suite's ESP transforms, with a DH group for PFS (0: none).
std::vector<Transform> esp_with(const Suite& suite, uint16_t group) {
  std::vector<Transform> t = esp_transforms(suite);
  if (group) t.push_back({kTransformDh, group, std::nullopt});
  return t;
}
// The suite's IKE transforms with `group` as the DH group.
std::vector<Transform> ike_with(const Suite& suite, uint16_t group) {
  std::vector<Transform> t = ike_transforms(suite);
  for (auto& x : t) {
    if (x.type == kTransformDh) x.id = group;
  }
  return t;
}
Proposal esp_proposal(uint32_t spi, const Suite& suite, uint16_t group) { return {1, kProtocolEsp, spi_bytes(spi), esp_with(suite, group)}; }
Proposal ike_proposal(uint64_t spi, const Suite& s, uint16_t group) { return {1, kProtocolIke, spi_bytes64(spi), ike_with(s, group)}; }

struct IkeSa {
  bool initiator = true;  // the original initiator of this IKE SA
  uint64_t spi_i = 0, spi_r = 0;
  IkeKeys keys;
  uint32_t next_id = 0;  // our next request
  uint64_t iv = 1;
  std::optional<uint32_t> answered;  // the peer's last request and our response to it
  std::vector<Bytes> answer;         // its datagrams (IKE fragments, RFC 7383, or one message)
  bool dying = false;      // replaced by a rekey: deleted by whoever initiated it
  bool delete_by_us = false;
  const SkKey& in() const { return initiator ? keys.sk_er : keys.sk_ei; }
  const SkKey& out() const { return initiator ? keys.sk_ei : keys.sk_er; }
  uint8_t role() const { return initiator ? kFlagInitiator : 0; }
  std::string name() const { return hex64(spi_i) + "_i " + hex64(spi_r) + "_r"; }
};

struct Child {
  ChildSa sa;
  bool outbound = false;      // its outbound SA is installed
  bool superseded = false;    // rekeyed: being deleted
  bool redundant = false;     // lost a rekey collision
  bool delete_by_us = false;  // we send its Delete
  Clock::time_point outbound_by{};  // a responder's new pair: outbound at the latest then
  Clock::time_point rekey_at = Clock::time_point::max(), expire_at = Clock::time_point::max();
};

enum class Kind { liveness, create_child, rekey_child, rekey_ike, delete_child, delete_ike };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::liveness: return "liveness check";
    case Kind::create_child:
      return "new CHILD_SA";
    case Kind::rekey_child: return "CHILD_SA rekey";
    case Kind::rekey_ike: return "IKE SA rekey";
    case Kind::delete_child: return "CHILD_SA delete";
    case Kind::delete_ike: return "IKE SA delete";
  }
  return "request";
}

// What we answered while a rekey of ours of the same SA was outstanding (2.8.1).
struct Collision {
  Bytes ni, nr;
  uint32_t child_spi_in = 0;  // the CHILD_SA the peer's exchange created
  IkeSa* ike = nullptr;        // or the IKE SA
};

struct Request {
  Kind kind = Kind::liveness;
  IkeSa* on = nullptr;
  uint32_t id = 0;
  std::vector<Bytes> wire;  // its datagrams, all retransmitted (RFC 7383 2.6)
  Clock::time_point first_sent{}, next_retransmit{};
  Child* child = nullptr;  // rekey_child: the pair being rekeyed; delete_child: the pair deleted
  std::optional<KeyExchange> dh;
  Bytes ni, nr;  // nr: the peer's, from its response
  uint32_t new_spi_in = 0;
  uint64_t new_spi_i = 0;
  ChildSa shape;  // create_child, rekey_child: the index and selectors asked for (no keys)
  std::optional<Collision> collision;
};

class Session {
 public:
  Session(const Endpoint& e, EstablishedSa& sa, const sockaddr_in& peer, const ServeOptions& o)
      : endpoint_(e), sa_(sa), peer_(peer), o_(o), rng_(std::random_device{}()) {}
  Status run();

 private:
  // Timers
  Clock::time_point soft(milliseconds lifetime) {
    if (lifetime.count() == 0) return Clock::time_point::max();
    std::uniform_real_distribution<double> u(0.0, o_.rekey_jitter);
    const double at = static_cast<double>(lifetime.count()) * (o_.rekey_fraction - u(rng_));
    return Clock::now() + milliseconds(static_cast<int64_t>(at));
  }
  Clock::time_point hard(milliseconds lifetime) {
    return lifetime.count() == 0 ? Clock::time_point::max() : Clock::now() + lifetime;
  }
  Clock::time_point retry_soon() {
    std::uniform_int_distribution<int> u(1000, 4000);
    return Clock::now() + milliseconds(u(rng_));
  }
  void start_child_timers(Child& c) {
    c.rekey_at = soft(o_.child_lifetime);
    c.expire_at = hard(o_.child_lifetime);
  }

  IkeSa* current() {
    for (auto& s : ikes_) {
      if (!s.dying) return &s;
    }
    return nullptr;
  }
  Child* active(uint32_t index) {
    Child* best = nullptr;
    for (auto& c : children_) {
      if (c.superseded || c.redundant || c.sa.index != index) continue;
      if (!best || (c.outbound && !best->outbound)) best = &c;
    }
    return best;
  }
  Child* child_by_out(uint32_t spi) {
    for (auto& c : children_) {
      if (c.sa.spi_out == spi) return &c;
    }
    return nullptr;
  }
  Child* child_by_in(uint32_t spi) {
    for (auto& c : children_) {
      if (c.sa.spi_in == spi) return &c;
    }
    return nullptr;
  }
  void erase_child(Child* c) {
    if (req_ && req_->child == c) req_->child = nullptr;
    children_.remove_if([c](const Child& x) { return &x == c; });
  }
  void erase_ike(IkeSa* s) {
    if (req_ && req_->on == s) req_.reset();
    ikes_.remove_if([s](const IkeSa& x) { return &x == s; });
  }
  bool ike_rekey_in_progress() const {
    return std::any_of(ikes_.begin(), ikes_.end(), [](const IkeSa& s) { return s.dying; }) ||
           (req_ && req_->kind == Kind::rekey_ike);
  }
  bool child_work_in_progress() const {
    return std::any_of(children_.begin(), children_.end(),
                       [](const Child& c) { return c.superseded || c.redundant; }) ||
           (req_ && (req_->kind == Kind::create_child || req_->kind == Kind::rekey_child ||
                     req_->kind == Kind::delete_child));
  }
  size_t live_children() const {
    return static_cast<size_t>(
        std::count_if(children_.begin(), children_.end(),
                      [](const Child& c) { return !c.superseded && !c.redundant; }));
  }
  void log_ike_keys(const IkeSa& s) {
    if (o_.key_log) (void)o_.key_log->ike_sa(s.spi_i, s.spi_r, s.keys);
  }

  void send_request(Request r, Exchange exchange, uint8_t first, const Bytes& inner) {
    IkeSa& s = *r.on;
    r.id = s.next_id++;
    const Header h{s.spi_i, s.spi_r, kSk, exchange, s.role(), r.id, 0};
    r.wire = seal_message(s.out(), h, first, inner, s.iv, sa_.fragment_size);
    (void)send_all(endpoint_, r.wire, peer_);
    r.first_sent = Clock::now();
    r.next_retransmit = r.first_sent + seconds(2);
    log::info(std::string("request sent: ") + kind_name(r.kind), {{"IKE_SPI", s.name()}, {"IKE_MESSAGE_ID", std::to_string(r.id)}});
    req_ = std::move(r);
  }

  Status start_next(Clock::time_point now);
  void start_child_rekey(Child& c);
  void start_create_child();
  void send_create_child(Request r, CreateChildSa& m, uint16_t group);
  void start_ike_rekey();
  void send_delete_child(Child& c);
  void send_delete_ike(IkeSa& s);

  // The peer's requests: the inner payloads of our response.
  std::vector<Payload> on_request(IkeSa& s, const Message& m, const std::vector<Payload>& inner, bool& deleted_current);
  std::vector<Payload> on_create_child(IkeSa& s, const std::vector<Payload>& inner);
  std::vector<Payload> on_new_child(IkeSa& s, const CreateChildSa& req);
  std::vector<Payload> answer_child(IkeSa& s, const CreateChildSa& req, ChildSa shape, Child* old);
  std::vector<Payload> on_rekey_ike(IkeSa& s, const CreateChildSa& req);
  std::vector<Payload> on_informational(IkeSa& s, const std::vector<Payload>& inner, bool& deleted_current);
  // Our requests' responses.
  void on_response(const std::vector<Payload>& inner);
  std::optional<Child> pair_from(Request& r, const std::vector<Payload>& inner,
                                 std::optional<Notify>& refusal);
  void on_create_child_response(Request& r, const std::vector<Payload>& inner);
  void on_rekey_child_response(Request& r, const std::vector<Payload>& inner);
  void on_rekey_ike_response(Request& r, const std::vector<Payload>& inner);
  void install_pending_outbound();
  void finish();

  static std::vector<Payload> refuse(uint16_t type, Bytes data = {}, uint8_t protocol = 0, Bytes spi = {}) {
    log::warning(std::string("refusing the peer's CREATE_CHILD_SA: ") + notify_name(type));
    return {{kNotify, false, encode_notify({protocol, std::move(spi), type, std::move(data)})}};
  }

  const Endpoint& endpoint_;
  EstablishedSa& sa_;
  sockaddr_in peer_;
  const ServeOptions& o_;
  std::mt19937_64 rng_;
  std::list<IkeSa> ikes_;  // the current one first after any rekey; dying ones await deletion
  std::list<Child> children_;
  std::optional<Request> req_;
  Clock::time_point ike_rekey_at = Clock::time_point::max(), ike_expire_at = Clock::time_point::max();
  uint16_t child_group_ = 0;  // the PFS group of our next CHILD_SA rekey (INVALID_KE_PAYLOAD may change it)
  uint16_t ike_group_ = 0;
  uint32_t next_index_ = 1;  // of the next new CHILD_SA
  size_t next_create_ = 0;   // the next of o_.create_children to create
  Clock::time_point create_at_{};
  IkeSa* deleted_ike_ = nullptr;  // a replaced IKE SA the peer deleted in the request being answered
  Reassembler fragments_;         // the peer's fragmented messages (when we announced fragmentation)
};

void Session::install_pending_outbound() {
  for (auto& c : children_) {
    if (!c.outbound && !c.redundant && !c.superseded) {
      if (auto st = o_.children->install_outbound(c.sa); !st) {
        log::error("installing the outbound SA " + hex32(c.sa.spi_out) + ": " + st.error().message);
      }
      c.outbound = true;
      log::info("CHILD_SA outbound SA installed", {{"ESP_SPI_OUT", hex32(c.sa.spi_out)}});
    }
  }
}

void Session::start_child_rekey(Child& c) {
  Request r;
  r.kind = Kind::rekey_child;
  r.child = &c;
  r.shape.index = c.sa.index;
  r.shape.local_ts = c.sa.local_ts;
  r.shape.remote_ts = c.sa.remote_ts;
  CreateChildSa m;
  m.rekey_spi = c.sa.spi_in;
  log::info("rekeying the CHILD_SA " + hex32(c.sa.spi_in) + "/" + hex32(c.sa.spi_out) +
            (child_group_ ? " with PFS group " + std::to_string(child_group_) : ""));
  send_create_child(std::move(r), m, child_group_);
  if (!req_ || req_->kind != Kind::rekey_child) c.rekey_at = retry_soon();
}

void Session::start_create_child() {
  Request r;
  r.kind = Kind::create_child;
  r.shape.index = next_index_++;
  r.shape.local_ts = o_.create_children[next_create_].first;
  r.shape.remote_ts = o_.create_children[next_create_].second;
  CreateChildSa m;
  log::info("creating CHILD_SA " + std::to_string(r.shape.index) +
            (child_group_ ? " with PFS group " + std::to_string(child_group_) : ""));
  send_create_child(std::move(r), m, child_group_);
  if (!req_ || req_->kind != Kind::create_child) create_at_ = retry_soon();
}

// A CREATE_CHILD_SA request for an ESP pair (new or rekey): an inbound SPI, a nonce and, with
// PFS, a KE; `r.shape` says the CHILD_SA and its selectors. Nothing is sent if a step fails.
void Session::send_create_child(Request r, CreateChildSa& m, uint16_t group) {
  r.on = current();
  auto spi = o_.children->allocate_spi(r.shape);
  if (!spi) {
    log::error(std::string(kind_name(r.kind)) +
               ": allocating an inbound SPI: " + spi.error().message);
    return;
  }
  r.new_spi_in = *spi;
  r.ni = random_bytes(32);
  m.proposals = {esp_proposal(r.new_spi_in, o_.suite, group)};
  m.nonce = r.ni;
  if (group) {
    auto dh = KeyExchange::generate(group);
    if (!dh) {
      log::error(std::string(kind_name(r.kind)) + ": " + dh.error().message);
      o_.children->remove(ChildSa{r.shape.index, r.new_spi_in, 0, {}, {}, {}, {}, {}, {}});
      return;
    }
    m.ke_group = group;
    m.ke_value = dh->public_value();
    r.dh = std::move(*dh);
  }
  m.tsi = {r.shape.local_ts};
  m.tsr = {r.shape.remote_ts};
  const auto payloads = encode_create_child(m);
  send_request(std::move(r), Exchange::create_child_sa, payloads.front().type, serialize_payloads(payloads));
}

void Session::start_ike_rekey() {
  Request r;
  r.kind = Kind::rekey_ike;
  r.on = current();
  r.new_spi_i = random_ike_spi();
  r.ni = random_bytes(32);
  auto dh = KeyExchange::generate(ike_group_);
  if (!dh) {
    log::error("IKE SA rekey: " + dh.error().message);
    ike_rekey_at = retry_soon();
    return;
  }
  CreateChildSa m;
  m.proposals = {ike_proposal(r.new_spi_i, o_.suite, ike_group_)};
  m.nonce = r.ni;
  m.ke_group = ike_group_;
  m.ke_value = dh->public_value();
  r.dh = std::move(*dh);
  const auto payloads = encode_create_child(m);
  log::info("rekeying the IKE SA " + r.on->name());
  send_request(std::move(r), Exchange::create_child_sa, payloads.front().type, serialize_payloads(payloads));
}

void Session::send_delete_child(Child& c) {
  Request r;
  r.kind = Kind::delete_child;
  r.on = current();
  r.child = &c;
  c.delete_by_us = false;
  const std::vector<Payload> p = {{kDelete, false, encode_delete({kProtocolEsp, {c.sa.spi_in}})}};
  log::info("deleting the CHILD_SA " + hex32(c.sa.spi_in) + "/" + hex32(c.sa.spi_out));
  send_request(std::move(r), Exchange::informational, kDelete, serialize_payloads(p));
}

void Session::send_delete_ike(IkeSa& s) {
  Request r;
  r.kind = Kind::delete_ike;
  r.on = &s;
  s.delete_by_us = false;
  const std::vector<Payload> p = {{kDelete, false, encode_delete({kProtocolIke, {}})}};
  log::info("deleting the IKE SA " + s.name());
  send_request(std::move(r), Exchange::informational, kDelete, serialize_payloads(p));
}

Status Session::start_next(Clock::time_point now) {
  for (auto& s : ikes_) {
    if (s.dying && s.delete_by_us) {
      send_delete_ike(s);
      return {};
    }
  }
  for (auto& c : children_) {
    if (c.delete_by_us) {
      send_delete_child(c);
      return {};
    }
  }
  if (!current()) return {};
  if (now >= ike_rekey_at && !ike_rekey_in_progress() && !child_work_in_progress()) {
    start_ike_rekey();
    return {};
  }
  if (!o_.children || ike_rekey_in_progress() || child_work_in_progress()) return {};
  for (auto& c : children_) {
    if (!c.superseded && !c.redundant && now >= c.rekey_at) {
      start_child_rekey(c);
      return {};
    }
  }
  if (next_create_ < o_.create_children.size() && now >= create_at_) start_create_child();
  return {};
}

std::vector<Payload> Session::on_create_child(IkeSa& s, const std::vector<Payload>& inner) {
  auto req = decode_create_child(inner);
  if (!req) {
    log::warning("the peer's CREATE_CHILD_SA: " + req.error().message);
    return refuse(kNotifyInvalidSyntax);
  }
  if (req->rekeys_ike()) return on_rekey_ike(s, *req);
  if (!o_.children) return refuse(kNotifyNoAdditionalSas);
  // 2.25.2: no CHILD_SA work while the IKE SA is being rekeyed.
  if (ike_rekey_in_progress()) return refuse(kNotifyTemporaryFailure);
  if (!req->rekey_spi) return on_new_child(s, *req);
  Child* old = child_by_out(*req->rekey_spi);
  if (!old || old->redundant) return refuse(kNotifyChildSaNotFound, {}, kProtocolEsp, spi_bytes(*req->rekey_spi));
  // 2.25: rekeying a pair that is being deleted.
  if (old->superseded || (req_ && req_->kind == Kind::delete_child && req_->child == old)) return refuse(kNotifyTemporaryFailure);
  const bool ts_ok = std::any_of(req->tsi.begin(), req->tsi.end(),
                                 [&](const auto& t) { return within(old->sa.remote_ts, t); }) &&
                     std::any_of(req->tsr.begin(), req->tsr.end(),
                                 [&](const auto& t) { return within(old->sa.local_ts, t); });
  if (!ts_ok) return refuse(kNotifyTsUnacceptable);
  ChildSa shape;
  shape.index = old->sa.index;
  shape.local_ts = old->sa.local_ts;
  shape.remote_ts = old->sa.remote_ts;
  return answer_child(s, *req, std::move(shape), old);
}

// 1.3.1: a CHILD_SA more, narrowed to a pair of our selectors.
std::vector<Payload> Session::on_new_child(IkeSa& s, const CreateChildSa& req) {
  if (live_children() >= o_.max_children) return refuse(kNotifyNoAdditionalSas);
  auto ts = narrowed_pair(o_, req);
  if (!ts) return refuse(kNotifyTsUnacceptable);
  ChildSa shape;
  shape.index = next_index_++;
  shape.local_ts = ts->first;
  shape.remote_ts = ts->second;
  return answer_child(s, req, std::move(shape), nullptr);
}

// The response that creates a pair of `shape` (`old`: the pair it rekeys, else a new CHILD_SA).
std::vector<Payload> Session::answer_child(IkeSa& s, const CreateChildSa& req, ChildSa shape,
                                           Child* old) {
  // The proposal: our ESP suite, with our PFS group (or, without one configured, no DH or a
  // group the peer insists on that we support).
  std::optional<Proposal> chosen;
  uint16_t group = 0;
  bool group_mismatch = false;
  for (const auto& p : req.proposals) {
    if (p.protocol != kProtocolEsp || p.spi.size() != 4) continue;
    const auto groups = groups_of(p);
    uint16_t g = 0;
    if (o_.pfs_group) {
      if (std::find(groups.begin(), groups.end(), o_.pfs_group) == groups.end()) continue;
      g = o_.pfs_group;
    } else if (!groups.empty() && std::find(groups.begin(), groups.end(), uint16_t{0}) == groups.end()) {
      if (std::find(groups.begin(), groups.end(), req.ke_group) != groups.end() &&
          supported_group(req.ke_group)) {
        g = req.ke_group;
      } else if (auto it = std::find_if(groups.begin(), groups.end(), supported_group);
                 it != groups.end()) {
        g = *it;
      } else {
        continue;
      }
    }
    auto c = choose_proposal({p}, kProtocolEsp, esp_with(o_.suite, g));
    if (!c) continue;
    if (g && req.ke_group != g) {
      group_mismatch = true;
      group = g;
      continue;
    }
    chosen = std::move(c);
    group = g;
    break;
  }
  if (!chosen && group_mismatch) return refuse(kNotifyInvalidKe, {static_cast<uint8_t>(group >> 8), static_cast<uint8_t>(group)});
  if (!chosen) return refuse(kNotifyNoProposalChosen);
  Secret g_ir;
  std::optional<KeyExchange> dh;
  if (group) {
    auto k = KeyExchange::generate(group);
    if (!k) return refuse(kNotifyTemporaryFailure);
    auto shared = k->shared_secret(req.ke_value);
    if (!shared) {
      log::warning("the peer's CREATE_CHILD_SA KE: " + shared.error().message);
      return refuse(kNotifyInvalidSyntax);
    }
    g_ir = std::move(*shared);
    dh = std::move(*k);
  }
  auto spi = o_.children->allocate_spi(shape);
  if (!spi) {
    log::error("allocating an inbound SPI: " + spi.error().message);
    return refuse(kNotifyTemporaryFailure);
  }
  const Bytes nr = random_bytes(32);
  ChildKeys keys = derive_rekeyed_child_keys(o_.suite, s.keys.sk_d, g_ir.bytes(), req.nonce, nr);
  Child fresh;
  fresh.sa = keyed_pair(std::move(keys), false);
  fresh.sa.index = shape.index;
  fresh.sa.spi_in = *spi;
  fresh.sa.spi_out = spi_of(chosen->spi);
  fresh.sa.local_ts = shape.local_ts;
  fresh.sa.remote_ts = shape.remote_ts;
  if (auto st = o_.children->install_inbound(fresh.sa); !st) {
    log::error("installing the inbound SA " + hex32(*spi) + ": " + st.error().message);
    o_.children->remove(ChildSa{shape.index, *spi, 0, {}, {}, {}, {}, {}, {}});
    return refuse(kNotifyTemporaryFailure);
  }
  Proposal reply = *chosen;
  reply.spi = spi_bytes(*spi);
  CreateChildSa resp;
  resp.proposals = {reply};
  resp.nonce = nr;
  if (dh) {
    resp.ke_group = group;
    resp.ke_value = dh->public_value();
  }
  resp.tsi = {shape.remote_ts};
  resp.tsr = {shape.local_ts};
  start_child_timers(fresh);
  if (!old) {
    // A new CHILD_SA: nothing to fall back on, so its outbound SA and policies go in at once.
    Status st = o_.children->install_outbound(fresh.sa);
    if (st) st = o_.children->install_policies(fresh.sa);
    if (!st) {
      log::error("installing the new CHILD_SA " + hex32(*spi) + ": " + st.error().message);
      o_.children->remove(fresh.sa);
      o_.children->remove_policies(fresh.sa);
      return refuse(kNotifyTemporaryFailure);
    }
    fresh.outbound = true;
    log::info("the peer created CHILD_SA " + std::to_string(shape.index) + " " +
                  hex32(fresh.sa.spi_in) + "/" + hex32(fresh.sa.spi_out) +
                  (group ? " (PFS group " + std::to_string(group) + ")" : ""),
              {{"ESP_SPI_IN", hex32(fresh.sa.spi_in)}, {"ESP_SPI_OUT", hex32(fresh.sa.spi_out)}});
    children_.push_back(std::move(fresh));
    return encode_create_child(resp);
  }
  // The initiator of the rekey deletes the old pair; our outbound SA goes in then (the peer
  // has its inbound SA by that time), or after a few seconds at the latest.
  fresh.outbound_by = Clock::now() + seconds(5);
  if (req_ && req_->kind == Kind::rekey_child && req_->child == old) {
    log::info("CHILD_SA rekey collision: the peer rekeys " + hex32(old->sa.spi_in) + " too (RFC 7296 2.8.1)");
    req_->collision = Collision{req.nonce, nr, *spi, nullptr};
  }
  old->superseded = true;
  log::info("the peer rekeyed the CHILD_SA " + hex32(old->sa.spi_in) + "/" +
                hex32(old->sa.spi_out) + ": new " + hex32(fresh.sa.spi_in) + "/" +
                hex32(fresh.sa.spi_out) +
                (group ? " (PFS group " + std::to_string(group) + ")" : ""),
            {{"ESP_SPI_IN", hex32(fresh.sa.spi_in)}, {"ESP_SPI_OUT", hex32(fresh.sa.spi_out)}});
  children_.push_back(std::move(fresh));
  return encode_create_child(resp);
}

std::vector<Payload> Session::on_rekey_ike(IkeSa& s, const CreateChildSa& req) {
  // 2.25.2: not while a CHILD_SA is being created, rekeyed or deleted.
  if (child_work_in_progress() || s.dying || std::any_of(ikes_.begin(), ikes_.end(), [](const IkeSa& x) { return x.dying; })) {
    return refuse(kNotifyTemporaryFailure);
  }
  const Suite& su = o_.suite;
  const Proposal* chosen = nullptr;
  bool group_mismatch = false;
  for (const auto& p : req.proposals) {
    if (p.protocol != kProtocolIke || p.spi.size() != 8 || !choose_proposal({p}, kProtocolIke, ike_transforms(su))) continue;
    if (req.ke_group != su.dh_group) {
      group_mismatch = true;
      continue;
    }
    chosen = &p;
    break;
  }
  if (!chosen && group_mismatch) return refuse(kNotifyInvalidKe, {static_cast<uint8_t>(su.dh_group >> 8), static_cast<uint8_t>(su.dh_group)});
  if (!chosen) return refuse(kNotifyNoProposalChosen);
  auto dh = KeyExchange::generate(su.dh_group);
  if (!dh) return refuse(kNotifyTemporaryFailure);
  auto g_ir = dh->shared_secret(req.ke_value);
  if (!g_ir) {
    log::warning("the peer's IKE SA rekey KE: " + g_ir.error().message);
    return refuse(kNotifyInvalidSyntax);
  }
  const Bytes nr = random_bytes(32);
  IkeSa fresh;
  fresh.initiator = false;
  fresh.spi_i = spi64_of(chosen->spi);
  fresh.spi_r = random_ike_spi();
  fresh.keys = derive_rekeyed_ike_keys(su, s.keys.sk_d, g_ir->bytes(), req.nonce, nr, fresh.spi_i, fresh.spi_r);
  log_ike_keys(fresh);
  fresh.next_id = 0;
  Proposal reply = ike_proposal(fresh.spi_r, su, su.dh_group);
  reply.number = chosen->number;
  CreateChildSa resp;
  resp.proposals = {reply};
  resp.nonce = nr;
  resp.ke_group = su.dh_group;
  resp.ke_value = dh->public_value();
  const bool collision = req_ && req_->kind == Kind::rekey_ike && req_->on == &s;
  log::info("the peer rekeyed the IKE SA " + s.name() + ": new " + fresh.name() + (collision ? " (collision with ours, RFC 7296 2.8.2)" : ""),
            {{"IKE_SPI", fresh.name()}});
  if (collision) {
    fresh.dying = true;  // until our own exchange completes and the nonces decide
    ikes_.push_back(std::move(fresh));
    req_->collision = Collision{req.nonce, nr, 0, &ikes_.back()};
  } else {
    s.dying = true;  // the peer deletes it
    ikes_.push_front(std::move(fresh));
    ike_rekey_at = soft(o_.ike_lifetime);
    ike_expire_at = hard(o_.ike_lifetime);
  }
  return encode_create_child(resp);
}

std::vector<Payload> Session::on_informational(IkeSa& s, const std::vector<Payload>& inner, bool& deleted_current) {
  std::vector<uint32_t> ours;
  for (const auto& p : inner) {
    if (p.type != kDelete) continue;
    auto d = decode_delete(p.body);
    if (!d) {
      log::warning("the peer's Delete: " + d.error().message);
      continue;
    }
    if (d->protocol == kProtocolIke) {
      if (s.dying) {
        log::info("the peer deleted the old IKE SA " + s.name());
        s.delete_by_us = false;
        deleted_ike_ = &s;
      } else {
        deleted_current = true;
      }
      return {};
    }
    if (d->protocol != kProtocolEsp) continue;
    for (uint32_t spi : d->spis) {
      Child* c = child_by_out(spi);
      if (!c) continue;
      // The new pair's outbound SA first, then the old pair goes (make-before-break).
      install_pending_outbound();
      const bool deleting_too = req_ && req_->kind == Kind::delete_child && req_->child == c;
      if (!deleting_too) ours.push_back(c->sa.spi_in);
      log::info("the peer deleted the CHILD_SA " + hex32(c->sa.spi_in) + "/" + hex32(c->sa.spi_out));
      if (o_.children) {
        o_.children->remove(c->sa);
        // Not a rekey's old pair: that CHILD_SA ends, and its policies go with it.
        if (!c->superseded && !c->redundant) o_.children->remove_policies(c->sa);
      }
      erase_child(c);
    }
  }
  if (ours.empty()) return {};
  return {{kDelete, false, encode_delete({kProtocolEsp, ours})}};
}

std::vector<Payload> Session::on_request(IkeSa& s, const Message& m, const std::vector<Payload>& inner, bool& deleted_current) {
  switch (m.header.exchange) {
    case Exchange::create_child_sa: return on_create_child(s, inner);
    case Exchange::informational: return on_informational(s, inner, deleted_current);
    default: return {};
  }
}

// The pair our CREATE_CHILD_SA created, keyed but not installed; nothing (logged) when the peer
// refused (`refusal`: its notify) or answered what was not offered.
std::optional<Child> Session::pair_from(Request& r, const std::vector<Payload>& inner,
                                        std::optional<Notify>& refusal) {
  auto resp = decode_create_child(inner);
  if (!resp || resp->error) {
    if (resp) refusal = resp->error;
    log::warning(std::string(kind_name(r.kind)) +
                 " refused: " + (resp ? notify_name(refusal->type) : resp.error().message));
    return std::nullopt;
  }
  const Proposal& p = resp->proposals.front();
  const auto groups = groups_of(p);
  const uint16_t group = groups.empty() ? 0 : groups.front();
  if (resp->proposals.size() != 1 || p.protocol != kProtocolEsp || p.spi.size() != 4 ||
      !choose_proposal(resp->proposals, kProtocolEsp, esp_with(o_.suite, child_group_)) ||
      group != child_group_ || (group && resp->ke_group != group) || resp->tsi.empty() ||
      !within(resp->tsi.front(), r.shape.local_ts) ||
      !within(resp->tsr.front(), r.shape.remote_ts)) {
    log::error(std::string(kind_name(r.kind)) + ": the peer chose what was not offered");
    return std::nullopt;
  }
  Secret g_ir;
  if (group) {
    auto shared = r.dh->shared_secret(resp->ke_value);
    if (!shared) {
      log::error(std::string(kind_name(r.kind)) + ": " + shared.error().message);
      return std::nullopt;
    }
    g_ir = std::move(*shared);
  }
  Child fresh;
  fresh.sa = keyed_pair(
      derive_rekeyed_child_keys(o_.suite, r.on->keys.sk_d, g_ir.bytes(), r.ni, resp->nonce), true);
  fresh.sa.index = r.shape.index;
  fresh.sa.spi_in = r.new_spi_in;
  fresh.sa.spi_out = spi_of(p.spi);
  fresh.sa.local_ts = resp->tsi.front();
  fresh.sa.remote_ts = resp->tsr.front();
  start_child_timers(fresh);
  r.nr = resp->nonce;
  return fresh;
}

void Session::on_create_child_response(Request& r, const std::vector<Payload>& inner) {
  std::optional<Notify> refusal;
  auto fresh = pair_from(r, inner, refusal);
  Status st = fresh ? o_.children->install_inbound(fresh->sa) : Status(Error{"refused"});
  if (st) st = o_.children->install_outbound(fresh->sa);
  if (st) st = o_.children->install_policies(fresh->sa);
  if (!st) {
    if (fresh) {
      log::error("installing CHILD_SA " + std::to_string(r.shape.index) + ": " +
                 st.error().message);
      o_.children->remove(fresh->sa);
      o_.children->remove_policies(fresh->sa);
    } else {
      o_.children->remove(ChildSa{r.shape.index, r.new_spi_in, 0, {}, {}, {}, {}, {}, {}});
    }
    // Asked for another PFS group, or busy: again soon; else this CHILD_SA is given up.
    if (take_group(refusal, child_group_) ||
        (refusal && refusal->type == kNotifyTemporaryFailure)) {
      create_at_ = retry_soon();
    } else {
      log::error("CHILD_SA " + std::to_string(r.shape.index) + " could not be created; given up");
      ++next_create_;
    }
    return;
  }
  fresh->outbound = true;
  log::info("created CHILD_SA " + std::to_string(r.shape.index) + " " + hex32(fresh->sa.spi_in) +
                "/" + hex32(fresh->sa.spi_out),
            {{"ESP_SPI_IN", hex32(fresh->sa.spi_in)}, {"ESP_SPI_OUT", hex32(fresh->sa.spi_out)}});
  children_.push_back(std::move(*fresh));
  ++next_create_;
}

void Session::on_rekey_child_response(Request& r, const std::vector<Payload>& inner) {
  Child* old = r.child;
  auto give_back = [&] {
    o_.children->remove(ChildSa{r.shape.index, r.new_spi_in, 0, {}, {}, {}, {}, {}, {}});
  };
  std::optional<Notify> refusal;
  auto got = old ? pair_from(r, inner, refusal) : std::nullopt;
  if (!got) {
    give_back();
    if (!old) return;
    if (take_group(refusal, child_group_)) {
      log::info("the peer asks for PFS group " + std::to_string(child_group_) +
                " (INVALID_KE_PAYLOAD): rekeying with it");
      old->rekey_at = Clock::now();
      return;
    }
    old->rekey_at = refusal && refusal->type == kNotifyTemporaryFailure
                        ? retry_soon()
                        : Clock::now() + seconds(10);
    return;
  }
  Child fresh = std::move(*got);
  const uint16_t group = child_group_;
  bool redundant = false;
  if (r.collision) {
    // 2.8.1: the pair created with the lowest of the four nonces goes, deleted by its creator.
    redundant = lowest_nonce_in(r.ni, r.nr, r.collision->ni, r.collision->nr);
    Child* theirs = child_by_in(r.collision->child_spi_in);
    log::info(std::string("CHILD_SA rekey collision ") + (redundant ? "lost: ours is deleted, the peer's kept" : "won: the peer's is deleted, ours kept"));
    if (!redundant && theirs) theirs->redundant = true;  // the peer deletes it
  }
  if (auto st = o_.children->install_inbound(fresh.sa); !st) {
    log::error("installing the inbound SA " + hex32(fresh.sa.spi_in) + ": " + st.error().message);
    give_back();
    old->rekey_at = Clock::now() + seconds(10);
    return;
  }
  if (redundant) {
    fresh.redundant = true;
    fresh.delete_by_us = true;
    old->superseded = true;  // the peer deletes it
  } else {
    if (auto st = o_.children->install_outbound(fresh.sa); !st) log::error("installing the outbound SA: " + st.error().message);
    fresh.outbound = true;
    old->superseded = true;
    old->delete_by_us = true;
  }
  log::info("rekeyed the CHILD_SA " + hex32(old->sa.spi_in) + "/" + hex32(old->sa.spi_out) + ": new " + hex32(fresh.sa.spi_in) + "/" +
                hex32(fresh.sa.spi_out) + (group ? " (PFS group " + std::to_string(group) + ")" : ""),
            {{"ESP_SPI_IN", hex32(fresh.sa.spi_in)}, {"ESP_SPI_OUT", hex32(fresh.sa.spi_out)}});
  children_.push_back(std::move(fresh));
}

void Session::on_rekey_ike_response(Request& r, const std::vector<Payload>& inner) {
  IkeSa* old = r.on;
  auto resp = decode_create_child(inner);
  const Proposal* p = resp && !resp->error ? &resp->proposals.front() : nullptr;
  if (!p || resp->proposals.size() != 1 || !resp->rekeys_ike() || !same_transforms(p->transforms, ike_with(o_.suite, ike_group_)) ||
      resp->ke_group != ike_group_) {
    const uint16_t type = resp && resp->error ? resp->error->type : 0;
    if (type == kNotifyInvalidKe && resp->error->data.size() == 2) {
      const uint16_t g = get16(resp->error->data, 0);
      if (supported_group(g) && g != ike_group_) {
        ike_group_ = g;
        ike_rekey_at = Clock::now();
        return;
      }
    }
    log::warning(std::string("IKE SA rekey refused or malformed: ") + (type ? notify_name(type) : "unexpected response") + "; retrying");
    ike_rekey_at = type == kNotifyTemporaryFailure ? retry_soon() : Clock::now() + seconds(10);
    return;
  }
  auto g_ir = r.dh->shared_secret(resp->ke_value);
  if (!g_ir) {
    log::error("IKE SA rekey: " + g_ir.error().message);
    ike_rekey_at = Clock::now() + seconds(10);
    return;
  }
  IkeSa fresh;
  fresh.initiator = true;
  fresh.spi_i = r.new_spi_i;
  fresh.spi_r = spi64_of(p->spi);
  fresh.keys = derive_rekeyed_ike_keys(o_.suite, old->keys.sk_d, g_ir->bytes(), r.ni, resp->nonce, fresh.spi_i, fresh.spi_r);
  log_ike_keys(fresh);
  fresh.next_id = 0;
  const std::string old_name = old->name();
  bool redundant = false;
  if (r.collision && r.collision->ike) {
    redundant = lowest_nonce_in(r.ni, resp->nonce, r.collision->ni, r.collision->nr);
    IkeSa* theirs = r.collision->ike;
    log::info(std::string("IKE SA rekey collision ") + (redundant ? "lost: ours is deleted, the peer's kept" : "won: the peer's is deleted, ours kept"));
    if (redundant) {
      theirs->dying = false;  // the current IKE SA from now on; the peer deletes the old one
      ikes_.splice(ikes_.begin(), ikes_, std::find_if(ikes_.begin(), ikes_.end(), [&](const IkeSa& x) { return &x == theirs; }));
    }
  }
  old->dying = true;
  if (redundant) {
    fresh.dying = true;
    fresh.delete_by_us = true;
    ikes_.push_back(std::move(fresh));
  } else {
    old->delete_by_us = true;
    ikes_.push_front(std::move(fresh));
  }
  log::info("rekeyed the IKE SA " + old_name + ": new " + current()->name(), {{"IKE_SPI", current()->name()}});
  ike_rekey_at = soft(o_.ike_lifetime);
  ike_expire_at = hard(o_.ike_lifetime);
}

void Session::on_response(const std::vector<Payload>& inner) {
  Request r = std::move(*req_);
  req_.reset();
  switch (r.kind) {
    case Kind::liveness: break;
    case Kind::create_child:
      on_create_child_response(r, inner);
      break;
    case Kind::rekey_child: on_rekey_child_response(r, inner); break;
    case Kind::rekey_ike: on_rekey_ike_response(r, inner); break;
    case Kind::delete_child:
      if (r.child) {
        log::info("the CHILD_SA " + hex32(r.child->sa.spi_in) + "/" + hex32(r.child->sa.spi_out) + " is deleted");
        install_pending_outbound();
        o_.children->remove(r.child->sa);
        erase_child(r.child);
      }
      break;
    case Kind::delete_ike:
      log::info("the old IKE SA " + r.on->name() + " is deleted");
      erase_ike(r.on);
      break;
  }
}

void Session::finish() {
  // What the caller sees: the current IKE SA and first CHILD_SA; other pairs are removed here,
  // and the policies of other CHILD_SAs.
  Child* keep = active(0);
  if (o_.children) {
    for (auto& c : children_) {
      if (&c == keep) continue;
      o_.children->remove(c.sa);
      if (c.sa.index != 0 && !c.superseded && !c.redundant) o_.children->remove_policies(c.sa);
    }
  }
  if (IkeSa* s = current()) {
    sa_.initiator = s->initiator;
    sa_.spi_i = s->spi_i;
    sa_.spi_r = s->spi_r;
    sa_.keys = std::move(s->keys);
    sa_.next_message_id = s->next_id;
    sa_.iv_counter = s->iv;
  }
  if (keep) {
    sa_.child_spi_in = keep->sa.spi_in;
    sa_.child_spi_out = keep->sa.spi_out;
    const ChildSa& k = keep->sa;
    const bool i = sa_.initiator;
    sa_.child_keys = {(i ? k.key_out : k.key_in).clone(), (i ? k.key_in : k.key_out).clone(),
                      (i ? k.integ_out : k.integ_in).clone(), (i ? k.integ_in : k.integ_out).clone()};
    sa_.local_ts = keep->sa.local_ts;
    sa_.remote_ts = keep->sa.remote_ts;
  }
}

Status Session::run() {
  const auto start = Clock::now();
  {
    IkeSa s;
    s.initiator = sa_.initiator;
    s.spi_i = sa_.spi_i;
    s.spi_r = sa_.spi_r;
    s.keys = std::move(sa_.keys);  // back in finish()
    s.next_id = sa_.next_message_id;
    s.iv = sa_.iv_counter;
    ikes_.push_back(std::move(s));
    Child c;
    c.sa = first_child(sa_);
    c.outbound = true;
    start_child_timers(c);
    children_.push_back(std::move(c));
  }
  child_group_ = o_.pfs_group;
  ike_group_ = o_.suite.dh_group;
  ike_rekey_at = soft(o_.ike_lifetime);
  ike_expire_at = hard(o_.ike_lifetime);
  auto next_keepalive = start + o_.keepalive;
  auto last_heard = start;
  auto fail = [&](Error e) {
    finish();
    return e;
  };
  for (;;) {
    const auto now = Clock::now();
    if (o_.duration.count() > 0 && now >= start + o_.duration) {
      finish();
      return {};
    }
    if (sa_.behind_nat && now >= next_keepalive) {
      (void)endpoint_.send_keepalive(peer_);
      next_keepalive = now + o_.keepalive;
    }
    if (now >= ike_expire_at) return fail(Error{"the IKE SA's lifetime ran out before it could be rekeyed", ETIMEDOUT});
    for (const auto& c : children_) {
      if (!c.superseded && !c.redundant && now >= c.expire_at) {
        return fail(Error{"CHILD_SA " + std::to_string(c.sa.index) +
                              "'s lifetime ran out before it could be rekeyed",
                          ETIMEDOUT});
      }
    }
    for (auto& c : children_) {
      if (!c.outbound && !c.redundant && !c.superseded && now >= c.outbound_by) install_pending_outbound();
    }
    if (req_) {
      if (now >= req_->first_sent + o_.dpd_timeout) {
        return fail(Error{"the peer " + to_string(peer_) + " is dead: no answer to a " + kind_name(req_->kind) + " for " +
                              std::to_string(o_.dpd_timeout.count()) + " s",
                          ETIMEDOUT});
      }
      if (now >= req_->next_retransmit) {
        (void)send_all(endpoint_, req_->wire, peer_);
        req_->next_retransmit = now + seconds(2);
      }
    } else {
      if (auto st = start_next(now); !st) return fail(st.error());
      if (!req_ && o_.dpd_interval.count() > 0 && now >= last_heard + o_.dpd_interval && current()) {
        Request r;
        r.kind = Kind::liveness;
        r.on = current();
        send_request(std::move(r), Exchange::informational, kNoNext, {});
      }
    }
    // Sleep until the next timer (at most a second).
    auto wake = now + seconds(1);
    if (sa_.behind_nat) wake = std::min(wake, next_keepalive);
    if (req_) wake = std::min(wake, req_->next_retransmit);
    wake = std::min(wake, ike_rekey_at);
    if (next_create_ < o_.create_children.size()) wake = std::min(wake, create_at_);
    for (const auto& c : children_) {
      wake = std::min(wake, c.rekey_at);
      if (!c.outbound) wake = std::min(wake, c.outbound_by);
    }
    const int wait_ms = static_cast<int>(std::clamp<int64_t>(
        std::chrono::duration_cast<milliseconds>(wake - Clock::now()).count() + 1, 0, 1000));
    sockaddr_in from{};
    auto got = endpoint_.receive(wait_ms, from);
    if (!got) return fail(got.error());
    if (got->empty()) continue;
    auto m = parse(*got);
    if (!m) continue;
    auto s_it = std::find_if(ikes_.begin(), ikes_.end(),
                             [&](const IkeSa& x) { return x.spi_i == m->header.spi_i && x.spi_r == m->header.spi_r; });
    if (s_it == ikes_.end()) continue;
    IkeSa& s = *s_it;
    auto inner = sa_.fragmentation ? fragments_.open(s.in(), *m, *got) : open(s.in(), *m, *got);
    if (!inner) {
      if (inner.error().code != EINPROGRESS) log::warning("dropped a message that does not decrypt: " + inner.error().message);
      continue;
    }
    last_heard = Clock::now();
    if (m->header.flags & kFlagResponse) {
      if (req_ && req_->on == &s && m->header.message_id == req_->id) on_response(*inner);
      continue;
    }
    if (s.answered && *s.answered == m->header.message_id) {
      (void)send_all(endpoint_, s.answer, peer_);  // the peer retransmitted: the same response again
      continue;
    }
    bool deleted_current = false;
    deleted_ike_ = nullptr;
    const std::vector<Payload> out = on_request(s, *m, *inner, deleted_current);
    const Header rh{s.spi_i, s.spi_r, kSk, m->header.exchange, static_cast<uint8_t>(kFlagResponse | s.role()), m->header.message_id, 0};
    s.answer = seal_message(s.out(), rh, out.empty() ? kNoNext : out.front().type, serialize_payloads(out), s.iv, sa_.fragment_size);
    s.answered = m->header.message_id;
    (void)send_all(endpoint_, s.answer, peer_);
    if (m->header.exchange == Exchange::informational && out.empty()) {
      log::info("answered the peer's INFORMATIONAL request", {{"IKE_MESSAGE_ID", std::to_string(m->header.message_id)}});
    }
    if (deleted_ike_) erase_ike(deleted_ike_);
    if (deleted_current) return fail(Error{"the peer deleted the IKE SA", ECONNRESET});
  }
}

}  // namespace

Status serve(const Endpoint& endpoint, EstablishedSa& sa, const sockaddr_in& peer, const ServeOptions& options) {
  Session session(endpoint, sa, peer, options);
  return session.run();
}

}  // namespace sedge::ike

// CREATE_CHILD_SA for ESP (RFC 7296 1.3.1, 1.3.3, 2.8): a new CHILD_SA, or the rekey of one,
// with PFS when configured, in both roles; simultaneous rekeys of the same CHILD_SA are settled
// by the nonces (2.8.1). Rekeys are make-before-break: the new pair's inbound SA first, its
// outbound SA when the peer can receive on it, then the old pair goes.
#include <algorithm>

#include "common/log.h"
#include "common/message_ids.h"
#include "ike/rekey.h"
#include "ike/tasks/task.h"

namespace sedge::ike {
namespace {

Child* child_by(IkeSa& sa, uint32_t spi, bool inbound) {
  for (auto& c : sa.child_list()) {
    if ((inbound ? c.sa.spi_in : c.sa.spi_out) == spi) return &c;
  }
  return nullptr;
}

std::vector<uint16_t> groups_of(const Proposal& p) {
  std::vector<uint16_t> out;
  for (const auto& t : p.transforms) {
    if (t.type == kTransformDh) out.push_back(t.id);
  }
  return out;
}

// What we answered while our rekey of the same CHILD_SA was outstanding (2.8.1).
struct Collision {
  Bytes ni, nr;
  uint32_t spi_in = 0;  // of the pair the peer's exchange created
};

// Our CREATE_CHILD_SA for an ESP pair: a new CHILD_SA (`rekeyed` 0) or the rekey of the pair
// whose inbound SPI is `rekeyed`.
class ChildCreate : public Task {
 public:
  ChildCreate(SelectorPair selectors, uint32_t rekeyed) : selectors_(std::move(selectors)), rekeyed_(rekeyed) {}
  TaskKind kind() const override { return rekeyed_ ? TaskKind::child_rekey : TaskKind::child_create; }
  const char* name() const override { return rekeyed_ ? "CHILD_SA rekey" : "new CHILD_SA"; }
  uint32_t rekeyed() const { return rekeyed_; }
  void collided(Collision c) { collision_ = std::move(c); }

  std::optional<Request> build(IkeSa& sa, Time now) override {
    group_ = sa.child_group;
    CreateChildSa m;
    if (rekeyed_) {
      Child* old = child_by(sa, rekeyed_, true);
      if (!old || !old->live()) return std::nullopt;
      index_ = old->sa.index;
      selectors_ = {old->sa.local_ts, old->sa.remote_ts};
      m.rekey_spi = old->sa.spi_in;
      log::info("rekeying the CHILD_SA " + hex32(old->sa.spi_in) + "/" + hex32(old->sa.spi_out) +
                (group_ ? " with PFS group " + std::to_string(group_) : ""));
    } else {
      index_ = sa.next_index++;
      log::info("creating CHILD_SA " + std::to_string(index_) + (group_ ? " with PFS group " + std::to_string(group_) : ""));
    }
    shape_ = child_shape(sa, index_, selectors_.first, selectors_.second);
    auto spi = sa.env().children->allocate_spi(shape_);
    if (!spi) {
      log::error(std::string(name()) + ": allocating an inbound SPI: " + spi.error().message);
      retry_later(sa, now, false);
      return std::nullopt;
    }
    shape_.spi_in = *spi;
    ni_ = random_bytes(32);
    m.proposals = {esp_proposal(shape_.spi_in, sa.config().suite, group_)};
    m.nonce = ni_;
    if (group_) {
      auto dh = KeyExchange::generate(group_);
      if (!dh) {
        log::error(std::string(name()) + ": " + dh.error().message);
        sa.env().children->remove(shape_);
        retry_later(sa, now, false);
        return std::nullopt;
      }
      m.ke_group = group_;
      m.ke_value = dh->public_value();
      dh_ = std::move(*dh);
    }
    m.tsi = {selectors_.first};
    m.tsr = {selectors_.second};
    on_ = sa.current_generation();
    return Request{on_, Exchange::create_child_sa, encode_create_child(m)};
  }

  Next process(IkeSa& sa, const Message& /*m*/, std::span<const uint8_t> /*wire*/, const std::vector<Payload>& inner,
               Time now) override {
    std::optional<Notify> refusal;
    auto fresh = pair_from(sa, inner, refusal, now);
    if (!fresh) {
      sa.env().children->remove(shape_);
      const bool asked_group = take_group(refusal, sa.child_group);
      if (asked_group) {
        log::info("the peer asks for PFS group " + std::to_string(sa.child_group) + " (INVALID_KE_PAYLOAD): again with it");
      }
      retry_later(sa, now, asked_group || (refusal && refusal->type == kNotifyTemporaryFailure));
      return Next::done;
    }
    if (rekeyed_) {
      finish_rekey(sa, std::move(*fresh), now);
    } else {
      finish_new(sa, std::move(*fresh));
    }
    return Next::done;
  }

  void abort(IkeSa& sa) override {
    if (shape_.spi_in) sa.env().children->remove(shape_);
  }

 private:
  // After a failure: a rekey again soon (or at once for another group), a new CHILD_SA again
  // soon when the peer was busy or asked for another group, else it is given up.
  void retry_later(IkeSa& sa, Time now, bool soon) {
    if (rekeyed_) {
      if (Child* old = child_by(sa, rekeyed_, true)) old->rekey_at = soon ? sa.retry_soon(now) : now + std::chrono::seconds(10);
      return;
    }
    if (soon) {
      --sa.next_index;
      sa.create_at = sa.retry_soon(now);
    } else {
      log::error("CHILD_SA " + std::to_string(index_) + " could not be created; given up");
      ++sa.next_create;
      sa.create_at = now;
    }
  }

  // The pair our request created, keyed but not installed; nothing (logged) when the peer
  // refused (`refusal`: its notify) or answered what was not offered.
  std::optional<Child> pair_from(IkeSa& sa, const std::vector<Payload>& inner, std::optional<Notify>& refusal, Time now) {
    auto resp = decode_create_child(inner);
    if (!resp || resp->error) {
      if (resp) refusal = resp->error;
      const std::string why = std::string(name()) + " refused: " + (resp ? notify_name(refusal->type) : resp.error().message);
      if (rekeyed_) log::warning(log::kRekeyFailed, why);
      else log::warning(why);
      return std::nullopt;
    }
    const Suite& suite = sa.config().suite;
    const Proposal& p = resp->proposals.front();
    const auto groups = groups_of(p);
    const uint16_t group = groups.empty() ? 0 : groups.front();
    if (resp->proposals.size() != 1 || p.protocol != kProtocolEsp || p.spi.size() != 4 ||
        !choose_proposal(resp->proposals, kProtocolEsp, esp_with(suite, group_)) || group != group_ ||
        (group && resp->ke_group != group) || resp->tsi.empty() || resp->tsr.empty() ||
        !selectors_.first.contains(resp->tsi.front()) || !selectors_.second.contains(resp->tsr.front())) {
      log::error(std::string(name()) + ": the peer chose what was not offered");
      return std::nullopt;
    }
    Secret g_ir;
    if (group) {
      auto shared = dh_->shared_secret(resp->ke_value);
      if (!shared) {
        log::error(std::string(name()) + ": " + shared.error().message);
        return std::nullopt;
      }
      g_ir = std::move(*shared);
    }
    Child fresh;
    fresh.sa = keyed_pair(derive_rekeyed_child_keys(suite, on_->keys.sk_d, g_ir.bytes(), ni_, resp->nonce), true,
                          child_shape(sa, index_, resp->tsi.front(), resp->tsr.front()), shape_.spi_in, get32(p.spi, 0));
    sa.start_child_timers(fresh, now);
    nr_ = resp->nonce;
    return fresh;
  }

  void finish_new(IkeSa& sa, Child fresh) {
    ChildSaHandler& k = *sa.env().children;
    Status st = k.install_inbound(fresh.sa);
    if (st) st = k.install_outbound(fresh.sa);
    if (st) st = k.install_policies(fresh.sa);
    ++sa.next_create;
    sa.create_at = Time{};
    if (!st) {
      log::error("installing CHILD_SA " + std::to_string(index_) + ": " + st.error().message);
      k.remove(fresh.sa.shape());
      k.remove_policies(fresh.sa.shape());
      return;
    }
    fresh.outbound = true;
    log::info("created CHILD_SA " + std::to_string(index_) + " " + hex32(fresh.sa.spi_in) + "/" + hex32(fresh.sa.spi_out),
              {{"ESP_SPI_IN", hex32(fresh.sa.spi_in)}, {"ESP_SPI_OUT", hex32(fresh.sa.spi_out)}});
    sa.emit(SaEventKind::child_up, "CHILD_SA " + std::to_string(index_) + " up", index_);
    sa.child_list().push_back(std::move(fresh));
  }

  void finish_rekey(IkeSa& sa, Child fresh, Time now) {
    ChildSaHandler& k = *sa.env().children;
    Child* old = child_by(sa, rekeyed_, true);
    if (!old) {
      k.remove(fresh.sa.shape());
      return;
    }
    bool redundant = false;
    if (collision_) {
      // 2.8.1: the pair created with the lowest of the four nonces goes, deleted by its creator.
      redundant = lowest_nonce_in(ni_, nr_, collision_->ni, collision_->nr);
      Child* theirs = child_by(sa, collision_->spi_in, true);
      log::info(std::string("CHILD_SA rekey collision ") +
                (redundant ? "lost: ours is deleted, the peer's kept" : "won: the peer's is deleted, ours kept"));
      if (!redundant && theirs) theirs->redundant = true;  // the peer deletes it
    }
    if (auto st = k.install_inbound(fresh.sa); !st) {
      log::error("installing the inbound SA " + hex32(fresh.sa.spi_in) + ": " + st.error().message);
      k.remove(fresh.sa.shape());
      old->rekey_at = now + std::chrono::seconds(10);
      return;
    }
    if (redundant) {
      fresh.redundant = true;
      fresh.delete_by_us = true;
      old->superseded = true;  // the peer deletes it
    } else {
      if (auto st = k.install_outbound(fresh.sa); !st) log::error("installing the outbound SA: " + st.error().message);
      fresh.outbound = true;
      old->superseded = true;
      old->delete_by_us = true;
    }
    log::info("rekeyed the CHILD_SA " + hex32(old->sa.spi_in) + "/" + hex32(old->sa.spi_out) + ": new " + hex32(fresh.sa.spi_in) + "/" +
                  hex32(fresh.sa.spi_out) + (group_ ? " (PFS group " + std::to_string(group_) + ")" : ""),
              {{"ESP_SPI_IN", hex32(fresh.sa.spi_in)}, {"ESP_SPI_OUT", hex32(fresh.sa.spi_out)}});
    sa.emit(SaEventKind::child_rekeyed, "CHILD_SA " + std::to_string(index_) + " rekeyed", index_);
    sa.child_list().push_back(std::move(fresh));
  }

  SelectorPair selectors_;
  uint32_t rekeyed_ = 0;
  uint32_t index_ = 0;
  uint16_t group_ = 0;
  ChildSa shape_;  // the new pair's inbound SPI, once allocated
  Generation* on_ = nullptr;  // the IKE SA it runs on, whose SK_d keys the pair (close() may have made it dying)
  std::optional<KeyExchange> dh_;
  Bytes ni_, nr_;
  std::optional<Collision> collision_;
};

// The ESP proposal we take from the peer's offer: our suite, with our PFS group (or, without one
// configured, no DH or a group the peer insists on that we support); `mismatch` set when only
// another KE group keeps us from taking one (INVALID_KE_PAYLOAD with `group`).
std::optional<Proposal> choose_child_proposal(const SaConfig& c, const CreateChildSa& req, uint16_t& group, bool& mismatch) {
  for (const auto& p : req.proposals) {
    if (p.protocol != kProtocolEsp || p.spi.size() != 4) continue;
    const auto groups = groups_of(p);
    uint16_t g = 0;
    if (c.pfs_group) {
      if (std::find(groups.begin(), groups.end(), c.pfs_group) == groups.end()) continue;
      g = c.pfs_group;
    } else if (!groups.empty() && std::find(groups.begin(), groups.end(), uint16_t{0}) == groups.end()) {
      if (std::find(groups.begin(), groups.end(), req.ke_group) != groups.end() && KeyExchange::supported(req.ke_group)) {
        g = req.ke_group;
      } else if (auto it = std::find_if(groups.begin(), groups.end(), KeyExchange::supported); it != groups.end()) {
        g = *it;
      } else {
        continue;
      }
    }
    auto chosen = choose_proposal({p}, kProtocolEsp, esp_with(c.suite, g));
    if (!chosen) continue;
    group = g;
    if (g && req.ke_group != g) {
      mismatch = true;
      continue;
    }
    return chosen;
  }
  return std::nullopt;
}

// The response that creates a pair of `shape` (`old`: the pair it rekeys, else a new CHILD_SA).
std::vector<Payload> answer_child(IkeSa& sa, Generation& g, const CreateChildSa& req, ChildSa shape, Child* old, Time now) {
  const char* what = old ? "CHILD_SA rekey" : "new CHILD_SA";
  uint16_t group = 0;
  bool mismatch = false;
  auto chosen = choose_child_proposal(sa.config(), req, group, mismatch);
  if (!chosen && mismatch) return refuse(what, kNotifyInvalidKe, group_data(group));
  if (!chosen) return refuse(what, kNotifyNoProposalChosen);
  Secret g_ir;
  std::optional<KeyExchange> dh;
  if (group) {
    auto k = KeyExchange::generate(group);
    if (!k) return refuse(what, kNotifyTemporaryFailure);
    auto shared = k->shared_secret(req.ke_value);
    if (!shared) {
      log::warning("the peer's CREATE_CHILD_SA KE: " + shared.error().message);
      return refuse(what, kNotifyInvalidSyntax);
    }
    g_ir = std::move(*shared);
    dh = std::move(*k);
  }
  ChildSaHandler& kernel = *sa.env().children;
  auto spi = kernel.allocate_spi(shape);
  if (!spi) {
    log::error("allocating an inbound SPI: " + spi.error().message);
    return refuse(what, kNotifyTemporaryFailure);
  }
  const Bytes nr = random_bytes(32);
  Child fresh;
  fresh.sa = keyed_pair(derive_rekeyed_child_keys(sa.config().suite, g.keys.sk_d, g_ir.bytes(), req.nonce, nr), false, shape, *spi,
                        get32(chosen->spi, 0));
  ChildSa& k = fresh.sa;
  if (auto st = kernel.install_inbound(k); !st) {
    log::error("installing the inbound SA " + hex32(*spi) + ": " + st.error().message);
    kernel.remove(k.shape());
    return refuse(what, kNotifyTemporaryFailure);
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
  sa.start_child_timers(fresh, now);
  const std::string pfs = group ? " (PFS group " + std::to_string(group) + ")" : "";
  if (!old) {
    // A new CHILD_SA: nothing to fall back on, so its outbound SA and policies go in at once.
    Status st = kernel.install_outbound(k);
    if (st) st = kernel.install_policies(k);
    if (!st) {
      log::error("installing the new CHILD_SA " + hex32(*spi) + ": " + st.error().message);
      kernel.remove(k.shape());
      kernel.remove_policies(k.shape());
      return refuse(what, kNotifyTemporaryFailure);
    }
    fresh.outbound = true;
    log::info("the peer created CHILD_SA " + std::to_string(shape.index) + " " + hex32(k.spi_in) + "/" + hex32(k.spi_out) + pfs,
              {{"ESP_SPI_IN", hex32(k.spi_in)}, {"ESP_SPI_OUT", hex32(k.spi_out)}});
    sa.emit(SaEventKind::child_up, "CHILD_SA " + std::to_string(shape.index) + " up", shape.index);
    sa.child_list().push_back(std::move(fresh));
    return encode_create_child(resp);
  }
  // The initiator of the rekey deletes the old pair; our outbound SA goes in then (the peer has
  // its inbound SA by that time), or after a few seconds at the latest.
  fresh.outbound_by = now + std::chrono::seconds(5);
  if (auto* ours = dynamic_cast<ChildCreate*>(sa.outstanding_task()); ours && ours->rekeyed() == old->sa.spi_in) {
    log::info("CHILD_SA rekey collision: the peer rekeys " + hex32(old->sa.spi_in) + " too (RFC 7296 2.8.1)");
    ours->collided(Collision{req.nonce, nr, k.spi_in});
  }
  old->superseded = true;
  log::info("the peer rekeyed the CHILD_SA " + hex32(old->sa.spi_in) + "/" + hex32(old->sa.spi_out) + ": new " + hex32(k.spi_in) + "/" +
                hex32(k.spi_out) + pfs,
            {{"ESP_SPI_IN", hex32(k.spi_in)}, {"ESP_SPI_OUT", hex32(k.spi_out)}});
  sa.emit(SaEventKind::child_rekeyed, "CHILD_SA " + std::to_string(shape.index) + " rekeyed by the peer", shape.index);
  sa.child_list().push_back(std::move(fresh));
  return encode_create_child(resp);
}

bool ike_rekey_in_progress(IkeSa& sa) {
  const auto& gens = sa.generations();
  const Task* t = sa.outstanding();
  return std::any_of(gens.begin(), gens.end(), [](const Generation& g) { return g.dying; }) || (t && t->kind() == TaskKind::ike_rekey);
}

}  // namespace

std::unique_ptr<Task> make_child_create(SelectorPair selectors) { return std::make_unique<ChildCreate>(std::move(selectors), 0); }
std::unique_ptr<Task> make_child_rekey(uint32_t spi_in) { return std::make_unique<ChildCreate>(SelectorPair{}, spi_in); }

std::vector<Payload> answer_create_child(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time now) {
  auto req = decode_create_child(inner);
  if (!req) {
    log::warning("the peer's CREATE_CHILD_SA: " + req.error().message);
    return refuse("CREATE_CHILD_SA", kNotifyInvalidSyntax);
  }
  // Not before IKE_AUTH has authenticated the peer (as strongSwan): it may ask again later.
  if (sa.state() != SaState::established) return refuse("CREATE_CHILD_SA before IKE_AUTH completed", kNotifyTemporaryFailure);
  if (req->rekeys_ike()) return answer_ike_rekey(sa, g, inner, now);
  const char* what = req->rekey_spi ? "CHILD_SA rekey" : "new CHILD_SA";
  // 2.25.2: no CHILD_SA work while the IKE SA is being rekeyed.
  if (ike_rekey_in_progress(sa)) return refuse(what, kNotifyTemporaryFailure);
  if (!req->rekey_spi) {  // 1.3.1: a CHILD_SA more, narrowed to a pair of our selectors
    const auto& list = sa.child_list();
    const auto live = static_cast<size_t>(std::count_if(list.begin(), list.end(), [](const Child& c) { return c.live(); }));
    if (live >= sa.config().max_children) return refuse(what, kNotifyNoAdditionalSas);
    auto ts = narrowed_pair(sa.config(), req->tsi, req->tsr);
    if (!ts) return refuse(what, kNotifyTsUnacceptable);
    return answer_child(sa, g, *req, child_shape(sa, sa.next_index++, ts->first, ts->second), nullptr, now);
  }
  Child* old = child_by(sa, *req->rekey_spi, false);
  if (!old || old->redundant) return refuse(what, kNotifyChildSaNotFound, {}, kProtocolEsp, spi_bytes(*req->rekey_spi));
  // 2.25: rekeying a pair that is being deleted.
  const Task* t = sa.outstanding();
  const bool deleting = t && t->kind() == TaskKind::child_delete && old->superseded;
  if (old->superseded || deleting) return refuse(what, kNotifyTemporaryFailure);
  const bool ts_ok = std::any_of(req->tsi.begin(), req->tsi.end(), [&](const auto& x) { return x.contains(old->sa.remote_ts); }) &&
                     std::any_of(req->tsr.begin(), req->tsr.end(), [&](const auto& x) { return x.contains(old->sa.local_ts); });
  if (!ts_ok) return refuse(what, kNotifyTsUnacceptable);
  return answer_child(sa, g, *req, child_shape(sa, old->sa.index, old->sa.local_ts, old->sa.remote_ts), old, now);
}

}  // namespace sedge::ike

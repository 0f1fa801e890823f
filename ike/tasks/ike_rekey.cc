// The IKE SA's rekey by CREATE_CHILD_SA (RFC 7296 1.3.2, 2.18), in both roles: a new generation
// of keys and SPIs, the CHILD_SAs move to it, the old one is deleted by the rekey's initiator;
// simultaneous rekeys are settled by the nonces (2.8.2).
#include <algorithm>

#include "common/log.h"
#include "common/message_ids.h"
#include "ike/keylog.h"
#include "ike/rekey.h"
#include "ike/tasks/task.h"

namespace sedge::ike {
namespace {

class IkeRekey : public Task {
 public:
  TaskKind kind() const override { return TaskKind::ike_rekey; }
  const char* name() const override { return "IKE SA rekey"; }
  // The peer rekeyed the same IKE SA while ours was outstanding: its new generation.
  void collided(Bytes ni, Bytes nr, Generation* theirs) {
    peer_ni_ = std::move(ni);
    peer_nr_ = std::move(nr);
    theirs_ = theirs;
  }
  const Generation* rekeying() const { return old_; }

  std::optional<Request> build(IkeSa& sa, Time now) override {
    old_ = sa.current_generation();
    spi_i_ = random_ike_spi();
    ni_ = random_bytes(32);
    auto dh = KeyExchange::generate(sa.ike_group);
    if (!dh) {
      log::error("IKE SA rekey: " + dh.error().message);
      sa.ike_rekey_at = sa.retry_soon(now);
      return std::nullopt;
    }
    CreateChildSa m;
    m.proposals = {ike_proposal(spi_bytes64(spi_i_), sa.config().suite, sa.ike_group)};
    m.nonce = ni_;
    m.ke_group = sa.ike_group;
    m.ke_value = dh->public_value();
    dh_ = std::move(*dh);
    log::info("rekeying the IKE SA " + old_->name());
    return Request{old_, Exchange::create_child_sa, encode_create_child(m)};
  }

  Next process(IkeSa& sa, const Message& /*m*/, std::span<const uint8_t> /*wire*/, const std::vector<Payload>& inner,
               Time now) override {
    auto resp = decode_create_child(inner);
    const Proposal* p = resp && !resp->error ? &resp->proposals.front() : nullptr;
    if (!p || resp->proposals.size() != 1 || !resp->rekeys_ike() || p->spi.size() != 8 ||
        !same_transforms(p->transforms, ike_with(sa.config().suite, sa.ike_group)) || resp->ke_group != sa.ike_group) {
      const std::optional<Notify> error = resp ? resp->error : std::nullopt;
      if (take_group(error, sa.ike_group)) {
        sa.ike_rekey_at = now;
        return Next::done;
      }
      log::warning(log::kRekeyFailed, std::string("IKE SA rekey refused or malformed: ") + (error ? notify_name(error->type) : "unexpected response") +
                   "; retrying");
      sa.ike_rekey_at = error && error->type == kNotifyTemporaryFailure ? sa.retry_soon(now) : now + std::chrono::seconds(10);
      return Next::done;
    }
    auto g_ir = dh_->shared_secret(resp->ke_value);
    if (!g_ir) {
      log::error(log::kRekeyFailed, "IKE SA rekey: " + g_ir.error().message);
      sa.ike_rekey_at = now + std::chrono::seconds(10);
      return Next::done;
    }
    Generation fresh;
    fresh.initiator = true;
    fresh.spi_i = spi_i_;
    fresh.spi_r = get64(p->spi, 0);
    fresh.keys = derive_rekeyed_ike_keys(sa.config().suite, old_->keys.sk_d, g_ir->bytes(), ni_, resp->nonce, fresh.spi_i, fresh.spi_r);
    if (sa.env().key_log) (void)sa.env().key_log->ike_sa(fresh.spi_i, fresh.spi_r, fresh.keys);
    settle(sa, std::move(fresh), resp->nonce, now);
    return Next::done;
  }

 private:
  void settle(IkeSa& sa, Generation fresh, const Bytes& nr, Time now) {
    auto& gens = sa.generations();
    const std::string old_name = old_->name();
    const bool closing = old_->dying;  // close() came while the rekey was outstanding
    bool redundant = false;
    if (theirs_) {
      redundant = lowest_nonce_in(ni_, nr, peer_ni_, peer_nr_);
      log::info(std::string("IKE SA rekey collision ") +
                (redundant ? "lost: ours is deleted, the peer's kept" : "won: the peer's is deleted, ours kept"));
      if (redundant) {
        theirs_->dying = false;  // the current IKE SA from now on; the peer deletes the old one
        auto it = std::find_if(gens.begin(), gens.end(), [&](const Generation& x) { return &x == theirs_; });
        gens.splice(gens.begin(), gens, it);
      }
    }
    old_->dying = true;
    if (redundant) {
      fresh.dying = true;
      fresh.delete_by_us = true;
      gens.push_back(std::move(fresh));
    } else {
      old_->delete_by_us = true;
      gens.push_front(std::move(fresh));
    }
    if (closing) {  // the new IKE SA goes as well, last (the peer takes the others as replaced)
      gens.splice(gens.end(), gens, gens.begin());
      for (auto& g : gens) {
        if (!g.dying) g.dying = true, g.delete_by_us = true;
      }
      log::info("rekeyed the IKE SA " + old_name + " while closing it: the new one is deleted too");
      return;
    }
    log::info("rekeyed the IKE SA " + old_name + ": new " + sa.current()->name(), {{"IKE_SPI", sa.current()->name()}});
    sa.emit(SaEventKind::ike_rekeyed, "IKE SA rekeyed: " + sa.current()->name());
    sa.ike_rekey_at = sa.soft(sa.config().ike_lifetime, now);
    sa.ike_expire_at = sa.hard(sa.config().ike_lifetime, now);
  }

  Generation* old_ = nullptr;
  uint64_t spi_i_ = 0;
  Bytes ni_, peer_ni_, peer_nr_;
  std::optional<KeyExchange> dh_;
  Generation* theirs_ = nullptr;
};

}  // namespace

std::unique_ptr<Task> make_ike_rekey() { return std::make_unique<IkeRekey>(); }

std::vector<Payload> answer_ike_rekey(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time now) {
  const char* what = "IKE SA rekey";
  auto req = decode_create_child(inner);
  if (!req) return refuse(what, kNotifyInvalidSyntax);
  // 2.25.2: not while a CHILD_SA is being created, rekeyed or deleted, or the IKE SA deleted.
  const Task* t = sa.outstanding();
  const bool child_work = (t && (t->kind() == TaskKind::child_create || t->kind() == TaskKind::child_rekey ||
                                 t->kind() == TaskKind::child_delete)) ||
                          std::any_of(sa.child_list().begin(), sa.child_list().end(), [](const Child& c) { return !c.live(); });
  const auto& gens = sa.generations();
  if (child_work || g.dying || std::any_of(gens.begin(), gens.end(), [](const Generation& x) { return x.dying; })) {
    return refuse(what, kNotifyTemporaryFailure);
  }
  const Suite& su = sa.config().suite;
  const Proposal* chosen = nullptr;
  bool mismatch = false;
  for (const auto& p : req->proposals) {
    if (p.protocol != kProtocolIke || p.spi.size() != 8 || !choose_proposal({p}, kProtocolIke, ike_transforms(su))) continue;
    if (req->ke_group != su.dh_group) {
      mismatch = true;
      continue;
    }
    chosen = &p;
    break;
  }
  if (!chosen && mismatch) return refuse(what, kNotifyInvalidKe, group_data(su.dh_group));
  if (!chosen) return refuse(what, kNotifyNoProposalChosen);
  auto dh = KeyExchange::generate(su.dh_group);
  if (!dh) return refuse(what, kNotifyTemporaryFailure);
  auto g_ir = dh->shared_secret(req->ke_value);
  if (!g_ir) {
    log::warning("the peer's IKE SA rekey KE: " + g_ir.error().message);
    return refuse(what, kNotifyInvalidSyntax);
  }
  const Bytes nr = random_bytes(32);
  Generation fresh;
  fresh.initiator = false;
  fresh.spi_i = get64(chosen->spi, 0);
  fresh.spi_r = random_ike_spi();
  fresh.keys = derive_rekeyed_ike_keys(su, g.keys.sk_d, g_ir->bytes(), req->nonce, nr, fresh.spi_i, fresh.spi_r);
  if (sa.env().key_log) (void)sa.env().key_log->ike_sa(fresh.spi_i, fresh.spi_r, fresh.keys);
  Proposal reply = ike_proposal(spi_bytes64(fresh.spi_r), su, su.dh_group);
  reply.number = chosen->number;
  CreateChildSa resp;
  resp.proposals = {reply};
  resp.nonce = nr;
  resp.ke_group = su.dh_group;
  resp.ke_value = dh->public_value();
  auto* ours = dynamic_cast<IkeRekey*>(sa.outstanding_task());
  const bool collision = ours && ours->rekeying() == &g;
  log::info("the peer rekeyed the IKE SA " + g.name() + ": new " + fresh.name() + (collision ? " (collision with ours, RFC 7296 2.8.2)" : ""),
            {{"IKE_SPI", fresh.name()}});
  auto& list = sa.generations();
  if (collision) {
    fresh.dying = true;  // until our own exchange completes and the nonces decide
    list.push_back(std::move(fresh));
    ours->collided(req->nonce, nr, &list.back());
  } else {
    g.dying = true;  // the peer deletes it
    list.push_front(std::move(fresh));
    sa.emit(SaEventKind::ike_rekeyed, "IKE SA rekeyed by the peer: " + list.front().name());
    sa.ike_rekey_at = sa.soft(sa.config().ike_lifetime, now);
    sa.ike_expire_at = sa.hard(sa.config().ike_lifetime, now);
  }
  return encode_create_child(resp);
}

}  // namespace sedge::ike

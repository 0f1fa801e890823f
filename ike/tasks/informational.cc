// INFORMATIONAL (RFC 7296 1.4, 1.5, 2.4, 2.21.2) in both roles: the Delete of a CHILD_SA (the
// peer answers with its own half) or of an IKE SA, the liveness check (an empty request), and
// the AUTHENTICATION_FAILED notify an initiator sends when the responder does not authenticate.
#include "common/log.h"
#include "ike/rekey.h"
#include "ike/tasks/task.h"

namespace sedge::ike {
namespace {

Child* child_by_out(IkeSa& sa, uint32_t spi) {
  for (auto& c : sa.child_list()) {
    if (c.sa.spi_out == spi) return &c;
  }
  return nullptr;
}

// The pair leaves the kernel; a live one is the end of its CHILD_SA, and its policies go too.
void remove_child(IkeSa& sa, Child* c) {
  ChildSaHandler& k = *sa.env().children;
  k.remove(c->sa.shape());
  if (c->live()) k.remove_policies(c->sa.shape());
  sa.child_list().remove_if([c](const Child& x) { return &x == c; });
}

// A rekey's new pairs carry traffic before the old pair goes (make-before-break).
void install_pending_outbound(IkeSa& sa) {
  for (auto& c : sa.child_list()) {
    if (c.outbound || !c.live()) continue;
    if (auto st = sa.env().children->install_outbound(c.sa); !st) {
      log::error("installing the outbound SA " + hex32(c.sa.spi_out) + ": " + st.error().message);
    }
    c.outbound = true;
    log::info("CHILD_SA outbound SA installed", {{"ESP_SPI_OUT", hex32(c.sa.spi_out)}});
  }
}

class ChildDelete : public Task {
 public:
  explicit ChildDelete(uint32_t spi_in) : spi_in_(spi_in) {}
  TaskKind kind() const override { return TaskKind::child_delete; }
  const char* name() const override { return "CHILD_SA delete"; }
  std::optional<Request> build(IkeSa& sa, Time /*now*/) override {
    const Child* c = find(sa);
    if (!c) return std::nullopt;
    log::info("deleting the CHILD_SA " + hex32(c->sa.spi_in) + "/" + hex32(c->sa.spi_out));
    return Request{sa.current_generation(), Exchange::informational, {{kDelete, false, encode_delete({kProtocolEsp, {spi_in_}})}}};
  }
  Next process(IkeSa& sa, const Message& /*m*/, std::span<const uint8_t> /*wire*/, const std::vector<Payload>& /*inner*/,
               Time /*now*/) override {
    if (Child* c = find(sa)) {
      log::info("the CHILD_SA " + hex32(c->sa.spi_in) + "/" + hex32(c->sa.spi_out) + " is deleted");
      install_pending_outbound(sa);
      remove_child(sa, c);
    }
    return Next::done;
  }
  uint32_t spi_in() const { return spi_in_; }

 private:
  Child* find(IkeSa& sa) const {
    for (auto& c : sa.child_list()) {
      if (c.sa.spi_in == spi_in_) return &c;
    }
    return nullptr;
  }
  uint32_t spi_in_;
};

class IkeDelete : public Task {
 public:
  explicit IkeDelete(Generation* g) : g_(g) {}
  TaskKind kind() const override { return TaskKind::ike_delete; }
  const char* name() const override { return "IKE SA delete"; }
  // A replaced IKE SA's Delete holds our one request slot: if the peer deleted it and only its
  // answer was lost, it can never answer again, and the current IKE SA's work would wait for
  // the whole schedule. Two retransmissions (about 24 s) are enough.
  int max_tries() const override { return 2; }
  std::optional<Request> build(IkeSa& /*sa*/, Time /*now*/) override {
    log::info("deleting the IKE SA " + g_->name());
    return Request{g_, Exchange::informational, {{kDelete, false, encode_delete({kProtocolIke, {}})}}};
  }
  Next process(IkeSa& sa, const Message& /*m*/, std::span<const uint8_t> /*wire*/, const std::vector<Payload>& /*inner*/,
               Time /*now*/) override {
    log::info("the IKE SA " + g_->name() + " is deleted");
    sa.deleted_generation = g_;
    return Next::done;
  }

 private:
  Generation* g_;
};

class Liveness : public Task {
 public:
  TaskKind kind() const override { return TaskKind::liveness; }
  const char* name() const override { return "liveness check"; }
  std::optional<Request> build(IkeSa& sa, Time /*now*/) override {
    return Request{sa.current_generation(), Exchange::informational, {}};
  }
  Next process(IkeSa&, const Message&, std::span<const uint8_t>, const std::vector<Payload>&, Time) override { return Next::done; }
};

class AuthFailedNotify : public Task {
 public:
  explicit AuthFailedNotify(Error why) : why_(std::move(why)) {}
  TaskKind kind() const override { return TaskKind::notify; }
  const char* name() const override { return "AUTHENTICATION_FAILED notify"; }
  int max_tries() const override { return 3; }  // a busy peer drops a request it is not ready for
  std::optional<Request> build(IkeSa& sa, Time /*now*/) override {
    return Request{&sa.generations().front(), Exchange::informational, {notify_payload(kNotifyAuthenticationFailed)}};
  }
  Next process(IkeSa& sa, const Message&, std::span<const uint8_t>, const std::vector<Payload>&, Time) override {
    sa.fail(why_);
    return Next::done;
  }
  void abort(IkeSa& sa) override { sa.fail(why_); }

 private:
  Error why_;
};

}  // namespace

std::unique_ptr<Task> make_child_delete(uint32_t spi_in) { return std::make_unique<ChildDelete>(spi_in); }
std::unique_ptr<Task> make_ike_delete(Generation* generation) { return std::make_unique<IkeDelete>(generation); }
std::unique_ptr<Task> make_liveness() { return std::make_unique<Liveness>(); }
std::unique_ptr<Task> make_auth_failed_notify(Error why) { return std::make_unique<AuthFailedNotify>(std::move(why)); }

std::vector<Payload> answer_informational(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time /*now*/) {
  std::vector<uint32_t> ours;
  for (const auto& p : inner) {
    if (p.type == kNotify) {
      if (auto n = decode_notify(p.body); n && n->type == kNotifyAuthenticationFailed) {
        sa.fail(Error{"the peer says our authentication failed (AUTHENTICATION_FAILED)", EACCES});
      }
      continue;
    }
    if (p.type != kDelete) continue;
    auto d = decode_delete(p.body);
    if (!d) {
      log::warning("the peer's Delete: " + d.error().message);
      continue;
    }
    if (d->protocol == kProtocolIke) {
      if (g.dying) {
        log::info("the peer deleted the old IKE SA " + g.name());
        g.delete_by_us = false;
        sa.deleted_generation = &g;
      } else {
        sa.peer_deleted = true;
      }
      return {};
    }
    if (d->protocol != kProtocolEsp) continue;
    for (uint32_t spi : d->spis) {
      Child* c = child_by_out(sa, spi);
      if (!c) continue;
      install_pending_outbound(sa);
      const auto* deleting = dynamic_cast<const ChildDelete*>(sa.outstanding());
      if (!deleting || deleting->spi_in() != c->sa.spi_in) ours.push_back(c->sa.spi_in);
      log::info("the peer deleted the CHILD_SA " + hex32(c->sa.spi_in) + "/" + hex32(c->sa.spi_out));
      if (c->live()) sa.emit(SaEventKind::child_down, "CHILD_SA " + std::to_string(c->sa.index) + " deleted by the peer", c->sa.index);
      remove_child(sa, c);
    }
  }
  if (ours.empty()) return {};
  return {{kDelete, false, encode_delete({kProtocolEsp, ours})}};
}

}  // namespace sedge::ike

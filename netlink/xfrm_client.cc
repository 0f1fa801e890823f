#include "netlink/xfrm_client.h"

#include <linux/netlink.h>
#include <linux/xfrm.h>

#include "common/log.h"
#include "netlink/netlink_socket.h"
#include "netlink/xfrm_messages.h"

namespace sedge::netlink {

// ---- XfrmBatch ----

void XfrmBatch::add(Request request) {
  requests_.push_back(std::move(request));
  undo_.emplace_back();
}

std::optional<Request> XfrmBatch::undo(size_t i) const {
  Result<Request> r = Error{};
  if (const auto* sa = std::get_if<XfrmSaId>(&undo_.at(i))) {
    r = build_delete_sa(*sa);
  } else if (const auto* policy = std::get_if<XfrmPolicyId>(&undo_.at(i))) {
    r = build_delete_policy(*policy);
  } else {
    return std::nullopt;
  }
  if (!r) return std::nullopt;
  return std::move(*r);
}

Status XfrmBatch::add_sa(const XfrmSa& sa) {
  auto r = build_add_sa(sa);
  if (!r) return r.error();
  requests_.push_back(std::move(*r));
  undo_.emplace_back(sa.id());
  return {};
}

Status XfrmBatch::update_sa(const XfrmSa& sa) {
  auto r = build_update_sa(sa);
  if (!r) return r.error();
  add(std::move(*r));
  return {};
}

Status XfrmBatch::delete_sa(const XfrmSaId& id) {
  auto r = build_delete_sa(id);
  if (!r) return r.error();
  add(std::move(*r));
  return {};
}

Status XfrmBatch::add_policy(const XfrmPolicy& policy) {
  auto r = build_add_policy(policy);
  if (!r) return r.error();
  requests_.push_back(std::move(*r));
  undo_.emplace_back(policy.id());
  return {};
}

Status XfrmBatch::update_policy(const XfrmPolicy& policy) {
  auto r = build_update_policy(policy);
  if (!r) return r.error();
  add(std::move(*r));
  return {};
}

Status XfrmBatch::delete_policy(const XfrmPolicyId& id) {
  auto r = build_delete_policy(id);
  if (!r) return r.error();
  add(std::move(*r));
  return {};
}

size_t BatchResult::failed() const {
  size_t n = 0;
  for (const auto& r : results) n += r.ok() ? 0 : 1;
  return n;
}

Status BatchResult::first_error() const {
  // The cause first: a request rolled back (ECANCELED) only because another failed is not it.
  const Status* cause = nullptr;
  for (const auto& r : results) {
    if (!r.ok() && (!cause || (cause->error().code == ECANCELED && r.error().code != ECANCELED))) {
      cause = &r;
    }
  }
  if (!cause) return {};
  size_t more = failed() - 1;
  if (more == 0) return *cause;
  return Error{cause->error().message + " (and " + std::to_string(more) +
                   " more requests failed or were rolled back)",
               cause->error().code};
}

// ---- XfrmClient ----

XfrmClient::XfrmClient(std::unique_ptr<NetlinkSocket> socket) : socket_(std::move(socket)) {}
XfrmClient::XfrmClient(XfrmClient&&) noexcept = default;
XfrmClient& XfrmClient::operator=(XfrmClient&&) noexcept = default;
XfrmClient::~XfrmClient() = default;

Result<XfrmClient> XfrmClient::open() {
  auto socket = NetlinkSocket::open(NETLINK_XFRM);
  if (!socket) return socket.error().context("opening the XFRM netlink socket");
  return XfrmClient(std::move(*socket));
}

namespace {

Status send_built(NetlinkSocket& socket, Result<Request> request) {
  if (!request) return request.error();
  return socket.transact_one(*request);
}

}  // namespace

Result<uint32_t> XfrmClient::alloc_spi(const XfrmSpiRequest& request) {
  auto r = build_alloc_spi(request);
  if (!r) return r.error();
  std::optional<Result<uint32_t>> spi;
  Status s = socket_->transact_one(*r, [&](size_t, std::span<const uint8_t> reply) {
    spi = parse_alloc_spi_reply(reply);
  });
  if (!s) return s.error();
  if (!spi) return Error{r->what() + ": the kernel sent no SPI", EPROTO};
  return std::move(*spi);
}

Status XfrmClient::add_sa(const XfrmSa& sa) { return send_built(*socket_, build_add_sa(sa)); }
Status XfrmClient::update_sa(const XfrmSa& sa) { return send_built(*socket_, build_update_sa(sa)); }
Status XfrmClient::delete_sa(const XfrmSaId& id) {
  return send_built(*socket_, build_delete_sa(id));
}

Result<XfrmSaState> XfrmClient::get_sa(const XfrmSaId& id) {
  auto r = build_get_sa(id);
  if (!r) return r.error();
  std::optional<Result<XfrmSaState>> state;
  Status s = socket_->transact_one(*r, [&](size_t, std::span<const uint8_t> reply) {
    state = parse_sa(reply);
  });
  if (!s) return s.error();
  if (!state) return Error{r->what() + ": the kernel sent no SA", EPROTO};
  if (!*state) return state->error().context(r->what());
  return std::move(*state);
}

Result<std::vector<XfrmSaState>> XfrmClient::dump_sas() {
  std::vector<XfrmSaState> out;
  Request req = build_dump_sas();
  Status s = socket_->dump(
      req,
      [&](std::span<const uint8_t> m) -> Status {
        auto st = parse_sa(m);
        if (!st) return st.error().context("listing SAs");
        out.push_back(std::move(*st));
        return {};
      },
      [&] { out.clear(); });
  if (!s) return s.error();
  return out;
}

Status XfrmClient::add_policy(const XfrmPolicy& policy) {
  return send_built(*socket_, build_add_policy(policy));
}
Status XfrmClient::update_policy(const XfrmPolicy& policy) {
  return send_built(*socket_, build_update_policy(policy));
}
Status XfrmClient::delete_policy(const XfrmPolicyId& id) {
  return send_built(*socket_, build_delete_policy(id));
}

Result<XfrmPolicy> XfrmClient::get_policy(const XfrmPolicyId& id) {
  auto r = build_get_policy(id);
  if (!r) return r.error();
  std::optional<Result<XfrmPolicy>> policy;
  Status s = socket_->transact_one(*r, [&](size_t, std::span<const uint8_t> reply) {
    policy = parse_policy(reply);
  });
  if (!s) return s.error();
  if (!policy) return Error{r->what() + ": the kernel sent no policy", EPROTO};
  return std::move(*policy);
}

Result<std::vector<XfrmPolicy>> XfrmClient::dump_policies() {
  std::vector<XfrmPolicy> out;
  Request req = build_dump_policies();
  Status s = socket_->dump(
      req,
      [&](std::span<const uint8_t> m) -> Status {
        auto p = parse_policy(m);
        if (!p) return p.error().context("listing policies");
        out.push_back(std::move(*p));
        return {};
      },
      [&] { out.clear(); });
  if (!s) return s.error();
  return out;
}

Status XfrmClient::set_receive_buffer(int bytes) { return socket_->set_receive_buffer(bytes); }

Status XfrmClient::set_policy_hash_thresholds(const XfrmPolicyHashThresholds& thresholds) {
  return send_built(*socket_, build_set_policy_hash_thresholds(thresholds));
}

BatchResult XfrmClient::submit(const XfrmBatch& batch, OnFailure on_failure) {
  std::vector<const Request*> requests;
  requests.reserve(batch.size());
  for (const auto& r : batch.requests()) requests.push_back(&r);
  BatchResult result{socket_->transact(requests)};
  if (on_failure == OnFailure::Rollback && !result.ok()) {
    // Undo, newest first, what succeeded, so a failed batch leaves nothing half-installed.
    std::vector<Request> undo;
    std::vector<size_t> undone_index;
    for (size_t i = batch.size(); i-- > 0;) {
      if (!result.results[i].ok()) continue;
      if (auto u = batch.undo(i)) {
        undo.push_back(std::move(*u));
        undone_index.push_back(i);
      }
    }
    std::vector<const Request*> undo_ptrs;
    for (const auto& u : undo) undo_ptrs.push_back(&u);
    auto undone = socket_->transact(undo_ptrs);
    for (auto& u : undone) {
      if (!u.ok()) {
        log::warning("rolling back a failed XFRM batch: " + u.error().message);
      }
    }
    // Report rolled-back requests as not applied.
    for (size_t i : undone_index) {
      result.results[i] = Error{batch.requests()[i].what() +
                                    ": rolled back because another request of the batch failed",
                                ECANCELED};
    }
  }
  return result;
}

// ---- XfrmMonitor ----

XfrmMonitor::XfrmMonitor(std::unique_ptr<NetlinkSocket> socket) : socket_(std::move(socket)) {}
XfrmMonitor::XfrmMonitor(XfrmMonitor&&) noexcept = default;
XfrmMonitor& XfrmMonitor::operator=(XfrmMonitor&&) noexcept = default;
XfrmMonitor::~XfrmMonitor() = default;

Result<XfrmMonitor> XfrmMonitor::open() {
  static constexpr unsigned kGroups[] = {XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRMNLGRP_MAPPING,
                                         XFRMNLGRP_MIGRATE};
  auto socket = NetlinkSocket::open(NETLINK_XFRM, kGroups);
  if (!socket) return socket.error().context("subscribing to XFRM events");
  return XfrmMonitor(std::move(*socket));
}

int XfrmMonitor::fd() const { return socket_->fd(); }

Result<std::vector<XfrmEvent>> XfrmMonitor::read() {
  auto messages = socket_->receive_pending();
  if (!messages) return messages.error();
  std::vector<XfrmEvent> events;
  for (const auto& m : *messages) {
    if (m.empty()) {
      events.emplace_back(XfrmEventsLost{});
      continue;
    }
    auto e = parse_event(m);
    if (!e) {
      log::debug("ignoring XFRM message: " + e.error().message);
      continue;
    }
    events.push_back(std::move(*e));
  }
  return events;
}

}  // namespace sedge::netlink

// XfrmClient: the RAII owner of one NETLINK_XFRM socket (libmnl). Sends requests built by
// xfrm_messages.h, one at a time or as a batch, and maps every kernel ACK back to its request.
// XfrmMonitor: a separate socket subscribed to the kernel's XFRM events, for the event loop.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/result.h"
#include "netlink/request.h"
#include "netlink/xfrm.h"

namespace sedge::netlink {

class NetlinkSocket;

// Requests to send together. Each add_* validates and builds at once: an invalid request is
// refused here (error naming it) and never enters the batch.
class XfrmBatch {
 public:
  Status add_sa(const XfrmSa& sa);
  Status update_sa(const XfrmSa& sa);
  Status delete_sa(const XfrmSaId& id);
  Status add_policy(const XfrmPolicy& policy);
  Status update_policy(const XfrmPolicy& policy);
  Status delete_policy(const XfrmPolicyId& id);
  void add(Request request);  // any prebuilt request (no rollback for it)

  size_t size() const { return requests_.size(); }
  bool empty() const { return requests_.empty(); }
  const std::vector<Request>& requests() const { return requests_; }
  // The request that reverses request i (a delete for an add), built only when a rollback
  // needs it; nullopt when there is none (updates and deletes are not undone).
  std::optional<Request> undo(size_t i) const;

 private:
  using Undo = std::variant<std::monostate, XfrmSaId, XfrmPolicyId>;
  std::vector<Request> requests_;
  std::vector<Undo> undo_;
};

// One Status per request of the batch, in order.
struct BatchResult {
  std::vector<Status> results;
  size_t failed() const;
  bool ok() const { return failed() == 0; }
  // The error that caused the failure (not a rollback's ECANCELED); ok() when all succeeded.
  Status first_error() const;
};

enum class OnFailure {
  Continue,  // every request is tried; results say which failed
  Rollback,  // after the batch, if any request failed, undo the ones that succeeded
             // (adds are deleted), so nothing is left half-installed
};

class XfrmClient {
 public:
  // Opens NETLINK_XFRM. Needs CAP_NET_ADMIN in the current network namespace.
  static Result<XfrmClient> open();
  XfrmClient(XfrmClient&&) noexcept;
  XfrmClient& operator=(XfrmClient&&) noexcept;
  ~XfrmClient();

  // Asks the kernel for a free SPI in [min, max]; creates a larval SA that update_sa completes.
  Result<uint32_t> alloc_spi(const XfrmSpiRequest& request);
  Status add_sa(const XfrmSa& sa);
  Status update_sa(const XfrmSa& sa);
  Status delete_sa(const XfrmSaId& id);
  Result<XfrmSaState> get_sa(const XfrmSaId& id);  // with counters and stats
  Result<std::vector<XfrmSaState>> dump_sas();

  Status add_policy(const XfrmPolicy& policy);
  Status update_policy(const XfrmPolicy& policy);
  Status delete_policy(const XfrmPolicyId& id);
  Result<XfrmPolicy> get_policy(const XfrmPolicyId& id);
  Result<std::vector<XfrmPolicy>> dump_policies();

  // The socket's receive queue (default 4 MiB): answers beyond it are lost (ENOBUFS), and
  // the requests they answered are then reported as "state unknown", never as done.
  Status set_receive_buffer(int bytes);

  // Per network namespace; the kernel rebuilds its policy hash in the background.
  Status set_policy_hash_thresholds(const XfrmPolicyHashThresholds& thresholds);

  // Sends all requests (many per sendmsg); one Status per request, errors mapped back by
  // sequence number.
  BatchResult submit(const XfrmBatch& batch, OnFailure on_failure = OnFailure::Continue);

 private:
  explicit XfrmClient(std::unique_ptr<NetlinkSocket> socket);
  std::unique_ptr<NetlinkSocket> socket_;
};

class XfrmMonitor {
 public:
  // Subscribes to expire, acquire, mapping, migrate and policy-expire events.
  static Result<XfrmMonitor> open();
  XfrmMonitor(XfrmMonitor&&) noexcept;
  XfrmMonitor& operator=(XfrmMonitor&&) noexcept;
  ~XfrmMonitor();

  // Non-blocking; add it to sd-event with EPOLLIN and call read() when it is readable.
  int fd() const;
  // Every event queued now (possibly none). After ENOBUFS the list holds XfrmEventsLost.
  // Unknown or malformed messages are skipped with a log line, never fatal.
  Result<std::vector<XfrmEvent>> read();

 private:
  explicit XfrmMonitor(std::unique_ptr<NetlinkSocket> socket);
  std::unique_ptr<NetlinkSocket> socket_;
};

}  // namespace sedge::netlink

// NetlinkSocket: the thin sender under XfrmClient and the tests (internal to the layer).
// It numbers requests, sends them in windows (many messages per sendmsg), and maps every ACK
// back to its request by sequence number. Windows are sized so the ACKs fit the receive
// buffer; if the kernel still reports ENOBUFS, the requests whose ACK was lost are reported
// as such (never as success).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "netlink/request.h"

struct mnl_socket;

namespace sedge::netlink {

// "File exists (EEXIST)", plus the kernel's extended-ACK text when it gave one.
std::string errno_text(int err);

class NetlinkSocket {
 public:
  // bus: NETLINK_XFRM or NETLINK_ROUTE; groups: multicast groups to join (1-based numbers).
  static Result<std::unique_ptr<NetlinkSocket>> open(int bus, std::span<const unsigned> groups = {});
  ~NetlinkSocket();
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  int fd() const;
  // The kernel's queue for this socket's answers (default 4 MiB). Smaller saves memory; the
  // sender stays correct when it overflows (see transact).
  Status set_receive_buffer(int bytes);

  // Called with (request index, reply message) for every data reply (e.g. GETSA's NEWSA).
  using ReplyHandler = std::function<void(size_t, std::span<const uint8_t>)>;
  // Sends every request (NLM_F_ACK forced), returns one Status per request in order. A failed
  // status's message is "<request.what()>: <errno text>".
  std::vector<Status> transact(std::span<const Request* const> requests,
                               const ReplyHandler& on_reply = {});
  Status transact_one(const Request& request, const ReplyHandler& on_reply = {});

  // Sends a dump request and passes every message to on_message until NLMSG_DONE. A dump the
  // kernel marks interrupted (NLM_F_DUMP_INTR) is restarted (after calling restart()).
  Status dump(const Request& request,
              const std::function<Status(std::span<const uint8_t>)>& on_message,
              const std::function<void()>& restart = {});

  // Non-blocking receive of whatever multicast messages are queued (monitor sockets).
  // Returns false with errno EAGAIN when nothing is queued; ENOBUFS when messages were lost.
  Result<std::vector<std::vector<uint8_t>>> receive_pending();

 private:
  NetlinkSocket(mnl_socket* sock, uint32_t port_id);
  mnl_socket* sock_;
  uint32_t port_id_;
  uint32_t next_seq_;
  std::vector<uint8_t> recv_buf_;
};

}  // namespace sedge::netlink

#include "netlink/netlink_socket.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstring>

namespace sedge::netlink {
namespace {

// At most this many requests and bytes per window: their ACKs (NETLINK_CAP_ACK keeps error
// ACKs small) fit comfortably in the receive buffer set below.
constexpr size_t kWindowRequests = 512;
constexpr size_t kWindowBytes = 128 * 1024;
constexpr int kReceiveBuffer = 4 * 1024 * 1024;
constexpr size_t kRecvBufferSize = 64 * 1024;

std::string extack_message(const nlmsghdr* nlh) {
  // With NETLINK_EXT_ACK the kernel appends attributes after the nlmsgerr (and after the
  // echoed request unless NETLINK_CAP_ACK capped it); NLMSGERR_ATTR_MSG is its explanation.
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* payload = static_cast<const uint8_t*>(mnl_nlmsg_get_payload(nlh));
  size_t len = mnl_nlmsg_get_payload_len(nlh);
  if (len < sizeof(nlmsgerr)) return "";
  nlmsgerr err;
  std::memcpy(&err, payload, sizeof err);
  size_t offset = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
    if (err.msg.nlmsg_len < sizeof(nlmsghdr)) return "";
    offset += MNL_ALIGN(err.msg.nlmsg_len - sizeof(nlmsghdr));
  }
  std::string text;
  while (offset + sizeof(nlattr) <= len) {
    nlattr attr;
    std::memcpy(&attr, payload + offset, sizeof attr);
    if (attr.nla_len < sizeof(nlattr) || offset + attr.nla_len > len) break;
    if ((attr.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const char* s = reinterpret_cast<const char*>(payload + offset + sizeof(nlattr));
      text.assign(s, strnlen(s, attr.nla_len - sizeof(nlattr)));
    }
    offset += MNL_ALIGN(attr.nla_len);
  }
  return text;
}

Error kernel_error(const std::string& what, int err, const std::string& extack) {
  std::string msg = what + ": " + errno_text(err);
  if (!extack.empty()) msg += " (kernel: " + extack + ")";
  if (err == EPERM) msg += "; sedge needs CAP_NET_ADMIN";
  return Error{msg, err};
}

}  // namespace

std::string errno_text(int err) {
  const char* name = strerrorname_np(err);
  return std::string(strerror(err)) + " (" + (name ? name : std::to_string(err)) + ")";
}

NetlinkSocket::NetlinkSocket(mnl_socket* sock, uint32_t port_id)
    : sock_(sock), port_id_(port_id), recv_buf_(kRecvBufferSize) {
  // Start from the clock so that two sockets of one process are easy to tell apart in traces.
  next_seq_ = static_cast<uint32_t>(time(nullptr));
}

NetlinkSocket::~NetlinkSocket() {
  OPENSSL_cleanse(recv_buf_.data(), recv_buf_.size());  // GETSA replies carry keys
  mnl_socket_close(sock_);
}

int NetlinkSocket::fd() const { return mnl_socket_get_fd(sock_); }

Status NetlinkSocket::set_receive_buffer(int bytes) {
  if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 &&
      setsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) {
    return Error::sys("setting the netlink receive buffer to " + std::to_string(bytes) + " bytes");
  }
  return {};
}

Result<std::unique_ptr<NetlinkSocket>> NetlinkSocket::open(int bus, std::span<const unsigned> groups) {
  mnl_socket* sock = mnl_socket_open2(bus, SOCK_CLOEXEC);
  if (!sock) return Error::sys("opening netlink socket (bus " + std::to_string(bus) + ")");
  if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
    Error e = Error::sys("binding netlink socket");
    mnl_socket_close(sock);
    return e;
  }
  int one = 1;
  mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof one);
  mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &one, sizeof one);
  int fd = mnl_socket_get_fd(sock);
  int rcvbuf = kReceiveBuffer;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  for (unsigned group : groups) {
    if (mnl_socket_setsockopt(sock, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
      Error e = Error::sys("joining netlink multicast group " + std::to_string(group));
      mnl_socket_close(sock);
      return e;
    }
  }
  if (!groups.empty()) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<NetlinkSocket>(new NetlinkSocket(sock, mnl_socket_get_portid(sock)));
}

std::vector<Status> NetlinkSocket::transact(std::span<const Request* const> requests,
                                            const ReplyHandler& on_reply) {
  std::vector<Status> results(requests.size());
  std::vector<uint8_t> send_buf;
  size_t begin = 0;
  while (begin < requests.size()) {
    // One window: consecutive requests numbered from first_seq. Only the last asks for an
    // ACK; the others are answered only when they fail (netlink errors are always sent).
    // The kernel handles a window's messages in order, so the last ACK closes the window:
    // every error of it has arrived before it. Skipping the success ACKs spares the kernel
    // an allocation and a queueing per request.
    send_buf.clear();
    size_t end = begin;
    uint32_t first_seq = next_seq_;
    size_t last_at = 0;
    while (end < requests.size() && end - begin < kWindowRequests &&
           (end == begin || send_buf.size() + requests[end]->bytes().size() <= kWindowBytes)) {
      auto bytes = requests[end]->bytes();
      size_t at = send_buf.size();
      send_buf.insert(send_buf.end(), bytes.begin(), bytes.end());
      send_buf.resize(at + MNL_ALIGN(bytes.size()), 0);
      auto* nlh = reinterpret_cast<nlmsghdr*>(send_buf.data() + at);
      nlh->nlmsg_seq = next_seq_++;
      nlh->nlmsg_pid = 0;
      nlh->nlmsg_flags &= static_cast<uint16_t>(~NLM_F_ACK);
      last_at = at;
      ++end;
    }
    reinterpret_cast<nlmsghdr*>(send_buf.data() + last_at)->nlmsg_flags |= NLM_F_ACK;
    uint32_t last_seq = next_seq_ - 1;
    size_t count = end - begin;
    std::vector<bool> answered(count, false);
    auto fail_unanswered = [&](int err, const char* why) {
      for (size_t i = begin; i < end; ++i) {
        if (!answered[i - begin]) {
          results[i] = Error{requests[i]->what() + ": " + why + ": " + errno_text(err), err};
        }
      }
    };

    ssize_t sent = mnl_socket_sendto(sock_, send_buf.data(), send_buf.size());
    int send_err = errno;
    OPENSSL_cleanse(send_buf.data(), send_buf.size());
    if (sent < 0) {
      fail_unanswered(send_err, "not sent");
      begin = end;
      continue;
    }
    bool overflowed = false;
    bool closed = false;
    while (!closed) {
      // After an overflow, take what is still queued without waiting: the rest is lost.
      ssize_t n = recv(fd(), recv_buf_.data(), recv_buf_.size(), overflowed ? MSG_DONTWAIT : 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS && !overflowed) {
          overflowed = true;
          continue;
        }
        // Errors or the closing ACK were dropped: the kernel may or may not have applied the
        // requests not answered, so they are reported as failed with ENOBUFS (the caller
        // re-reads the state), never as done.
        int err = overflowed ? ENOBUFS : errno;
        fail_unanswered(err, overflowed ? "acknowledgement lost, state unknown"
                                        : "no acknowledgement");
        break;
      }
      int len = static_cast<int>(n);
      auto* nlh = reinterpret_cast<const nlmsghdr*>(recv_buf_.data());
      for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
        uint32_t offset = nlh->nlmsg_seq - first_seq;
        if (nlh->nlmsg_pid != port_id_ || offset >= count) continue;  // stale
        size_t index = begin + offset;
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr) || answered[offset]) continue;
          auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
          if (err->error != 0) {
            results[index] = kernel_error(requests[index]->what(), -err->error, extack_message(nlh));
          }
          answered[offset] = true;
          if (nlh->nlmsg_seq == last_seq) closed = true;
        } else if (on_reply && nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
          on_reply(index, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(nlh),
                                                   nlh->nlmsg_len));
        }
      }
      if (closed && overflowed) {
        // The window closed but some errors may have been dropped on the way.
        fail_unanswered(ENOBUFS, "acknowledgement lost, state unknown");
      }
    }
    begin = end;
  }
  return results;
}

Status NetlinkSocket::transact_one(const Request& request, const ReplyHandler& on_reply) {
  const Request* one[] = {&request};
  return std::move(transact(one, on_reply)[0]);
}

Status NetlinkSocket::dump(const Request& request,
                           const std::function<Status(std::span<const uint8_t>)>& on_message,
                           const std::function<void()>& restart) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::vector<uint8_t> buf(request.bytes().begin(), request.bytes().end());
    auto* req = reinterpret_cast<nlmsghdr*>(buf.data());
    uint32_t seq = req->nlmsg_seq = next_seq_++;
    if (mnl_socket_sendto(sock_, buf.data(), buf.size()) < 0) {
      return Error::sys(request.what());
    }
    Status first_error;
    bool interrupted = false;
    for (bool finished = false; !finished;) {
      ssize_t n = mnl_socket_recvfrom(sock_, recv_buf_.data(), recv_buf_.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return kernel_error(request.what(), errno, "");
      }
      int len = static_cast<int>(n);
      auto* nlh = reinterpret_cast<const nlmsghdr*>(recv_buf_.data());
      for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != port_id_) continue;
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        if (nlh->nlmsg_type == NLMSG_DONE) {
          finished = true;
          break;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
          if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(nlmsgerr) && err->error != 0) {
            return kernel_error(request.what(), -err->error, extack_message(nlh));
          }
          finished = true;
          break;
        }
        if (first_error.ok()) {
          first_error = on_message(std::span<const uint8_t>(
              reinterpret_cast<const uint8_t*>(nlh), nlh->nlmsg_len));
        }
      }
    }
    if (!interrupted) return first_error;
    if (restart) restart();  // the set changed under the dump: list it again
  }
  return Error{request.what() + ": the kernel kept interrupting the dump (objects changing)",
               EAGAIN};
}

Result<std::vector<std::vector<uint8_t>>> NetlinkSocket::receive_pending() {
  std::vector<std::vector<uint8_t>> messages;
  for (;;) {
    ssize_t n = recv(fd(), recv_buf_.data(), recv_buf_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return messages;
      if (errno == ENOBUFS) {
        // Lost events: report an empty message as the marker; the caller resyncs.
        messages.emplace_back();
        continue;
      }
      return Error::sys("reading netlink events");
    }
    int len = static_cast<int>(n);
    auto* nlh = reinterpret_cast<const nlmsghdr*>(recv_buf_.data());
    for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      auto* p = reinterpret_cast<const uint8_t*>(nlh);
      messages.emplace_back(p, p + nlh->nlmsg_len);
    }
  }
}

}  // namespace sedge::netlink

// The IKE sockets of the process: one UDP pair (the IKE port and the NAT-T port) per bind
// address, shared by every IKE SA and read on an sd-event loop. The NAT-T socket is
// UDP_ENCAP_ESPINUDP, so the kernel takes ESP and NAT keepalives off it; what reaches the
// engine is IKE only, without the non-ESP marker (RFC 3948 2.2), with the address it came to.
#pragma once

#include <sys/uio.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "ike/address.h"
#include "ike/message.h"
#include "ike/protocol.h"

namespace sedge::ike {

struct Datagram {
  Bytes data;    // one IKE message, without the non-ESP marker of the NAT-T port
  Address from;  // the sender (address and port)
  Address to;    // ours it came to: NAT detection and replies need it, not the any address
};

struct SocketOptions {
  std::vector<Address> bind;       // empty: 0.0.0.0 and ::; their ports are not read
  uint16_t ike_port = kIkePort;    // 0: the kernel picks one (tests); ike_port() tells which
  uint16_t natt_port = kNattPort;  // ditto; this socket is UDP_ENCAP_ESPINUDP
};

// Non-copyable; the destructor closes the sockets and their event sources. The loop must
// outlive it, and the receive callback must not destroy it.
class Sockets {
 public:
  using Receive = std::function<void(Datagram&&)>;

  static Result<std::unique_ptr<Sockets>> open(sd_event* loop, const SocketOptions& options,
                                               Receive receive);
  ~Sockets();
  Sockets(const Sockets&) = delete;
  Sockets& operator=(const Sockets&) = delete;

  // One IKE message from `from` to `to`: from's port picks the socket (the NAT-T one prepends
  // the marker), from's address is the source unless it is the any address. Families must match.
  Status send(std::span<const uint8_t> message, const Address& from, const Address& to);
  // One 0xFF byte (RFC 3948 2.3) on the NAT-T socket of from's address; from's port is not read.
  Status send_keepalive(const Address& from, const Address& to);

  uint16_t ike_port() const { return ike_port_; }
  uint16_t natt_port() const { return natt_port_; }

 private:
  struct Socket;

  Sockets(Receive receive, uint16_t ike, uint16_t natt);
  Status add(sd_event* loop, const Address& bind_address, bool natt);
  const Socket* find(const Address& from, bool natt) const;
  Status transmit(bool natt, std::span<const iovec> parts, const Address& from,
                  const Address& to) const;
  void drain(const Socket& s);
  static int on_readable(sd_event_source* source, int fd, uint32_t revents, void* socket);

  Receive receive_;
  uint16_t ike_port_, natt_port_;
  std::vector<std::unique_ptr<Socket>> sockets_;  // stable: each is its event source's userdata
  Bytes buffer_;                                  // one datagram being read
};

}  // namespace sedge::ike

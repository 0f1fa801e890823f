// The IKEv2 initiator (PSK; IKE and ESP AES-GCM-16 128 or 256, PRF HMAC-SHA2-256, DH group 14,
// 19 or 31 as the Suite says; the Secure Edge profile is 128 and 14): IKE_SA_INIT (answering a COOKIE), then IKE_AUTH with the first
// CHILD_SA, over a connected UDP socket with retransmission and exponential backoff. Both AUTH
// payloads are verified; the responder's choices are checked against what was offered.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "ike/certs.h"
#include "ike/crypto.h"
#include "ike/endpoint.h"
#include "ike/fragment.h"
#include "ike/message.h"

namespace sedge::ike {

enum IdType : uint8_t { kIdIpv4 = 1, kIdFqdn = 2, kIdRfc822 = 3, kIdIpv6 = 5, kIdDerAsn1Dn = 9, kIdKeyId = 11 };

// What both ends of a tunnel agree on, from this side's point of view: identities, the key, and
// the traffic selectors (what this side protects, and what it accepts from the peer).
struct TunnelSpec {
  uint8_t local_id_type = kIdRfc822;
  std::string local_id;
  uint8_t remote_id_type = kIdFqdn;
  std::string remote_id;  // required of the peer (and sent as IDr by an initiator)
  const Secret* psk = nullptr;
  // Set: authenticate with certificates (ike/auth.h: CERT, CERTREQ, RFC 7427 signatures) instead.
  std::shared_ptr<const PubkeyAuth> pubkey;
  TrafficSelector local_ts, remote_ts;
  FragmentConfig fragmentation;  // IKE fragmentation (RFC 7383): Fragmentation= and FragmentSize=
};

struct InitiatorConfig {
  sockaddr_in local{};   // address and port 500 to send from
  sockaddr_in remote{};  // the responder, port 500
  TunnelSpec tunnel;
  Suite suite;
  uint32_t child_spi = 0;  // our inbound ESP SPI (from the kernel's ALLOCSPI)
  bool nat_traversal = true;  // detect NAT and float to UDP 4500 (RFC 7296 2.23, RFC 3948)
  std::chrono::seconds keepalive_interval{20};
  std::chrono::milliseconds first_timeout{1000};
  int retransmissions = 5;  // then give up (1+2+4+8+16+32 s by default)
};

struct EstablishedSa {
  bool initiator = true;  // our role in this IKE SA
  Suite suite;           // the algorithms negotiated (IKE SA and CHILD_SA)
  uint64_t spi_i = 0, spi_r = 0;
  IkeKeys keys;
  uint32_t next_message_id = 2;
  uint32_t child_spi_in = 0, child_spi_out = 0;
  ChildKeys child_keys;
  TrafficSelector local_ts, remote_ts;  // as the responder narrowed them
  bool behind_nat = false;   // a NAT was detected: IKE and ESP run in UDP 4500
  uint16_t local_port = 500, remote_port = 500;
  uint64_t iv_counter = 1;   // the SK payload IV: never repeated under one key
  // IKE fragmentation (RFC 7383): we announced it, so the peer's SKF fragments are reassembled;
  // and the largest datagram our protected messages may take when both announced it and we
  // send fragments (0: never fragmented).
  bool fragmentation = false;
  size_t fragment_size = 0;
};

class Initiator {
 public:
  explicit Initiator(InitiatorConfig config) : config_(std::move(config)) {}
  // Opens the socket and runs both exchanges; errors name the exchange and the peer's notify.
  Result<EstablishedSa> establish();
  // Runs the established SA (see ike::serve).
  Status serve(EstablishedSa& sa, ServeOptions options) {
    options.keepalive = config_.keepalive_interval;
    return ike::serve(endpoint_, sa, peer_, options);
  }

 private:
  // Sends the request's datagrams (all fragments) until a response with `message_id` comes
  // that `take` accepts (any, without one), retransmitting them all.
  using Take = std::function<bool(const Message&, const Bytes&)>;
  Result<Bytes> exchange(const std::vector<Bytes>& request, uint32_t message_id, const Take& take = nullptr);
  Status use_port(uint16_t port, bool encapsulating);
  InitiatorConfig config_;
  Endpoint endpoint_;
  sockaddr_in peer_{};
};

const char* notify_name(uint16_t type);

}  // namespace sedge::ike

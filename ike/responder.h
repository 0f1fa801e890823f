// The IKEv2 responder: accepts IKE_SA_INIT (choosing its configured suite, e.g. the Secure Edge
// profile's AES-GCM-16-128, PRF HMAC-SHA2-256, DH group 14, among the initiator's proposals, and
// asking for its group with INVALID_KE_PAYLOAD when the KE is for another), then IKE_AUTH with a pre-shared key and the first CHILD_SA,
// narrowing the traffic selectors to its own. Refusals go back as the RFC's error notifies.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "common/secret.h"
#include "ike/endpoint.h"
#include "ike/initiator.h"

namespace sedge::ike {

struct ResponderConfig {
  sockaddr_in local{};  // the address to listen on (ports 500 and 4500)
  TunnelSpec tunnel;    // remote_id: the only initiator identity accepted
  Suite suite;          // the one suite accepted
  // Our inbound ESP SPI for a peer (the kernel's ALLOCSPI).
  std::function<Result<uint32_t>(const sockaddr_in& peer)> allocate_spi;
};

class Responder {
 public:
  explicit Responder(ResponderConfig config) : config_(std::move(config)) {}
  Status listen();
  // Waits up to `timeout` for an initiator and completes both exchanges with it.
  Result<EstablishedSa> accept(std::chrono::seconds timeout);
  const sockaddr_in& peer() const { return peer_; }
  Status serve(EstablishedSa& sa, const ServeOptions& options) { return ike::serve(*active_, sa, peer_, options); }

 private:
  Status refuse(const Message& request, uint16_t notify, const Bytes& data, const EstablishedSa* sa);
  // The next message on either port; `active_` becomes the endpoint it came on.
  Result<Bytes> receive(int timeout_ms, sockaddr_in& from);
  ResponderConfig config_;
  Endpoint ike_port_, natt_port_;  // 500, and 4500 (initiators float there after IKE_SA_INIT)
  const Endpoint* active_ = &ike_port_;
  sockaddr_in peer_{};
};

}  // namespace sedge::ike

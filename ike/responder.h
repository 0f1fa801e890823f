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

// ---- The responder's half of IKE_SA_INIT and IKE_AUTH as steps, shared by Responder (one
// initiator, blocking) and Server (many, on an event loop, the costly steps on a worker pool).

// The error notify (RFC 7296 3.10.1) a request is answered with; 0: none, the request is dropped.
struct Refusal {
  uint16_t notify = 0;
  Bytes data;
};

// An IKE_SA_INIT request checked against our suite (cheap: no cryptography).
struct InitOffer {
  Proposal chosen;  // the initiator's proposal reduced to our suite
  Bytes ke;         // its public value (without group and reserved bytes)
  Bytes ni;
  bool nat_detection = false;  // it sent NAT_DETECTION_* notifies
};
Result<InitOffer> read_ike_sa_init(const Message& init, const Suite& suite, Refusal* refusal);

// What lies between IKE_SA_INIT and IKE_AUTH on the responder.
struct HalfOpenSa {
  EstablishedSa sa;  // SPIs, suite, IKE SA keys
  Bytes init_request, init_response, ni, nr;
  bool nat = false;  // the initiator's NAT detection says a NAT is in between
};
// The costly step: our key exchange and nonce, the shared secret, the IKE SA keys, the response.
Result<HalfOpenSa> answer_ike_sa_init(const Suite& suite, const InitOffer& offer, uint64_t spi_i, uint64_t spi_r,
                                      Bytes init_request, const sockaddr_in& local, const sockaddr_in& peer,
                                      const std::vector<Payload>& init_payloads, const TrustStore* certreq = nullptr,
                                      const FragmentConfig* fragmentation = nullptr);
// (`certreq`: we authenticate with certificates; the response carries CERTREQ for these CAs and,
// if the initiator sent one, SIGNATURE_HASH_ALGORITHMS. `fragmentation`: IKEV2_FRAGMENTATION_SUPPORTED
// is answered when the initiator sent it and we announce it, which sets `sa.fragmentation` and
// `sa.fragment_size`.)

// IKE_AUTH checked: the peer's identity and AUTH (a PRF over the IKE_SA_INIT request), the ESP
// proposal and the traffic selectors; and our AUTH and the CHILD_SA keys, computed.
struct AuthAnswer {
  const TunnelSpec* tunnel = nullptr;
  std::string peer_id;
  Proposal esp;
  Bytes idr, auth;  // our IDr and AUTH payload bodies
  std::vector<Payload> certs;  // our CERT payloads (certificate authentication)
  ChildKeys child_keys;
};
// `tunnel_for(id type, id)`: the tunnel of an initiator identity, null if none is accepted.
using TunnelLookup = std::function<const TunnelSpec*(uint8_t id_type, const std::string& id)>;
Result<AuthAnswer> check_ike_auth(const HalfOpenSa& half, const std::vector<Payload>& inner, const TunnelLookup& tunnel_for,
                                  Refusal* refusal);
// The IKE_AUTH response (message 1) with our inbound ESP SPI; completes `half.sa`. The datagrams
// form: its IKE fragments when `half.sa.fragment_size` says so (RFC 7383), else one message.
std::vector<Bytes> answer_ike_auth_datagrams(HalfOpenSa& half, AuthAnswer& answer, uint32_t spi_in, const sockaddr_in& peer);
Bytes answer_ike_auth(HalfOpenSa& half, AuthAnswer& answer, uint32_t spi_in, const sockaddr_in& peer);
// A refusal as the response to `request`: in the clear for IKE_SA_INIT, else sealed with `sa`.
Bytes refusal_message(const Message& request, const Refusal& refusal, EstablishedSa* sa);

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
  Status refuse(const Message& request, const Refusal& refusal, EstablishedSa* sa);
  // The next message on either port; `active_` becomes the endpoint it came on.
  Result<Bytes> receive(int timeout_ms, sockaddr_in& from);
  ResponderConfig config_;
  Endpoint ike_port_, natt_port_;  // 500, and 4500 (initiators float there after IKE_SA_INIT)
  const Endpoint* active_ = &ike_port_;
  sockaddr_in peer_{};
};

}  // namespace sedge::ike

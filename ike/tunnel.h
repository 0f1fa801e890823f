// What both ends of a tunnel agree on, from this side's point of view: identities, the key or
// certificates, the traffic selectors and IKE fragmentation.
#pragma once

#include <memory>
#include <string>

#include "common/secret.h"
#include "ike/certs.h"
#include "ike/fragment.h"
#include "ike/message.h"
#include "ike/protocol.h"

namespace sedge::ike {

struct TunnelSpec {
  uint8_t local_id_type = kIdRfc822;
  std::string local_id;
  uint8_t remote_id_type = kIdFqdn;
  std::string remote_id;  // required of the peer (and sent as IDr by an initiator)
  const Secret* psk = nullptr;
  // Set: authenticate with certificates (ike/auth.h: CERT, CERTREQ, RFC 7427 signatures) instead.
  std::shared_ptr<const PubkeyAuth> pubkey;
  TrafficSelector local_ts, remote_ts;  // what this side protects, and what it accepts from the peer
  FragmentConfig fragmentation;         // IKE fragmentation (RFC 7383): Fragmentation= and FragmentSize=
};

}  // namespace sedge::ike

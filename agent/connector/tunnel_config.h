// A tunnel of the configuration as the IKE engine runs it: identities, key or certificates,
// proposals, selectors, fragmentation, DPD, lifetimes and retransmission. One translation, used
// by sedge-connect and by the daemon's connectors.
#pragma once

#include <string>

#include "agent/config/config.h"
#include "common/result.h"
#include "ike/ike_sa.h"

namespace sedge::connector {

// A selector of all addresses of a prefix, any protocol and port.
ike::TrafficSelector selector(const config::Prefix& prefix);

// The engine's configuration of `tunnel` (its connector's defaults where it has none). The PSK
// is referred to, not copied: `config` must outlive the result. Errors name the tunnel.
Result<ike::SaConfig> sa_config(const config::Config& config, const std::string& name);

}  // namespace sedge::connector

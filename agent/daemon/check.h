// The configuration check of `sedged --check-config|--check-startable` and `sedgectl check`,
// without the daemon.
#pragma once

#include <cstdint>

#include "agent/config/config.h"

namespace sedge::agent {

// strict: any error fails the check (`sedged --check-config`, `sedgectl check`). startable: only
// what keeps the daemon from starting fails it; objects with errors are reported and left out,
// as the daemon itself does (`sedged --check-startable`, the unit's ExecStartPre=, so one bad
// tunnel does not keep the others down).
enum class CheckMode : uint8_t { strict, startable };

// Parses the INI configuration, prints diagnostics to stderr and the effective configuration
// (secrets masked) to stdout; returns 0 when it passes the check of `mode`.
int check_config(const config::Sources& sources, CheckMode mode = CheckMode::strict);

}  // namespace sedge::agent

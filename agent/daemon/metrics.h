// sedged's metrics in the Prometheus text exposition format (version 0.0.4), for
// `sedgectl metrics` and the node exporter's textfile collector. A pure function of Describe
// and the kernel's SA counters, so a unit test feeds it fixed input and promtool checks it.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace sedge::agent {

struct SaCounters {
  uint64_t bytes = 0;
  uint64_t packets = 0;
};
// The kernel's ESP SAs by SPI as Describe writes it (hex32: "0xc1234567"), both directions.
using SaStats = std::map<std::string, SaCounters>;

// Tunnels configured and up, each tunnel's state, SA bytes and packets (its live CHILD_SAs'
// SPIs looked up in `sas`) and rekeys; per steering profile its failovers and each path's
// state and counters; each rule's counters; onboarding. Labels are escaped as the format says.
std::string format_metrics(const nlohmann::json& describe, const SaStats& sas);

}  // namespace sedge::agent

// sedgectl's rendering: Describe JSON (org.sedge.Agent1.Describe) in, text or the relevant JSON
// out. Pure functions, no bus and no clock: the caller passes the current CLOCK_REALTIME time in
// microseconds, and absolute times are shown in the local time zone (TZ).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sedge::ctl {

using nlohmann::json;

// A text table whose columns are as wide as their widest cell (header included), two spaces
// apart; the last column is not padded. Numeric columns (right) are aligned right.
struct Table {
  enum class Align { left, right };
  std::vector<std::string> header;
  std::vector<Align> align;  // per column; missing entries are left-aligned
  std::vector<std::vector<std::string>> rows;
  std::string indent;  // before every line
};
std::string format_table(const Table& table);

// The display width of a UTF-8 string (code points).
size_t display_width(const std::string& s);

// "just now", "42s ago", "3m12s ago", "2h05m ago", "3d04h ago"; "-" when `since_usec` is 0.
std::string relative_time(uint64_t since_usec, uint64_t now_usec);
// "2025-01-02 10:03:12" in the local time zone; "-" when 0.
std::string absolute_time(uint64_t usec);
// "512 B", "1.5 KiB", "12.0 MiB", ...
std::string format_bytes(uint64_t bytes);

// Every tunnel of every connector, in Describe's order, each with its connector's name added as
// "connector" (`sedgectl list --json`).
json tunnels_json(const json& describe);
// A connector (its object from Describe) or else a tunnel (with "connector") by name; null when
// there is neither (`sedgectl status NAME --json`).
json find_json(const json& describe, const std::string& name);
// The tunnels that have an IKE SA, their SA fields only (`sedgectl sa --json`).
json sas_json(const json& describe);
// Describe's "steering" (null when the classifier does not run) (`sedgectl steering --json`).
json steering_json(const json& describe);

// `sedgectl list`: NAME CONNECTOR ROLE STATE SINCE REMOTE.
std::string render_list(const json& describe, uint64_t now_usec);
// `sedgectl status`: the daemon, its configuration, every tunnel with its state, the policies.
std::string render_status(const json& describe, uint64_t now_usec);
// `sedgectl status NAME`: a connector and each of its tunnels, or one tunnel, in detail. Empty
// when there is no such connector or tunnel.
std::string render_details(const json& describe, const std::string& name, uint64_t now_usec);
// `sedgectl sa`: the IKE SAs and their CHILD_SAs, as `swanctl --list-sas` shows them.
std::string render_sas(const json& describe, uint64_t now_usec);
// `sedgectl steering`: the profiles with their paths (the active one marked), the rule counters.
std::string render_steering(const json& describe);

// `sedgectl onboard status`: OnboardingStatus (org.sedge.Agent1) as "Key: value" lines -
// the router and conductor on record, its certificate, "Auth State:" and the management
// channel, and what the daemon says of the last attempt.
std::string render_onboarding(const json& status);

// `sedgectl monitor`: the tunnels whose state changed between two Describe results (a tunnel
// that appeared or went away included), as events:
//   {"time_usec", "name", "connector", "previous", "state", "last_error", "tunnel"}
// where "previous"/"state" are null for a tunnel that appeared/went away, "tunnel" is the
// tunnel's new object (null when it went away), and "time_usec" is the tunnel's since_usec, or
// `now_usec` when it has none.
json tunnel_changes(const json& before, const json& after, uint64_t now_usec);
// One line for an event of tunnel_changes, with its timestamp (no newline).
std::string render_event(const json& event);

}  // namespace sedge::ctl

// The policy set both steering test suites use: two LAN networks, a "Cloud" ordered profile
// (primary, secondary), a weighted profile, and rules in order.
#pragma once

#include <arpa/inet.h>

#include "agent/config/values.h"
#include "agent/steering/compiler.h"

namespace sedge::steering::testing {

inline config::Prefix P(const char* text) { return *config::parse_prefix(text); }

constexpr uint32_t kLan0 = 100, kLan1 = 101;  // ingress ifindexes used in test runs

inline PolicySet sample_policy() {
  PolicySet s;
  s.networks = {{"lan0", kLan0, Action::breakout, ""}, {"lan1", kLan1, Action::steer, "Cloud"}};
  s.profiles = {{"Cloud", config::Strategy::ordered, {{"pop1-primary", 1}, {"pop2-secondary", 1}}},
                {"Spread", config::Strategy::weighted, {{"pop1-primary", 1}, {"pop2-secondary", 3}}}};
  s.rules = {
      {"block-telnet", {}, {}, {}, 6, {{23, 23}}, Action::deny, ""},
      {"corp-dns-local", {"lan0"}, {}, {P("10.0.0.0/8")}, 17, {{53, 53}}, Action::breakout, ""},
      {"web-via-cloud", {"lan0"}, {P("10.99.99.0/25")}, {}, 6, {{80, 80}, {443, 443}}, Action::steer, "Cloud"},
      {"saas-v6", {}, {}, {P("2001:db8:5::/48")}, 0, {}, Action::steer, "Spread"},
      {"servers", {"lan0"}, {}, {P("10.201.0.0/16")}, 0, {}, Action::steer, "Cloud"},
  };
  return s;
}

}  // namespace sedge::steering::testing

// The steering policy compiler: ordered application policies and steering profiles in, the
// classifier's map contents out (bpf/maps.h). Pure: no kernel, no BPF, table-testable.
//
// First match wins in policy order. The classifier finds the longest of a network's prefixes
// that holds the destination (one hash lookup per prefix length the network uses), so for
// every destination prefix P the compiler precomputes the chain of rule entries whose
// destination contains P, in policy order; prefixes that contain one address are nested, so
// the longest match's chain holds every rule that can apply.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/config/model.h"
#include "bpf/steer_loader.h"
#include "common/result.h"

namespace sedge::steering {

enum class Action { steer, breakout, deny };

struct Network {        // a LAN the classifier is attached to
  std::string name;
  uint32_t ifindex = 0;
  Action default_action = Action::breakout;  // for traffic no rule matches
  std::string default_profile;
};

struct Rule {
  std::string name;
  std::vector<std::string> networks;          // empty = every network
  std::vector<config::Prefix> sources;        // empty = any
  std::vector<config::Prefix> destinations;   // empty = any (IPv4 and IPv6)
  uint8_t protocol = 0;                       // 0 = any
  std::vector<config::PortRange> ports;       // destination ports; empty = any
  Action action = Action::steer;
  std::string profile;
};

struct ProfilePath {
  std::string path;  // a tunnel, connector or breakout:<wan>; each distinct name is one path id
  uint32_t weight = 1;
};

struct Profile {
  std::string name;
  config::Strategy strategy = config::Strategy::ordered;
  std::vector<ProfilePath> paths;
};

struct PolicySet {
  std::vector<Network> networks;
  std::vector<Rule> rules;  // in evaluation order
  std::vector<Profile> profiles;
};

struct Compiled {
  bpf::SteerTables tables;
  std::vector<std::string> rule_names;         // by rule id (counter index)
  std::vector<std::string> path_names;         // by path id (mark = SEDGE_STEER_PATH_MARK(id))
  std::map<std::string, uint32_t> profile_ids;
  std::map<std::string, uint32_t> path_ids;
  std::vector<std::string> warnings;
};

// Fails (naming the rule and network) when the set cannot be expressed: an unknown profile or
// network, too many paths, more overlapping entries at one destination than the classifier
// checks (SEDGE_STEER_CHAIN_LEN), or more prefix lengths in one network than it probes.
Result<Compiled> compile(const PolicySet& set);

// The policy set a configuration describes. `ifindex_of` resolves LAN device names (0 = absent:
// that network is skipped with a warning).
template <typename Resolve>
PolicySet from_config(const config::Config& cfg, Resolve ifindex_of, std::vector<std::string>& warnings);

}  // namespace sedge::steering

#include "agent/steering/from_config.inl"

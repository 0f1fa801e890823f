#include "agent/steering/compiler.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>
#include <unordered_map>

namespace sedge::steering {
namespace {

using config::Prefix;

// Rules are compared pairwise for warnings only below this size (the check is quadratic).
constexpr size_t kMaxRulesForOverlapWarnings = 2000;

uint8_t encode(Action a) {
  switch (a) {
    case Action::steer: return SEDGE_STEER_PROFILE;
    case Action::breakout: return SEDGE_STEER_BREAKOUT;
    case Action::deny: return SEDGE_STEER_DENY;
  }
  return SEDGE_STEER_NONE;
}

Prefix any_of(int family) {
  Prefix p;
  p.family = family;
  return p;
}

Prefix masked(const Prefix& p, unsigned len) {
  Prefix m = p;
  m.length = static_cast<uint8_t>(len);
  for (unsigned bit = len; bit < 128; ++bit) m.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return m;
}

struct PrefixHash {
  size_t operator()(const Prefix& p) const {
    size_t h = static_cast<size_t>(p.family) * 131u + p.length;
    for (uint8_t b : p.bytes) h = h * 31u + b;
    return h;
  }
};

// One candidate of a chain before placement: the rule's destination and one entry.
struct Atom {
  Prefix dst;
  sedge_entry entry;
  size_t rule_index;
};

std::vector<Atom> atoms_of(const Rule& r, size_t rule_index, uint32_t rule_id, uint32_t profile_id) {
  std::vector<Prefix> dsts = r.destinations;
  if (dsts.empty()) dsts = {any_of(AF_INET), any_of(AF_INET6)};
  std::vector<config::PortRange> ports = r.ports;
  if (ports.empty()) ports = {config::PortRange{0, 0}};
  std::vector<Atom> out;
  for (const Prefix& dst : dsts) {
    std::vector<Prefix> srcs;
    for (const Prefix& s : r.sources) {
      if (s.family == dst.family) srcs.push_back(s);
    }
    if (r.sources.empty()) srcs = {any_of(dst.family)};
    for (const Prefix& src : srcs) {
      for (const auto& pr : ports) {
        sedge_entry e{};
        e.rule_id = rule_id;
        e.profile = profile_id;
        e.port_lo = pr.first;
        e.port_hi = pr.last;
        e.proto = r.protocol;
        e.action = encode(r.action);
        e.src_len = src.length;
        std::memcpy(e.src, src.bytes, sizeof e.src);
        out.push_back({dst, e, rule_index});
      }
    }
  }
  return out;
}

bool covers(const std::vector<Prefix>& a, const std::vector<Prefix>& b) {  // empty = any
  if (a.empty()) return true;
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(), [&](const Prefix& x) {
    return std::any_of(a.begin(), a.end(), [&](const Prefix& y) { return y.contains(x); });
  });
}

bool intersects(const std::vector<Prefix>& a, const std::vector<Prefix>& b) {
  if (a.empty() || b.empty()) return true;
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x.overlaps(y)) return true;
    }
  }
  return false;
}

bool ports_cover(const std::vector<config::PortRange>& a, const std::vector<config::PortRange>& b) {
  if (a.empty()) return true;
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(), [&](const config::PortRange& x) {
    return std::any_of(a.begin(), a.end(), [&](const config::PortRange& y) { return y.first <= x.first && x.last <= y.last; });
  });
}

bool ports_intersect(const std::vector<config::PortRange>& a, const std::vector<config::PortRange>& b) {
  if (a.empty() || b.empty()) return true;
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x.first <= y.last && y.first <= x.last) return true;
    }
  }
  return false;
}

// The address families a rule can match (bit 0: IPv4, bit 1: IPv6).
unsigned families(const Rule& r) {
  auto of = [](const std::vector<Prefix>& list) {
    if (list.empty()) return 3u;
    unsigned f = 0;
    for (const auto& p : list) f |= p.family == AF_INET ? 1u : 2u;
    return f;
  };
  return of(r.destinations) & of(r.sources);
}

bool networks_cover(const Rule& a, const Rule& b) {
  if (a.networks.empty()) return true;
  if (b.networks.empty()) return false;
  return std::all_of(b.networks.begin(), b.networks.end(), [&](const std::string& n) {
    return std::find(a.networks.begin(), a.networks.end(), n) != a.networks.end();
  });
}

bool networks_intersect(const Rule& a, const Rule& b) {
  if (a.networks.empty() || b.networks.empty()) return true;
  return std::any_of(a.networks.begin(), a.networks.end(), [&](const std::string& n) {
    return std::find(b.networks.begin(), b.networks.end(), n) != b.networks.end();
  });
}

void warn_overlaps(const PolicySet& set, std::vector<std::string>& warnings) {
  if (set.rules.size() > kMaxRulesForOverlapWarnings) {
    warnings.push_back("more than " + std::to_string(kMaxRulesForOverlapWarnings) +
                       " rules: shadowed and overlapping rules are not analysed");
    return;
  }
  for (size_t j = 0; j < set.rules.size(); ++j) {
    const Rule& b = set.rules[j];
    for (size_t i = 0; i < j; ++i) {
      const Rule& a = set.rules[i];
      const bool proto_covers = a.protocol == 0 || a.protocol == b.protocol;
      const bool proto_meets = a.protocol == 0 || b.protocol == 0 || a.protocol == b.protocol;
      if (networks_cover(a, b) && covers(a.destinations, b.destinations) && covers(a.sources, b.sources) &&
          proto_covers && ports_cover(a.ports, b.ports)) {
        warnings.push_back("rule " + b.name + " never matches: the earlier rule " + a.name + " takes all its traffic");
        break;
      }
      const bool same_outcome = a.action == b.action && a.profile == b.profile;
      if (!same_outcome && (families(a) & families(b)) != 0 && networks_intersect(a, b) && intersects(a.destinations, b.destinations) &&
          intersects(a.sources, b.sources) && proto_meets && ports_intersect(a.ports, b.ports) &&
          !covers(b.destinations, a.destinations)) {
        warnings.push_back("rules " + a.name + " and " + b.name + " overlap: the earlier, " + a.name +
                           ", decides their common traffic");
      }
    }
  }
}

// The prefix lengths a network's rules use, longest first, into its sedge_net.
template <size_t N>
Status set_lengths(const std::string& network, const std::set<unsigned, std::greater<>>& lengths, uint8_t (&out)[N],
                   size_t max, uint8_t& count) {
  if (lengths.size() > max) {
    return Error{"network " + network + ": the rules use " + std::to_string(lengths.size()) +
                     " different destination prefix lengths of one family; the classifier probes at most " + std::to_string(max),
                 E2BIG};
  }
  count = 0;
  for (unsigned len : lengths) out[count++] = static_cast<uint8_t>(len);
  return {};
}

}  // namespace

Result<Compiled> compile(const PolicySet& set) {
  Compiled out;
  out.path_names.emplace_back("");  // path id 0 is unused: marks start at 1
  // Profiles and their paths: path ids are global (one mark, one route table per path).
  for (const auto& prof : set.profiles) {
    if (prof.paths.empty() || prof.paths.size() > SEDGE_STEER_PROFILE_PATHS) {
      return Error{"steering profile " + prof.name + " has " + std::to_string(prof.paths.size()) + " paths; 1 to " +
                       std::to_string(SEDGE_STEER_PROFILE_PATHS) + " are possible",
                   EINVAL};
    }
    const auto id = static_cast<uint32_t>(out.tables.profiles.size());
    if (!out.profile_ids.emplace(prof.name, id).second) return Error{"steering profile " + prof.name + " is defined twice", EINVAL};
    sedge_profile p{};
    p.strategy = prof.strategy == config::Strategy::ordered ? SEDGE_STEER_ORDERED : SEDGE_STEER_WEIGHTED;
    std::set<std::string> seen;
    for (const auto& path : prof.paths) {
      if (!seen.insert(path.path).second) {
        out.warnings.push_back("steering profile " + prof.name + ": path " + path.path + " is listed twice; the second is unreachable");
      }
      if (prof.strategy == config::Strategy::weighted && path.weight == 0) {
        out.warnings.push_back("steering profile " + prof.name + ": path " + path.path + " has weight 0 and is never used");
      }
      auto [it, added] = out.path_ids.emplace(path.path, static_cast<uint32_t>(out.path_names.size()));
      if (added) out.path_names.push_back(path.path);
      p.path_ids[p.npaths] = it->second;
      p.weights[p.npaths] = path.weight;
      ++p.npaths;
    }
    out.tables.profiles.push_back(p);
  }
  // Rule ids: 0 is "no rule", rules 1..N, then one per network's default.
  out.rule_names.emplace_back("");
  for (const auto& r : set.rules) out.rule_names.push_back(r.name);
  std::map<std::string, uint32_t> net_ids;
  for (size_t n = 0; n < set.networks.size(); ++n) {
    const Network& net = set.networks[n];
    const auto net_id = static_cast<uint32_t>(n + 1);
    net_ids[net.name] = net_id;
    sedge_net v{};
    v.net_id = net_id;
    v.default_action = encode(net.default_action);
    if (net.default_action == Action::steer) {
      auto it = out.profile_ids.find(net.default_profile);
      if (it == out.profile_ids.end()) return Error{"network " + net.name + ": unknown default profile " + net.default_profile, EINVAL};
      v.default_profile = it->second;
    }
    v.default_rule = static_cast<uint32_t>(out.rule_names.size());
    out.rule_names.push_back("(default of " + net.name + ")");
    out.tables.nets.emplace_back(net.ifindex, v);
  }
  // Atoms per network, in rule order.
  std::vector<std::vector<Atom>> per_net(set.networks.size());
  std::vector<bool> used_profiles(set.profiles.size());
  for (size_t i = 0; i < set.rules.size(); ++i) {
    const Rule& r = set.rules[i];
    uint32_t profile_id = 0;
    if (r.action == Action::steer) {
      auto it = out.profile_ids.find(r.profile);
      if (it == out.profile_ids.end()) return Error{"rule " + r.name + ": unknown steering profile " + r.profile, EINVAL};
      profile_id = it->second;
      used_profiles[profile_id] = true;
    }
    for (const auto& n : r.networks) {
      if (!net_ids.count(n)) return Error{"rule " + r.name + ": unknown network " + n, EINVAL};
    }
    const auto atoms = atoms_of(r, i, static_cast<uint32_t>(i + 1), profile_id);
    for (size_t n = 0; n < set.networks.size(); ++n) {
      if (!r.networks.empty() && std::find(r.networks.begin(), r.networks.end(), set.networks[n].name) == r.networks.end()) continue;
      per_net[n].insert(per_net[n].end(), atoms.begin(), atoms.end());
    }
  }
  for (const auto& prof : set.profiles) {
    if (!used_profiles[out.profile_ids.at(prof.name)]) out.warnings.push_back("steering profile " + prof.name + " is used by no rule");
  }
  // Chains: for each distinct destination prefix of a network, every atom whose destination
  // contains it, in rule order. Ancestors are found by masking to each shorter length the
  // network uses; the classifier probes the same lengths, longest first.
  for (size_t n = 0; n < set.networks.size(); ++n) {
    const uint32_t net_id = static_cast<uint32_t>(n + 1);
    std::unordered_map<Prefix, std::vector<size_t>, PrefixHash> by_prefix;  // prefix -> atom indexes
    std::set<unsigned, std::greater<>> lengths[2];                          // IPv4, IPv6; longest first
    const auto& atoms = per_net[n];
    by_prefix.reserve(atoms.size());
    out.tables.entries.reserve(out.tables.entries.size() + atoms.size());
    for (size_t a = 0; a < atoms.size(); ++a) {
      by_prefix[atoms[a].dst].push_back(a);
      lengths[atoms[a].dst.family == AF_INET ? 0 : 1].insert(atoms[a].dst.length);
    }
    sedge_net& net = out.tables.nets[n].second;
    if (auto st = set_lengths(set.networks[n].name, lengths[0], net.len4, SEDGE_STEER_MAX_LENGTHS4, net.nlen4); !st) return st.error();
    if (auto st = set_lengths(set.networks[n].name, lengths[1], net.len6, SEDGE_STEER_MAX_LENGTHS6, net.nlen6); !st) return st.error();
    std::vector<size_t> chain;
    for (const auto& [prefix, own] : by_prefix) {
      chain.clear();
      for (unsigned len : lengths[prefix.family == AF_INET ? 0 : 1]) {
        if (len > prefix.length) continue;
        auto it = len == prefix.length ? by_prefix.find(prefix) : by_prefix.find(masked(prefix, len));
        if (it != by_prefix.end()) chain.insert(chain.end(), it->second.begin(), it->second.end());
      }
      std::sort(chain.begin(), chain.end());  // atom order is rule order
      if (chain.size() > SEDGE_STEER_CHAIN_LEN) {
        return Error{"network " + set.networks[n].name + ": " + std::to_string(chain.size()) +
                         " rule entries apply to destination " + prefix.str() + " (from rule " +
                         set.rules[atoms[chain.front()].rule_index].name + " on); the classifier checks at most " +
                         std::to_string(SEDGE_STEER_CHAIN_LEN) + ": merge ports or sources, or split prefixes",
                     E2BIG};
      }
      // A chain starts at most SEDGE_STEER_CHAIN_LEN entries before the end of a block, so it
      // never crosses one (the classifier reads it with one lookup) and the verifier sees
      // every entry it may read inside the block.
      auto& entries = out.tables.entries;
      if (entries.size() % SEDGE_STEER_BLOCK_ENTRIES > SEDGE_STEER_BLOCK_ENTRIES - SEDGE_STEER_CHAIN_LEN) {
        entries.resize((entries.size() / SEDGE_STEER_BLOCK_ENTRIES + 1) * SEDGE_STEER_BLOCK_ENTRIES);
      }
      const sedge_chain ref{static_cast<uint32_t>(entries.size()), static_cast<uint32_t>(chain.size())};
      for (size_t a : chain) entries.push_back(atoms[a].entry);
      if (prefix.family == AF_INET) {
        sedge_prefix4_key k{};
        k.net_id = net_id;
        k.len = prefix.length;
        std::memcpy(k.addr, prefix.bytes, 4);
        out.tables.prefix4.emplace_back(k, ref);
      } else {
        sedge_prefix6_key k{};
        k.net_id = net_id;
        k.len = prefix.length;
        std::memcpy(k.addr, prefix.bytes, 16);
        out.tables.prefix6.emplace_back(k, ref);
      }
    }
  }
  warn_overlaps(set, out.warnings);
  return out;
}

}  // namespace sedge::steering

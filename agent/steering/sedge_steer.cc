// sedge-steer: compiles the steering policy of a configuration, loads the classifier (maps
// pinned under --pin), attaches it at ingress of every LAN, installs each path's fwmark rule
// and route table, and moves traffic between paths.
//   sedge-steer apply [--config-dir D] [--pin DIR] --path NAME=DEVICE[@GATEWAY]...
//   sedge-steer set-active [--pin DIR] PROFILE_ID INDEX     one map write
//   sedge-steer counter [--pin DIR] rule|path ID            packets bytes
//   sedge-steer flow-cache [--pin DIR]                      hits misses stale inserts
#include <getopt.h>
#include <net/if.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "agent/config/config.h"
#include "agent/config/values.h"
#include "agent/steering/compiler.h"
#include "agent/steering/paths.h"
#include "bpf/steer_loader.h"

namespace {

using namespace sedge;

int fail(const std::string& what) {
  std::cerr << "sedge-steer: " << what << "\n";
  return 1;
}

// A bad command line: what is wrong, the usage, exit status 2.
int usage(const std::string& what) {
  std::cerr << "sedge-steer: " << what << "\n"
            << "usage: sedge-steer apply [--config-dir D] [--pin DIR] --path NAME=DEVICE[@GATEWAY]...\n"
               "       sedge-steer set-active [--pin DIR] PROFILE_ID INDEX\n"
               "       sedge-steer counter [--pin DIR] rule|path ID\n"
               "       sedge-steer flow-cache [--pin DIR]\n";
  return 2;
}

struct Args {
  std::string command, pin = bpf::SteerProgram::kDefaultPinDir;
  config::Sources sources = config::Sources::from_environment();
  std::map<std::string, steering::PathRoute> paths;
  std::vector<std::string> rest;
};

// The offending option of a getopt_long '?' or ':' (opterr off).
std::string bad_option(char** argv) {
  const char* arg = optind > 0 ? argv[optind - 1] : "";
  if (std::strncmp(arg, "--", 2) == 0 || optopt == 0) return arg;
  return std::string("-") + static_cast<char>(optopt);
}

Status add_path(Args& a, const std::string& v) {
  const size_t eq = v.find('='), at = v.find('@');
  if (eq == std::string::npos) return Error{"--path takes NAME=DEVICE[@GATEWAY], not '" + v + "'", EINVAL};
  steering::PathRoute r;
  r.device = v.substr(eq + 1, at == std::string::npos ? std::string::npos : at - eq - 1);
  if (at != std::string::npos) {
    auto gw = netlink::IpAddress::parse(v.substr(at + 1));
    if (!gw) return gw.error().context("--path " + v);
    r.gateway = *gw;
  }
  a.paths[v.substr(0, eq)] = r;
  return {};
}

Result<Args> parse(int argc, char** argv) {
  enum { kPin = 256, kConfigDir, kPath };
  static const option kOptions[] = {{"pin", required_argument, nullptr, kPin},
                                    {"config-dir", required_argument, nullptr, kConfigDir},
                                    {"path", required_argument, nullptr, kPath},
                                    {nullptr, 0, nullptr, 0}};
  Args a;
  bool custom_dirs = false;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":", kOptions, nullptr)) != -1) {
    switch (c) {
      case kPin: a.pin = optarg; break;
      case kConfigDir:
        if (!custom_dirs) a.sources.directories.clear();
        custom_dirs = true;
        a.sources.directories.emplace_back(optarg);
        break;
      case kPath:
        if (auto st = add_path(a, optarg); !st) return st.error();
        break;
      case ':': return Error{"option '" + bad_option(argv) + "' needs a value", EINVAL};
      default: return Error{"unknown option '" + bad_option(argv) + "'", EINVAL};
    }
  }
  if (optind < argc) a.command = argv[optind++];
  for (int i = optind; i < argc; ++i) a.rest.emplace_back(argv[i]);
  return a;
}

int apply(const Args& a) {
  auto loaded = config::load(a.sources);
  if (!loaded) return fail(loaded.error().message);
  for (const auto& d : loaded->diagnostics) std::cerr << d.str() << "\n";
  std::vector<std::string> warnings;
  const auto set = steering::from_config(loaded->config, [](const std::string& dev) { return if_nametoindex(dev.c_str()); }, warnings);
  auto compiled = steering::compile(set);
  if (!compiled) return fail(compiled.error().message);
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  for (const auto& w : compiled->warnings) std::cerr << "warning: " << w << "\n";
  const uint32_t cache_size = loaded->config.steering_flow_cache_size;
  auto prog = bpf::SteerProgram::load(a.pin, cache_size);
  if (!prog) return fail(prog.error().message);
  if (auto st = (*prog)->set_flow_cache(cache_size != 0); !st) return fail(st.error().message);
  if (auto st = (*prog)->replace_rules(compiled->tables); !st) return fail(st.error().message);
  auto rc = netlink::RouteClient::open();
  if (!rc) return fail(rc.error().message);
  if (auto st = steering::install_paths(*rc, *compiled, a.paths); !st) return fail(st.error().message);
  for (const auto& net : set.networks) {
    if (auto st = (*prog)->attach(static_cast<int>(net.ifindex)); !st) return fail(st.error().message);
    std::printf("attached to %s (ifindex %u), generation %u\n", net.name.c_str(), net.ifindex, (*prog)->generation());
  }
  for (const auto& [name, id] : compiled->profile_ids) std::printf("profile %s id %u\n", name.c_str(), id);
  for (uint32_t id = 1; id < compiled->path_names.size(); ++id) {
    std::printf("path %s id %u mark 0x%08x table %u\n", compiled->path_names[id].c_str(), id, SEDGE_STEER_PATH_MARK(id),
                steering::path_table(id));
  }
  for (uint32_t id = 1; id < compiled->rule_names.size(); ++id) std::printf("rule %s id %u\n", compiled->rule_names[id].c_str(), id);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args) return usage(args.error().message);
  const Args& a = *args;
  if (a.command == "apply" && a.rest.empty()) return apply(a);
  if (a.command == "set-active" && a.rest.size() == 2) {
    auto profile = config::parse_uint(a.rest[0], 0, UINT32_MAX), index = config::parse_uint(a.rest[1], 0, UINT32_MAX);
    if (!profile) return usage("PROFILE_ID: " + profile.error().message);
    if (!index) return usage("INDEX: " + index.error().message);
    auto prog = bpf::SteerProgram::load(a.pin);
    if (!prog) return fail(prog.error().message);
    if (auto st = (*prog)->set_active_path(*profile, *index); !st) return fail(st.error().message);
    return 0;
  }
  if (a.command == "counter" && a.rest.size() == 2 && (a.rest[0] == "path" || a.rest[0] == "rule")) {
    auto id = config::parse_uint(a.rest[1], 0, UINT32_MAX);
    if (!id) return usage("ID: " + id.error().message);
    auto prog = bpf::SteerProgram::load(a.pin);
    if (!prog) return fail(prog.error().message);
    auto c = a.rest[0] == "path" ? (*prog)->path_counter(*id) : (*prog)->rule_counter(*id);
    if (!c) return fail(c.error().message);
    std::printf("%llu %llu\n", static_cast<unsigned long long>(c->packets), static_cast<unsigned long long>(c->bytes));
    return 0;
  }
  if (a.command == "flow-cache" && a.rest.empty()) {
    auto prog = bpf::SteerProgram::load(a.pin);
    if (!prog) return fail(prog.error().message);
    auto f = (*prog)->flow_stats();
    if (!f) return fail(f.error().message);
    std::printf("%llu %llu %llu %llu\n", static_cast<unsigned long long>(f->hits), static_cast<unsigned long long>(f->misses),
                static_cast<unsigned long long>(f->stale), static_cast<unsigned long long>(f->inserts));
    return 0;
  }
  return usage(a.command.empty() ? "missing the command" : "wrong arguments for '" + a.command + "'");
}

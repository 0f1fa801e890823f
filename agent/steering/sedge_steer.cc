// sedge-steer: compiles the steering policy of a configuration, loads the classifier (maps
// pinned under --pin), attaches it at ingress of every LAN, installs each path's fwmark rule
// and route table, and moves traffic between paths.
//   sedge-steer apply [--config-dir D] [--pin DIR] --path NAME=DEVICE[@GATEWAY]...
//   sedge-steer set-active [--pin DIR] PROFILE_ID INDEX     one map write
//   sedge-steer counter [--pin DIR] rule|path ID            packets bytes
#include <net/if.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "agent/config/config.h"
#include "agent/steering/compiler.h"
#include "agent/steering/paths.h"
#include "bpf/steer_loader.h"

namespace {

using namespace sedge;

int fail(const std::string& what) {
  std::cerr << "sedge-steer: " << what << "\n";
  return 1;
}

struct Args {
  std::string command, pin = bpf::SteerProgram::kDefaultPinDir;
  config::Sources sources = config::Sources::from_environment();
  std::map<std::string, steering::PathRoute> paths;
  std::vector<std::string> rest;
};

Result<Args> parse(int argc, char** argv) {
  Args a;
  bool custom_dirs = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> Result<std::string> {
      if (i + 1 >= argc) return Error{arg + " needs a value", EINVAL};
      return std::string(argv[++i]);
    };
    if (arg == "--pin") {
      auto v = value();
      if (!v) return v.error();
      a.pin = *v;
    } else if (arg == "--config-dir") {
      auto v = value();
      if (!v) return v.error();
      if (!custom_dirs) a.sources.directories.clear();
      custom_dirs = true;
      a.sources.directories.emplace_back(*v);
    } else if (arg == "--path") {
      auto v = value();
      if (!v) return v.error();
      const size_t eq = v->find('='), at = v->find('@');
      if (eq == std::string::npos) return Error{"--path takes NAME=DEVICE[@GATEWAY]", EINVAL};
      steering::PathRoute r;
      r.device = v->substr(eq + 1, at == std::string::npos ? std::string::npos : at - eq - 1);
      if (at != std::string::npos) {
        auto gw = netlink::IpAddress::parse(v->substr(at + 1));
        if (!gw) return gw.error();
        r.gateway = *gw;
      }
      a.paths[v->substr(0, eq)] = r;
    } else if (a.command.empty()) {
      a.command = arg;
    } else {
      a.rest.push_back(arg);
    }
  }
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
  auto prog = bpf::SteerProgram::load(a.pin);
  if (!prog) return fail(prog.error().message);
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

Result<uint32_t> number(const std::string& s) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s.c_str(), &end, 0);
  if (s.empty() || *end || v > 0xffffffffUL) return Error{"'" + s + "' is not a number", EINVAL};
  return static_cast<uint32_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args) return fail(args.error().message);
  const Args& a = *args;
  if (a.command == "apply") return apply(a);
  if (a.command == "set-active" && a.rest.size() == 2) {
    auto profile = number(a.rest[0]), index = number(a.rest[1]);
    if (!profile || !index) return fail("set-active PROFILE_ID INDEX");
    auto prog = bpf::SteerProgram::load(a.pin);
    if (!prog) return fail(prog.error().message);
    if (auto st = (*prog)->set_active_path(*profile, *index); !st) return fail(st.error().message);
    return 0;
  }
  if (a.command == "counter" && a.rest.size() == 2) {
    auto id = number(a.rest[1]);
    if (!id) return fail(id.error().message);
    auto prog = bpf::SteerProgram::load(a.pin);
    if (!prog) return fail(prog.error().message);
    auto c = a.rest[0] == "path" ? (*prog)->path_counter(*id) : (*prog)->rule_counter(*id);
    if (!c) return fail(c.error().message);
    std::printf("%llu %llu\n", static_cast<unsigned long long>(c->packets), static_cast<unsigned long long>(c->bytes));
    return 0;
  }
  std::cerr << "usage: sedge-steer apply [--config-dir D] [--pin DIR] --path NAME=DEVICE[@GATEWAY]...\n"
               "       sedge-steer set-active [--pin DIR] PROFILE_ID INDEX\n"
               "       sedge-steer counter [--pin DIR] rule|path ID\n";
  return 2;
}

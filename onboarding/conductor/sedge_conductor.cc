// sedge-conductor: the reference conductor. Operators register routers from their device ID
// tokens, hand out onboarding tokens, and run `serve` for ports 930 and 933.
#include <getopt.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "agent/config/values.h"
#include "common/files.h"
#include "onboarding/conductor/ca.h"
#include "onboarding/conductor/conductor.h"

namespace {

std::atomic<bool> g_stop{false};

void usage() {
  std::cerr << "usage: sedge-conductor [options] COMMAND\n"
               "  init                          create the state (CA, TLS key, token key, registry); print the pin\n"
               "  register ROUTER_ID IDTOKEN    register a router from its device ID token (file, - for stdin)\n"
               "  token ROUTER_ID               issue a single-use onboarding token\n"
               "  revoke TOKEN_ID               revoke an unused token\n"
               "  show [ROUTER_ID]              routers and their auth state\n"
               "  serve                         serve ports 930 and 933 until stopped\n"
               "options: --state DIR (/var/lib/sedge-conductor) --manufacturer-ca DIR --listen ADDR --port N\n"
               "         --management-port N --advertise HOST --token-ttl SECONDS\n"
               "         --max-sessions N (1024) --max-sessions-per-address N (32) --handshake-timeout SECONDS (30)\n";
}

int arg_error(const std::string& message) {
  std::cerr << "sedge-conductor: " << message << "\n";
  usage();
  return 2;
}

// The offending option of a getopt_long '?' or ':' (opterr off).
std::string bad_option(char** argv) {
  const char* arg = optind > 0 ? argv[optind - 1] : "";
  if (std::strncmp(arg, "--", 2) == 0 || optopt == 0) return arg;
  return std::string("-") + static_cast<char>(optopt);
}

}  // namespace

int main(int argc, char** argv) {
  sedge::conductor::ConductorOptions options;
  enum { kState = 256, kManufacturerCa, kListen, kAdvertise, kPort, kManagementPort, kTokenTtl,
         kMaxSessions, kMaxSessionsPerAddress, kHandshakeTimeout };
  static const option kOptions[] = {{"state", required_argument, nullptr, kState},
                                    {"manufacturer-ca", required_argument, nullptr, kManufacturerCa},
                                    {"listen", required_argument, nullptr, kListen},
                                    {"advertise", required_argument, nullptr, kAdvertise},
                                    {"port", required_argument, nullptr, kPort},
                                    {"management-port", required_argument, nullptr, kManagementPort},
                                    {"token-ttl", required_argument, nullptr, kTokenTtl},
                                    {"max-sessions", required_argument, nullptr, kMaxSessions},
                                    {"max-sessions-per-address", required_argument, nullptr, kMaxSessionsPerAddress},
                                    {"handshake-timeout", required_argument, nullptr, kHandshakeTimeout},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int opt, index = 0;
  while ((opt = getopt_long(argc, argv, ":h", kOptions, &index)) != -1) {
    // The numbers: a port 1..65535, a token lifetime of 1 s to a year.
    auto number = [&](uint32_t min, uint32_t max) -> sedge::Result<uint32_t> {
      auto v = sedge::config::parse_uint(optarg, min, max);
      if (!v) return sedge::Error{std::string("--") + kOptions[index].name + ": " + v.error().message, EINVAL};
      return v;
    };
    sedge::Result<uint32_t> n = 0u;
    switch (opt) {
      case kState: options.state_dir = optarg; break;
      case kManufacturerCa: options.manufacturer_ca_dir = optarg; break;
      case kListen: options.listen_address = optarg; break;
      case kAdvertise: options.advertised_host = optarg; break;
      case kPort:
        if (n = number(1, 65535); n) options.port = static_cast<uint16_t>(*n);
        break;
      case kManagementPort:
        if (n = number(1, 65535); n) options.management_port = static_cast<uint16_t>(*n);
        break;
      case kTokenTtl:
        if (n = number(1, 366u * 24 * 3600); n) options.token_ttl_seconds = static_cast<int>(*n);
        break;
      // The session caps and the time a client has for its opening (see ConductorOptions).
      case kMaxSessions:
        if (n = number(1, 1u << 20); n) options.max_sessions = *n;
        break;
      case kMaxSessionsPerAddress:
        if (n = number(1, 1u << 20); n) options.max_sessions_per_address = *n;
        break;
      case kHandshakeTimeout:
        if (n = number(1, 3600); n) options.handshake_timeout_seconds = static_cast<int>(*n);
        break;
      case 'h': usage(); return 0;
      case ':': return arg_error("option '" + bad_option(argv) + "' needs a value");
      default: return arg_error("unknown option '" + bad_option(argv) + "'");
    }
    if (!n) return arg_error(n.error().message);
  }
  std::vector<std::string> args(argv + optind, argv + argc);
  if (args.empty()) return usage(), 2;
  const std::string& cmd = args[0];
  auto conductor = sedge::conductor::Conductor::open(options);
  if (!conductor) {
    std::cerr << "sedge-conductor: " << conductor.error().message << "\n";
    return 1;
  }
  auto& c = **conductor;
  auto fail = [](const sedge::Error& e) {
    std::cerr << "sedge-conductor: " << e.message << "\n";
    return 1;
  };
  if (cmd == "init" && args.size() == 1) {
    std::cout << "conductor key pin (SHA-256 of its TLS public key): " << c.pin_hex() << "\n";
    return 0;
  }
  if (cmd == "register" && args.size() == 3) {
    auto text = args[2] == "-" ? sedge::read_fd(STDIN_FILENO) : sedge::read_file(args[2]);
    if (!text) return fail(text.error());
    auto r = c.register_router(args[1], *text);
    if (!r) return fail(r.error());
    std::cout << "registered " << r->router_id << " (identity key SHA-256 " << r->ek_sha256
              << ")\n";
    return 0;
  }
  if (cmd == "token" && args.size() == 2) {
    auto t = c.issue_token(args[1]);
    if (!t) return fail(t.error());
    std::cout << *t << "\n";
    return 0;
  }
  if (cmd == "revoke" && args.size() == 2) {
    if (auto s = c.revoke_token(args[1]); !s) return fail(s.error());
    return 0;
  }
  if (cmd == "show" && args.size() <= 2) {
    auto out = c.show(args.size() == 2 ? args[1] : "");
    if (!out) return fail(out.error());
    std::cout << *out;
    return 0;
  }
  if (cmd == "serve" && args.size() == 1) {
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, [](int) { g_stop = true; });
    std::signal(SIGINT, [](int) { g_stop = true; });
    sd_notify(0, "READY=1");
    if (auto s = c.serve(g_stop); !s) return fail(s.error());
    return 0;
  }
  usage();
  return 2;
}

// sedge-conductor: the reference conductor. Operators register routers from their device ID
// tokens, hand out onboarding tokens, and run `serve` for ports 930 and 933.
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

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
               "         --management-port N --advertise HOST --token-ttl SECONDS\n";
}

bool parse_port(const std::string& text, uint16_t& out) {
  char* end = nullptr;
  unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v == 0 || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  sedge::conductor::ConductorOptions options;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "sedge-conductor: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--state") options.state_dir = value();
    else if (a == "--manufacturer-ca") options.manufacturer_ca_dir = value();
    else if (a == "--listen") options.listen_address = value();
    else if (a == "--advertise") options.advertised_host = value();
    else if (a == "--port" || a == "--management-port") {
      std::string v = value();
      if (!parse_port(v, a == "--port" ? options.port : options.management_port)) {
        std::cerr << "sedge-conductor: bad port " << v << "\n";
        return 2;
      }
    } else if (a == "--token-ttl") options.token_ttl_seconds = std::atoi(value().c_str());
    else if (a == "-h" || a == "--help") return usage(), 0;
    else if (a.rfind("--", 0) == 0) return std::cerr << "sedge-conductor: unknown option " << a << "\n", usage(), 2;
    else args.push_back(a);
  }
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

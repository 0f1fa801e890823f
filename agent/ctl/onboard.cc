#include "agent/ctl/onboard.h"


#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>

#include "agent/config/config.h"
#include "agent/daemon/onboarding_task.h"
#include "onboarding/idtoken.h"
#include "onboarding/router.h"

namespace sedge::ctl {
namespace {

std::atomic<bool> g_stop{false};

void usage() {
  std::cerr << "Usage: sedgectl onboard [--config-dir DIR]... COMMAND\n"
               "  export-idtoken   print the device ID token (EK certificate and key, or with "
               "Identity=idevid\n"
               "                   the IDevID certificate and key; MAC, router ID)\n"
               "                   for the operator to register with the conductor\n"
               "  run              onboard with the token in TokenFile= (once), then hold the\n"
               "                   management channel until interrupted\n"
               "  status           the onboarding on record\n"
               "  reset            forget the onboarding on record (to onboard again)\n";
}

int fail(const std::string& message) {
  std::cerr << "sedgectl onboard: " << message << "\n";
  return 1;
}

int export_idtoken(const config::Onboarding& o) {
  if (o.interface.empty()) return fail(o.where.str() + ": [Onboarding] needs Interface= (whose MAC identifies the router)");
  auto mac = onboarding::interface_mac(o.interface);
  if (!mac) return fail(mac.error().message);
  auto tpm = onboarding::Tpm::open(o.tcti);
  if (!tpm) return fail(tpm.error().message);
  auto token = o.identity == "idevid"
                   ? onboarding::idevid_id_token(**tpm, o.router_id, *mac, o.idevid_certificate,
                                                 o.idevid_key_handle)
                   : onboarding::device_id_token(**tpm, o.router_id, *mac,
                                                 agent::router_options(o).ek_profile);
  if (!token) return fail(token.error().message);
  std::cout << *token << "\n";
  return 0;
}

void print_state(const onboarding::OnboardState& s) {
  std::cout << "Router: " << s.router_id << "\n"
            << "Conductor: " << s.conductor_host << " (onboarding port " << s.port << ", management port "
            << s.management_port << ")\n"
            << "Conductor key pin: " << s.pin << "\n"
            << "Certificate: " << s.certificate_file << " (key in the TPM at handle 0x" << std::hex << s.tls_key_handle
            << std::dec << ")\n"
            << "Auth State: completed" << std::endl;
}

int run(const config::Onboarding& o) {
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  auto options = agent::router_options(o);
  auto state = onboarding::load_state(o.state_directory);
  if (!state) {
    if (state.error().code != ENOENT) return fail(state.error().message);
    if (o.token_file.empty()) return fail(o.where.str() + ": [Onboarding] needs TokenFile= to onboard");
    auto token = onboarding::read_token_file(o.token_file);
    if (!token) return fail(token.error().message);
    state = onboarding::onboard_with_retries(options, *token, g_stop, [](const Error& e, int seconds) {
      std::cerr << "sedgectl onboard: " << e.message << "; trying again in " << seconds << " s" << std::endl;
    });
    if (!state) return fail(state.error().message);
    std::cout << "onboarded" << std::endl;
    print_state(*state);
  }
  auto s = onboarding::hold_management_channel(*state, o.tcti, g_stop, [](bool up, const std::string& detail) {
    std::cout << (up ? "management channel up: " : "management channel down: ") << detail << std::endl;
  });
  if (!s) return fail(s.error().message);
  return 0;
}

}  // namespace

int onboard_command(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a conductor that hangs up is an error value, not a signal
  auto sources = config::Sources::from_environment();
  bool custom = false;
  std::string command;
  for (int k = 1; k < argc; ++k) {
    if (std::strcmp(argv[k], "--config-dir") == 0 && k + 1 < argc) {
      if (!custom) sources.directories.clear();
      custom = true;
      sources.directories.emplace_back(argv[++k]);
    } else if (command.empty() && argv[k][0] != '-') {
      command = argv[k];
    } else {
      usage();
      return 2;
    }
  }
  auto loaded = config::load(sources);
  if (!loaded) return fail(loaded.error().message);
  for (const auto& d : loaded->diagnostics) std::cerr << d.str() << "\n";
  if (loaded->has_errors()) return fail("the configuration has errors");
  if (!loaded->config.onboarding) return fail("no [Onboarding] section in the configuration");
  const config::Onboarding& o = *loaded->config.onboarding;
  if (command == "export-idtoken") return export_idtoken(o);
  if (command == "run") return run(o);
  if (command == "status") {
    auto state = onboarding::load_state(o.state_directory);
    if (!state) {
      if (state.error().code != ENOENT) return fail(state.error().message);
      std::cout << "Auth State: not onboarded\n";
      return 3;
    }
    print_state(*state);
    return 0;
  }
  if (command == "reset") {
    if (auto s = onboarding::reset_state(o.state_directory); !s) return fail(s.error().message);
    return 0;
  }
  usage();
  return 2;
}

}  // namespace sedge::ctl

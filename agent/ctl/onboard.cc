#include "agent/ctl/onboard.h"

#include <getopt.h>
#include <time.h>

#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/ctl/render.h"
#include "onboarding/idtoken.h"
#include "onboarding/router.h"
#include "onboarding/tpm.h"
#include "onboarding/tpm_wire.h"

namespace sedge::ctl {
namespace {

void usage() {
  std::cout << "Usage: sedgectl onboard [--config-dir DIR]... [--json] [--user-bus] COMMAND\n"
               "  export-idtoken   print the device ID token (EK certificate and key, or with\n"
               "                   Identity=idevid the IDevID certificate and key; MAC, router ID)\n"
               "                   for the operator to register with the conductor (the TPM of\n"
               "                   --config-dir's [Onboarding], here, without the daemon)\n"
               "  run              have sedged onboard with the token in TokenFile= (unless it is\n"
               "                   onboarding or onboarded), and follow it until the management\n"
               "                   channel is up (exit 0) or onboarding failed (exit 1)\n"
               "  status           where sedged's onboarding stands (exit 3: not onboarded)\n"
               "  reset            forget the onboarding on record (to onboard again)\n";
}

int fail(const std::string& message) {
  std::cerr << "sedgectl onboard: " << message << "\n";
  return 1;
}

int arg_error(const std::string& message) {
  std::cerr << "sedgectl onboard: " << message << "\nTry 'sedgectl onboard --help'.\n";
  return 2;
}

Result<config::Onboarding> local_onboarding(const std::vector<std::string>& dirs) {
  auto sources = config::Sources::from_environment();
  if (!dirs.empty()) sources.directories.assign(dirs.begin(), dirs.end());
  auto loaded = config::load(sources);
  if (!loaded) return loaded.error();
  for (const auto& d : loaded->diagnostics) std::cerr << d.str() << "\n";
  if (loaded->has_errors()) return Error{"the configuration has errors", EINVAL};
  if (!loaded->config.onboarding) return Error{"no [Onboarding] section in the configuration", ENOENT};
  return *loaded->config.onboarding;
}

int export_idtoken(const config::Onboarding& o) {
  if (o.interface.empty()) return fail(o.where.str() + ": [Onboarding] needs Interface= (whose MAC identifies the router)");
  auto mac = onboarding::interface_mac(o.interface);
  if (!mac) return fail(mac.error().message);
  auto tpm = onboarding::Tpm::open(o.tcti);
  if (!tpm) return fail(tpm.error().message);
  auto profile = onboarding::parse_ek_profile(o.ek_profile);
  if (!profile) return fail(profile.error().message);
  auto token = o.identity == "idevid"
                   ? onboarding::idevid_id_token(**tpm, o.router_id, *mac, o.idevid_certificate, o.idevid_key_handle)
                   : onboarding::device_id_token(**tpm, o.router_id, *mac, *profile);
  if (!token) return fail(token.error().message);
  std::cout << *token << "\n";
  return 0;
}

Result<json> status_of(const DaemonReply& r) {
  if (!r.error.empty()) return Error{r.error, EIO};
  json s = json::parse(r.text, nullptr, false);
  if (s.is_discarded() || !s.is_object()) return Error{"the daemon answered with invalid JSON", EPROTO};
  return s;
}

std::string field(const json& s, const char* key) {
  return s.contains(key) && s[key].is_string() ? s[key].get<std::string>() : std::string();
}

// Follows sedged's onboarding by OnboardingStatus (the worker runs beside the daemon's loop and
// signals nothing): one line per change, until the channel is up or the worker has given up.
int follow(const CallDaemon& call, bool user_bus, json s, bool as_json) {
  std::string shown_state, shown_channel, shown_detail;
  for (;;) {
    const std::string state = field(s, "auth_state"), channel = field(s, "channel"), detail = field(s, "detail");
    if (as_json) {
      if (state != shown_state || channel != shown_channel || detail != shown_detail) std::cout << s.dump() << std::endl;
    } else if (state == "onboarding" && detail != shown_detail) {
      std::cout << "onboarding: " << detail << std::endl;
    } else if (state == "completed" && shown_state != "completed") {
      std::cout << "onboarded\n" << render_onboarding(s) << std::flush;
    } else if (state == "completed" && channel != shown_channel && channel != "up") {
      std::cout << "management channel " << channel << ": " << detail << std::endl;
    }
    shown_state = state;
    shown_channel = channel;
    shown_detail = detail;
    const bool running = s.value("running", false);
    if (state == "completed" && channel == "up") {
      if (!as_json) std::cout << "management channel up: " << detail << std::endl;
      return 0;
    }
    if (!running) return fail(state == "completed" ? "the management channel ended: " + detail : detail);
    const timespec pause{0, 200 * 1000 * 1000};
    nanosleep(&pause, nullptr);
    auto next = status_of(call("OnboardingStatus", user_bus));
    if (!next) return fail(next.error().message);
    s = std::move(*next);
  }
}

}  // namespace

int onboard_command(int argc, char** argv, const CallDaemon& call, bool as_json, bool user_bus) {
  enum { kConfigDir = 256, kUserBus };
  static const option kOptions[] = {{"config-dir", required_argument, nullptr, kConfigDir},
                                    {"user-bus", no_argument, nullptr, kUserBus},
                                    {"json", no_argument, nullptr, 'j'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  std::vector<std::string> dirs;
  opterr = 0;
  optind = 0;  // glibc: start over (argv[0] is "onboard")
  int c;
  while ((c = getopt_long(argc, argv, ":hj", kOptions, nullptr)) != -1) {
    switch (c) {
      case kConfigDir: dirs.emplace_back(optarg); break;
      case kUserBus: user_bus = true; break;
      case 'j': as_json = true; break;
      case 'h': usage(); return 0;
      case ':': return arg_error(std::string("option '") + argv[optind - 1] + "' needs an argument");
      default: return arg_error(std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind >= argc) return arg_error("missing the COMMAND");
  if (argc - optind > 1) return arg_error(std::string("unexpected argument '") + argv[optind + 1] + "'");
  const std::string command = argv[optind];
  if (command == "export-idtoken" || command == "reset") {
    auto o = local_onboarding(dirs);
    if (!o) return fail(o.error().message);
    if (command == "export-idtoken") return export_idtoken(*o);
    if (auto st = onboarding::reset_state(o->state_directory); !st) return fail(st.error().message);
    return 0;
  }
  if (command != "run" && command != "status") return arg_error("unknown command '" + command + "'");
  if (!dirs.empty()) return arg_error("--config-dir is for export-idtoken and reset; " + command + " asks sedged");
  auto s = status_of(call(command == "run" ? "Onboard" : "OnboardingStatus", user_bus));
  if (!s) return fail(s.error().message);
  if (command == "run") return follow(call, user_bus, std::move(*s), as_json);
  if (as_json) {
    std::cout << s->dump(2) << "\n";
  } else {
    std::cout << render_onboarding(*s);
  }
  return field(*s, "auth_state") == "completed" ? 0 : 3;
}

}  // namespace sedge::ctl

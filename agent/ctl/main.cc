// sedgectl: the operator's command line. It talks to sedged over D-Bus only (like networkctl);
// `check` alone works without the daemon, validating configuration files locally.
#include <getopt.h>
#include <systemd/sd-bus.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/config/config.h"
#include "agent/ctl/onboard.h"
#include "agent/daemon/daemon.h"

namespace {

using nlohmann::json;
using sedge::agent::BusPtr;

void usage() {
  std::cout << "Usage: sedgectl [--user-bus] COMMAND\n"
               "Commands:\n"
               "  status               the daemon's state: connectors, tunnels, steering\n"
               "  describe             the whole state as JSON (org.sedge.Agent1.Describe)\n"
               "  reload               re-read the configuration; a bad one is refused and the\n"
               "                       running one stays (exit status 1)\n"
               "  check [--config-dir DIR]...\n"
               "                       validate configuration files without the daemon and print\n"
               "                       the effective configuration, secrets masked\n"
               "  onboard COMMAND      onboarding to the conductor (sedgectl onboard --help)\n";
}

struct Call {
  BusPtr bus;
  std::string reply;
  std::string error;
};

// Calls org.sedge.Agent1.<method>() -> s on the daemon.
Call call(bool user_bus, const char* method) {
  Call c;
  sd_bus* bus = nullptr;
  int r = user_bus ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
  if (r < 0) {
    c.error = std::string("cannot connect to the D-Bus bus: ") + std::strerror(-r);
    return c;
  }
  c.bus.reset(bus);
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  r = sd_bus_call_method(bus, sedge::agent::kBusName, sedge::agent::kObjectPath, sedge::agent::kInterface, method,
                         &err, &reply, "");
  if (r < 0) {
    if (sd_bus_error_has_name(&err, SD_BUS_ERROR_SERVICE_UNKNOWN) || sd_bus_error_has_name(&err, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
      c.error = "sedged is not running (systemctl start sedged)";
    } else {
      c.error = err.message ? err.message : std::strerror(-r);
    }
    sd_bus_error_free(&err);
    return c;
  }
  const char* s = nullptr;
  if (sd_bus_message_read(reply, "s", &s) >= 0 && s) c.reply = s;
  sd_bus_message_unref(reply);
  return c;
}

void print_status(const json& d) {
  std::cout << "sedged: " << d.value("status", "") << "\n";
  const auto& cfg = d["config"];
  std::cout << "config: " << cfg["files"].size() << " files";
  if (!cfg["last_reload_error"].get<std::string>().empty()) {
    std::cout << "; last reload refused: " << cfg["last_reload_error"].get<std::string>();
  }
  std::cout << "\n\n";
  std::printf("%-22s %-20s %-10s %-16s %-12s %s\n", "CONNECTOR", "TUNNEL", "ROLE", "REMOTE", "STATE", "REMOTE ID");
  for (const auto& c : d["connectors"]) {
    for (const auto& t : c["tunnels"]) {
      std::printf("%-22s %-20s %-10s %-16s %-12s %s\n", c["name"].get<std::string>().c_str(),
                  t["name"].get<std::string>().c_str(), t["role"].get<std::string>().c_str(),
                  t["remote"].get<std::string>().c_str(), t["state"].get<std::string>().c_str(),
                  t["remote_id"].get<std::string>().c_str());
    }
  }
  if (d.contains("onboarding") && d["onboarding"].contains("auth_state")) {
    const auto& o = d["onboarding"];
    std::cout << "\nonboarding: " << o.value("auth_state", "") << " (conductor " << o.value("conductor", "")
              << "), management channel " << o.value("channel", "");
    if (!o.value("detail", "").empty()) std::cout << ": " << o.value("detail", "");
    std::cout << "\n";
  }
  std::cout << "\n";
  std::printf("%-6s %-26s %-10s %s\n", "ORDER", "POLICY", "ACTION", "PROFILE (PATHS)");
  for (const auto& p : d["policies"]) {
    std::string paths;
    for (const auto& prof : d["steering_profiles"]) {
      if (prof["name"] != p["profile"]) continue;
      for (const auto& path : prof["paths"]) paths += (paths.empty() ? "" : " -> ") + path["target"].get<std::string>();
    }
    std::printf("%-6u %-26s %-10s %s%s\n", p["order"].get<unsigned>(), p["name"].get<std::string>().c_str(),
                p["action"].get<std::string>().c_str(), p["profile"].get<std::string>().c_str(),
                paths.empty() ? "" : (" (" + paths + ")").c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool user_bus = false;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (std::strcmp(argv[i], "--user-bus") == 0) {
      user_bus = true;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      usage();
      return 0;
    } else {
      std::cerr << "sedgectl: unknown option " << argv[i] << "\n";
      return 2;
    }
  }
  const std::string command = i < argc ? argv[i] : "status";
  if (command == "onboard") return sedge::ctl::onboard_command(argc - i, argv + i);
  if (command == "check") {
    auto sources = sedge::config::Sources::from_environment();
    bool custom = false;
    for (int k = i + 1; k < argc; ++k) {
      if (std::strcmp(argv[k], "--config-dir") == 0 && k + 1 < argc) {
        if (!custom) sources.directories.clear();
        custom = true;
        sources.directories.emplace_back(argv[++k]);
      } else {
        std::cerr << "sedgectl check: unexpected " << argv[k] << "\n";
        return 2;
      }
    }
    return sedge::agent::check_config(sources);
  }
  const char* method = command == "reload" ? "Reload" : (command == "status" || command == "describe") ? "Describe" : nullptr;
  if (!method) {
    std::cerr << "sedgectl: unknown command '" << command << "'\n";
    usage();
    return 2;
  }
  Call c = call(user_bus, method);
  if (!c.error.empty()) {
    std::cerr << "sedgectl: " << c.error << "\n";
    return 1;
  }
  if (command == "reload") {
    std::cout << c.reply << "\n";
    return 0;
  }
  const json d = json::parse(c.reply, nullptr, false);
  if (d.is_discarded()) {
    std::cerr << "sedgectl: the daemon answered with invalid JSON\n";
    return 1;
  }
  if (command == "describe") {
    std::cout << d.dump(2) << "\n";
  } else {
    print_status(d);
  }
  return 0;
}

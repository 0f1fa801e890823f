// sedged: the sedge agent daemon. Run by systemd (sedged.service); see docs/operations.md.
#include <getopt.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "agent/daemon/daemon.h"
#include "common/log.h"

namespace {

void usage() {
  std::cout << "Usage: sedged [--config-dir DIR]... [--user-bus] [--check-config|--check-startable]\n"
               "              [--version]\n"
               "  --config-dir DIR  read sedge.conf and sedge.conf.d/ from DIR instead of\n"
               "                    /etc/sedge, /run/sedge, /usr/lib/sedge (repeat: first wins)\n"
               "  --user-bus        serve D-Bus on the session bus (tests), not the system bus\n"
               "  --check-config    validate, print the effective configuration (secrets\n"
               "                    masked) and exit 0 if it loads without errors\n"
               "  --check-startable as --check-config, but exit 0 when the daemon can start:\n"
               "                    objects with errors are reported and left out (the unit's\n"
               "                    ExecStartPre=)\n";
}

}  // namespace

int main(int argc, char** argv) {
  using sedge::agent::Daemon;
  Daemon::Options options;
  options.sources = sedge::config::Sources::from_environment();
  std::optional<sedge::agent::CheckMode> check;
  bool custom_dirs = false;
  static const option kOptions[] = {{"config-dir", required_argument, nullptr, 'c'},
                                    {"user-bus", no_argument, nullptr, 'u'},
                                    {"check-config", no_argument, nullptr, 'k'},
                                    {"check-startable", no_argument, nullptr, 's'},
                                    {"version", no_argument, nullptr, 'v'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'c':
        if (!custom_dirs) options.sources.directories.clear();
        custom_dirs = true;
        options.sources.directories.emplace_back(optarg);
        break;
      case 'u': options.bus = sedge::agent::BusKind::user; break;
      case 'k': check = sedge::agent::CheckMode::strict; break;
      case 's': check = sedge::agent::CheckMode::startable; break;
      case 'v': std::cout << "sedged 0.1.0\n"; return 0;
      case 'h': usage(); return 0;
      default: usage(); return 2;
    }
  }
  if (check) return sedge::agent::check_config(options.sources, *check);
  auto daemon = Daemon::create(std::move(options));
  if (!daemon) {
    sedge::log::error("cannot start: " + daemon.error().message);
    return 1;
  }
  return (*daemon)->run();
}

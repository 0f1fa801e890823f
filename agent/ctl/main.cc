// sedgectl: the operator's command line. It talks to sedged over D-Bus only (like networkctl);
// `check` alone works without the daemon, validating configuration files locally. What it
// prints is rendered from Describe by the pure functions of render.h.
#include <getopt.h>
#include <signal.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/ctl/onboard.h"
#include "agent/ctl/render.h"
#include "agent/daemon/bus_api.h"
#include "agent/daemon/check.h"

namespace {

using nlohmann::json;
using sedge::agent::BusPtr;
using sedge::agent::EventPtr;
using sedge::agent::SlotPtr;

void usage() {
  std::cout << "Usage: sedgectl [--user-bus] [--json] COMMAND [ARGS]\n"
               "Commands:\n"
               "  status [NAME]        the daemon's state: connectors, tunnels and their state,\n"
               "                       steering; with NAME, a connector or a tunnel in detail\n"
               "                       (state, since, last error, addresses, device, IKE SPIs,\n"
               "                       suites, CHILD_SAs)\n"
               "  list                 one line per tunnel: name, connector, role, state, since,\n"
               "                       remote\n"
               "  sa                   the IKE SAs and their CHILD_SAs (SPIs, suites, NAT,\n"
               "                       selectors), as swanctl --list-sas shows them\n"
               "  steering             the steering profiles and their paths (the active one\n"
               "                       marked), the packet and byte counters of paths and rules\n"
               "  up NAME              bring a tunnel up now (ending its backoff)\n"
               "  down NAME            take a tunnel down until the next up or reload\n"
               "  monitor              print the tunnels' state changes as they happen, one line\n"
               "                       each with its time, until interrupted (Ctrl-C)\n"
               "  describe             the whole state as JSON (org.sedge.Agent1.Describe)\n"
               "  metrics              the daemon's metrics in the Prometheus text format (tunnels,\n"
               "                       SA counters, rekeys, failovers, steering counters,\n"
               "                       onboarding), for the node exporter's textfile collector\n"
               "  reload               re-read the configuration; a bad one is refused and the\n"
               "                       running one stays (exit status 1)\n"
               "  check [--config-dir DIR]...\n"
               "                       validate configuration files without the daemon and print\n"
               "                       the effective configuration, secrets masked\n"
               "  onboard COMMAND      onboarding to the conductor (sedgectl onboard --help)\n"
               "Options:\n"
               "  --json               print the relevant part of Describe as JSON (monitor: one\n"
               "                       JSON object per line and event)\n"
               "  --user-bus           talk to a sedged on the user bus (tests)\n"
               "  -h, --help           this text\n"
               "Without COMMAND, status. Exit status: 0 done, 1 failed, 2 bad arguments.\n";
}

int arg_error(const std::string& command, const std::string& message) {
  std::cerr << "sedgectl" << (command.empty() ? "" : " " + command) << ": " << message
            << "\nTry 'sedgectl --help'.\n";
  return 2;
}

int fail(const std::string& command, const std::string& message) {
  std::cerr << "sedgectl " << command << ": " << message << "\n";
  return 1;
}

uint64_t now_usec() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// The offending option of a getopt_long '?' or ':' (opterr off).
std::string bad_option(char** argv) {
  const char* arg = optind > 0 ? argv[optind - 1] : "";
  if (std::strncmp(arg, "--", 2) == 0 || optopt == 0) return arg;
  return std::string("-") + static_cast<char>(optopt);
}

// What is wrong with the option of a getopt_long '?': unknown, or `--flag=value` given to a flag.
std::string option_problem(char** argv) {
  const std::string bad = bad_option(argv);
  if (optopt != 0 && bad.rfind("--", 0) == 0 && bad.find('=') != std::string::npos) {
    return "option '" + bad.substr(0, bad.find('=')) + "' takes no argument";
  }
  return "unknown option '" + bad + "'";
}

struct Options {
  bool user_bus = false;
  bool json = false;
  std::vector<std::string> config_dirs;
  std::vector<std::string> args;  // the command's positional arguments
};

std::string bus_error(const sd_bus_error& err, int r) {
  if (sd_bus_error_has_name(&err, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
      sd_bus_error_has_name(&err, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
    return "sedged is not running (systemctl start sedged)";
  }
  if (sd_bus_error_has_name(&err, SD_BUS_ERROR_ACCESS_DENIED)) {
    return std::string("permission denied (changing state needs root or the group sedge-admin): ") +
           (err.message ? err.message : "");
  }
  return err.message ? err.message : std::strerror(-r);
}

struct Reply {
  std::string text;        // the method's string result, if any
  std::string error;       // empty when it succeeded
  bool no_daemon = false;  // the error is that sedged is not on the bus
};

// Calls org.sedge.Agent1.<method>(), or <method>(s) with `arg`, on the daemon.
Reply call(sd_bus* bus, const char* method, const char* arg = nullptr) {
  Reply out;
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  const int r = arg ? sd_bus_call_method(bus, sedge::agent::kBusName, sedge::agent::kObjectPath,
                                         sedge::agent::kInterface, method, &err, &reply, "s", arg)
                    : sd_bus_call_method(bus, sedge::agent::kBusName, sedge::agent::kObjectPath,
                                         sedge::agent::kInterface, method, &err, &reply, "");
  if (r < 0) {
    out.error = bus_error(err, r);
    out.no_daemon = sd_bus_error_has_name(&err, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                    sd_bus_error_has_name(&err, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
    sd_bus_error_free(&err);
    return out;
  }
  const char* s = nullptr;
  if (!arg && sd_bus_message_read(reply, "s", &s) >= 0 && s) out.text = s;
  sd_bus_message_unref(reply);
  return out;
}

// Describe, parsed; `error` set when the call or the parse failed (and `no_daemon`, if given,
// when that is because sedged is not running).
json describe(sd_bus* bus, std::string& error, bool* no_daemon = nullptr) {
  Reply r = call(bus, "Describe");
  if (no_daemon) *no_daemon = r.no_daemon;
  if (!r.error.empty()) {
    error = r.error;
    return nullptr;
  }
  json d = json::parse(r.text, nullptr, false);
  if (d.is_discarded() || !d.is_object()) {
    error = "the daemon answered with invalid JSON";
    return nullptr;
  }
  return d;
}

void print_json(const json& j) {
  std::cout << j.dump(2) << "\n";
}

// `sedgectl monitor`: a Describe after every PropertiesChanged of /org/sedge/Agent1 (the daemon
// emits one on each tunnel change and reload), the tunnels whose state changed since the last
// one printed; sedged going away and coming back is said too (and a monitor started while it
// is not running waits for it).
class Monitor {
 public:
  Monitor(sd_bus* bus, bool as_json) : bus_(bus), json_(as_json) {}
  void set_baseline(json d) { last_ = std::move(d); }

  static int on_properties_changed(sd_bus_message* m, void* self, sd_bus_error*) {
    const char* interface = nullptr;
    if (sd_bus_message_read(m, "s", &interface) < 0 || !interface ||
        std::strcmp(interface, sedge::agent::kInterface) != 0) {
      return 0;
    }
    static_cast<Monitor*>(self)->refresh();
    return 0;
  }

  static int on_owner_changed(sd_bus_message* m, void* self, sd_bus_error*) {
    const char *name = nullptr, *old_owner = nullptr, *new_owner = nullptr;
    if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !name ||
        std::strcmp(name, sedge::agent::kBusName) != 0) {
      return 0;
    }
    auto* mon = static_cast<Monitor*>(self);
    const bool started = new_owner && *new_owner;
    mon->daemon_event(started ? "started" : "stopped");
    if (started) {
      mon->refresh();
    } else {
      mon->last_ = json::object();  // its tunnels come back as new ones
    }
    return 0;
  }

  static int on_signal(sd_event_source* s, const struct signalfd_siginfo*, void*) {
    return sd_event_exit(sd_event_source_get_event(s), 0);
  }

 private:
  void refresh() {
    std::string error;
    bool no_daemon = false;
    json d = describe(bus_, error, &no_daemon);
    if (!error.empty()) {
      // A signal sent as sedged stops: NameOwnerChanged says that it stopped.
      if (!no_daemon) std::cerr << "sedgectl monitor: " << error << "\n";
      return;
    }
    for (const auto& e : sedge::ctl::tunnel_changes(last_, d, now_usec())) {
      if (json_) {
        std::cout << e.dump() << "\n";
      } else {
        std::cout << sedge::ctl::render_event(e) << "\n";
      }
    }
    std::cout.flush();
    last_ = std::move(d);
  }

  void daemon_event(const char* what) {
    const uint64_t now = now_usec();
    if (json_) {
      std::cout << json{{"time_usec", now}, {"daemon", what}}.dump() << "\n";
    } else {
      char ms[8];
      std::snprintf(ms, sizeof ms, ".%03u", static_cast<unsigned>((now / 1000u) % 1000u));
      std::cout << sedge::ctl::absolute_time(now) << ms << " sedged " << what << "\n";
    }
    std::cout.flush();
  }

  sd_bus* bus_;
  bool json_;
  json last_ = json::object();
};

int monitor(sd_bus* bus, const Options& o) {
  sd_event* loop = nullptr;
  if (int r = sd_event_default(&loop); r < 0)
    return fail("monitor", std::string("no event loop: ") + std::strerror(-r));
  EventPtr event(loop);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  for (int sig : {SIGINT, SIGTERM}) {
    if (int r = sd_event_add_signal(loop, nullptr, sig, Monitor::on_signal, nullptr); r < 0) {
      return fail("monitor", std::string("cannot watch signals: ") + std::strerror(-r));
    }
  }
  // Subscribe before the first Describe, so that no change falls between them.
  Monitor mon(bus, o.json);
  sd_bus_slot* slot = nullptr;
  int r = sd_bus_match_signal(bus, &slot, sedge::agent::kBusName, sedge::agent::kObjectPath,
                              "org.freedesktop.DBus.Properties", "PropertiesChanged",
                              Monitor::on_properties_changed, &mon);
  if (r < 0)
    return fail("monitor",
                std::string("cannot subscribe to the daemon's signals: ") + std::strerror(-r));
  SlotPtr properties(slot);
  r = sd_bus_add_match(
      bus, &slot,
      "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
      "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.sedge.Agent1'",
      Monitor::on_owner_changed, &mon);
  if (r < 0)
    return fail("monitor", std::string("cannot watch the daemon's bus name: ") + std::strerror(-r));
  SlotPtr owner(slot);
  std::string error;
  bool no_daemon = false;
  json first = describe(bus, error, &no_daemon);
  if (no_daemon) {
    std::cerr << "sedgectl monitor: sedged is not running; waiting for it\n";
  } else if (!error.empty()) {
    return fail("monitor", error);
  } else {
    mon.set_baseline(std::move(first));
  }
  if (r = sd_bus_attach_event(bus, loop, SD_EVENT_PRIORITY_NORMAL); r < 0) {
    return fail("monitor", std::string("cannot attach the bus: ") + std::strerror(-r));
  }
  r = sd_event_loop(loop);
  sd_bus_detach_event(bus);
  if (r < 0) return fail("monitor", std::string("event loop failed: ") + std::strerror(-r));
  return 0;
}

int tunnel_action(sd_bus* bus, const std::string& command, const std::string& name, bool as_json) {
  Reply r = call(bus, command == "up" ? "TunnelUp" : "TunnelDown", name.c_str());
  if (!r.error.empty()) return fail(command, r.error);
  std::string error;
  const json d = describe(bus, error);
  const json t = error.empty() ? sedge::ctl::find_json(d, name) : json(nullptr);
  if (as_json) {
    print_json(t.is_null() ? json{{"name", name}} : t);
  } else {
    std::cout << name << ": " << (command == "up" ? "brought up" : "taken down");
    if (t.is_object() && t.contains("state"))
      std::cout << ", now " << t["state"].get<std::string>();
    std::cout << "\n";
  }
  return 0;
}

struct CommandSpec {
  const char* name;
  size_t min_args, max_args;
  const char* arg_name;  // what the positional argument is, for the error messages
};

constexpr CommandSpec kCommands[] = {
    {"status", 0, 1, "NAME"}, {"list", 0, 0, ""},          {"sa", 0, 0, ""},
    {"steering", 0, 0, ""},   {"up", 1, 1, "tunnel NAME"}, {"down", 1, 1, "tunnel NAME"},
    {"monitor", 0, 0, ""},    {"describe", 0, 0, ""},      {"reload", 0, 0, ""},
    {"metrics", 0, 0, ""},
    {"check", 0, 0, ""},      {"help", 0, 0, ""},
};

// The command's own options and arguments (options may follow the command: `status hq --json`).
int parse_command(const CommandSpec& spec, int argc, char** argv, Options& o) {
  enum { kConfigDir = 256, kUserBus };
  const bool check = std::strcmp(spec.name, "check") == 0;
  std::vector<option> longs = {{"json", no_argument, nullptr, 'j'},
                               {"user-bus", no_argument, nullptr, kUserBus},
                               {"help", no_argument, nullptr, 'h'}};
  if (check) longs.push_back({"config-dir", required_argument, nullptr, kConfigDir});
  longs.push_back({nullptr, 0, nullptr, 0});
  opterr = 0;
  optind = 0;  // glibc: start over (argv[0] is the command)
  int c;
  while ((c = getopt_long(argc, argv, ":hj", longs.data(), nullptr)) != -1) {
    switch (c) {
      case 'j':
        o.json = true;
        break;
      case kUserBus:
        o.user_bus = true;
        break;
      case 'h':
        usage();
        return 0;
      case kConfigDir:
        o.config_dirs.emplace_back(optarg);
        break;
      case ':':
        return arg_error(spec.name, "option '" + bad_option(argv) + "' needs an argument");
      default:
        return arg_error(spec.name, option_problem(argv));
    }
  }
  for (int i = optind; i < argc; ++i) o.args.emplace_back(argv[i]);
  if (o.args.size() < spec.min_args)
    return arg_error(spec.name, std::string("missing the ") + spec.arg_name);
  if (o.args.size() > spec.max_args)
    return arg_error(spec.name, "unexpected argument '" + o.args[spec.max_args] + "'");
  return -1;
}

int run(const std::string& command, const Options& o) {
  if (command == "help") {
    usage();
    return 0;
  }
  if (command == "check") {
    auto sources = sedge::config::Sources::from_environment();
    if (!o.config_dirs.empty()) {
      sources.directories.clear();
      for (const auto& d : o.config_dirs) sources.directories.emplace_back(d);
    }
    return sedge::agent::check_config(sources);
  }
  sd_bus* raw = nullptr;
  if (int r = o.user_bus ? sd_bus_open_user(&raw) : sd_bus_open_system(&raw); r < 0) {
    return fail(command, std::string("cannot connect to the D-Bus bus: ") + std::strerror(-r));
  }
  BusPtr bus(raw);
  if (command == "reload") {
    Reply r = call(bus.get(), "Reload");
    if (!r.error.empty()) return fail(command, r.error);
    if (o.json) {
      print_json(json{{"result", r.text}});
    } else {
      std::cout << r.text << "\n";
    }
    return 0;
  }
  if (command == "up" || command == "down")
    return tunnel_action(bus.get(), command, o.args[0], o.json);
  if (command == "metrics") {
    Reply r = call(bus.get(), "Metrics");
    if (!r.error.empty()) return fail(command, r.error);
    std::cout << r.text;
    return 0;
  }
  if (command == "monitor") return monitor(bus.get(), o);

  std::string error;
  const json d = describe(bus.get(), error);
  if (!error.empty()) return fail(command, error);
  const uint64_t now = now_usec();
  namespace ctl = sedge::ctl;
  if (command == "describe") {
    print_json(d);
  } else if (command == "status" && !o.args.empty()) {
    const std::string& name = o.args[0];
    if (ctl::find_json(d, name).is_null())
      return fail(command, "no connector or tunnel named '" + name + "'");
    if (o.json) {
      print_json(ctl::find_json(d, name));
    } else {
      std::cout << ctl::render_details(d, name, now);
    }
  } else if (command == "status") {
    if (o.json) {
      print_json(d);
    } else {
      std::cout << ctl::render_status(d, now);
    }
  } else if (command == "list") {
    if (o.json) {
      print_json(ctl::tunnels_json(d));
    } else {
      std::cout << ctl::render_list(d, now);
    }
  } else if (command == "sa") {
    if (o.json) {
      print_json(ctl::sas_json(d));
    } else {
      std::cout << ctl::render_sas(d, now);
    }
  } else if (command == "steering") {
    if (o.json) {
      print_json(ctl::steering_json(d));
    } else {
      std::cout << ctl::render_steering(d);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  enum { kUserBus = 256 };
  static const option kGlobal[] = {{"user-bus", no_argument, nullptr, kUserBus},
                                   {"json", no_argument, nullptr, 'j'},
                                   {"help", no_argument, nullptr, 'h'},
                                   {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int c;
  // '+': stop at the command; its options are its own (onboard and check have theirs).
  while ((c = getopt_long(argc, argv, "+:hj", kGlobal, nullptr)) != -1) {
    switch (c) {
      case kUserBus:
        o.user_bus = true;
        break;
      case 'j':
        o.json = true;
        break;
      case 'h':
        usage();
        return 0;
      case ':':
        return arg_error("", "option '" + bad_option(argv) + "' needs an argument");
      default:
        return arg_error("", option_problem(argv));
    }
  }
  const std::string command = optind < argc ? argv[optind] : "status";
  if (command == "onboard") {
    auto call_daemon = [](const char* method, bool user_bus) -> sedge::ctl::DaemonReply {
      sd_bus* raw = nullptr;
      if (int r = user_bus ? sd_bus_open_user(&raw) : sd_bus_open_system(&raw); r < 0) {
        return {"", std::string("cannot connect to the D-Bus bus: ") + std::strerror(-r)};
      }
      BusPtr bus(raw);
      Reply r = call(bus.get(), method);
      return {r.text, r.error};
    };
    return sedge::ctl::onboard_command(argc - optind, argv + optind, call_daemon, o.json, o.user_bus);
  }
  const CommandSpec* spec = nullptr;
  for (const auto& s : kCommands) {
    if (command == s.name) spec = &s;
  }
  if (!spec) return arg_error("", "unknown command '" + command + "'");
  if (optind < argc) {
    if (const int r = parse_command(*spec, argc - optind, argv + optind, o); r >= 0) return r;
  }
  return run(command, o);
}

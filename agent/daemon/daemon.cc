#include "agent/daemon/daemon.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdio>
#include <cstring>

#include "agent/daemon/metrics.h"
#include "agent/daemon/onboarding_reload.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/message_ids.h"
#include "netlink/xfrm_client.h"

namespace sedge::agent {
namespace {

constexpr const char* kVersion = "0.1.0";
constexpr const char* kErrorConfigRejected = "org.sedge.Agent1.Error.ConfigRejected";
constexpr const char* kErrorNoConnectors = "org.sedge.Agent1.Error.NoConnectors";
constexpr const char* kErrorNoSuchTunnel = "org.sedge.Agent1.Error.NoSuchTunnel";
constexpr const char* kErrorNoOnboarding = "org.sedge.Agent1.Error.NoOnboarding";

uint64_t now_realtime_usec() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

void log_diagnostics(const config::LoadedConfig& loaded) {
  for (const auto& d : loaded.diagnostics) {
    const auto level = d.severity == config::Diagnostic::Severity::error ? log::Level::err : log::Level::warning;
    log::write(level, d.str(), {{"CONFIG_FILE", d.where.file}, {"CONFIG_LINE", std::to_string(d.where.line)}});
  }
}

void apply_log_level(const config::Config& c) {
  log::Level level = log::Level::info;
  if (log::parse_level(c.log_level, level)) log::set_level(level);
}

Status check(const char* what, int r) {
  if (r >= 0) return {};
  return Error{std::string(what) + ": " + std::strerror(-r), -r};
}

std::string connector_path(const std::string& name) { return object_path(kConnectorPrefix, name); }

std::string first_error(const config::LoadedConfig& loaded) {
  for (const auto& d : loaded.diagnostics) {
    if (d.severity == config::Diagnostic::Severity::error) return d.str();
  }
  return {};
}

}  // namespace

Daemon::Daemon(Options options) : options_(std::move(options)) {}

Daemon::~Daemon() {
  // Slots before the bus, the bus before the loop it is attached to.
  tunnel_objects_.reset();
  manager_slot_.reset();
  enumerator_slot_.reset();
  connector_slot_.reset();
  object_slot_.reset();
  bus_.reset();
  loop_.reset();
}

Result<std::unique_ptr<Daemon>> Daemon::create(Options options) {
  auto loaded = config::load(options.sources);
  if (!loaded) return loaded.error().context("loading the configuration");
  std::unique_ptr<Daemon> d(new Daemon(std::move(options)));
  log_diagnostics(*loaded);
  apply_log_level(loaded->config);
  d->state_.loaded = std::move(*loaded);
  d->state_.loaded_at_usec = now_realtime_usec();

  sd_event* loop = nullptr;
  if (auto st = check("creating the event loop", sd_event_default(&loop)); !st) return st.error();
  d->loop_.reset(loop);
  // sd-event pings the watchdog itself when WatchdogSec= is set, from the loop: a hung loop
  // stops the pings and systemd restarts us.
  if (auto st = check("enabling the watchdog", sd_event_set_watchdog(loop, 1)); !st) return st.error();
  if (auto st = d->attach_signals(); !st) return st.error();
  if (auto st = d->attach_bus(); !st) return st.error();
  d->open_connectors();
  return d;
}

// The connectors need the kernel (CAP_NET_ADMIN) and the IKE ports: without them the daemon
// still runs (configuration, D-Bus, onboarding) and says why no tunnel comes up.
void Daemon::open_connectors() {
  auto c = Connectors::open(loop_.get(), ike::EngineOptions{});
  if (!c) {
    log::error("no connectors will run: " + c.error().message);
    return;
  }
  connectors_ = std::move(*c);
  state_.live = [this](const std::string& tunnel) { return connectors_->describe_tunnel(tunnel); };
  if (bus_) {
    auto objects = TunnelObjects::attach(bus_.get(), connectors_->manager(), kernel_sa_stats);
    if (objects) {
      tunnel_objects_ = std::move(*objects);
    } else {
      log::error("no tunnel objects on D-Bus: " + objects.error().message);
    }
  }
  connectors_->manager().observe([this](const connector::TunnelView& v) {
    connectors_->on_tunnel(v);
    if (tunnel_objects_) tunnel_objects_->changed(v);
    if (bus_) sd_bus_emit_properties_changed(bus_.get(), kObjectPath, kInterface, "Status", nullptr);
    notify_status();
  });
}

Status Daemon::attach_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return Error::sys("blocking signals");
  if (auto st = check("watching SIGHUP", sd_event_add_signal(loop_.get(), nullptr, SIGHUP, on_sighup, this)); !st) return st;
  if (auto st = check("watching SIGTERM", sd_event_add_signal(loop_.get(), nullptr, SIGTERM, on_sigterm, this)); !st) return st;
  return check("watching SIGINT", sd_event_add_signal(loop_.get(), nullptr, SIGINT, on_sigterm, this));
}

Status Daemon::attach_bus() {
  static const sd_bus_vtable kAgent[] = {
      SD_BUS_VTABLE_START(0),
      SD_BUS_PROPERTY("Version", "s", property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
      SD_BUS_PROPERTY("Status", "s", property_status, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_PROPERTY("ConfigLoadedAt", "t", property_loaded_at, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
      SD_BUS_METHOD("Describe", "", "s", method_describe, SD_BUS_VTABLE_UNPRIVILEGED),
      // Who may change state is the D-Bus policy's decision (org.sedge.Agent1.conf: root and the
      // group sedge-admin); sd-bus's own check would admit only CAP_SYS_ADMIN or sedged's own user.
      SD_BUS_METHOD("Reload", "", "s", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD("TunnelUp", "s", "", method_tunnel_up, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD("TunnelDown", "s", "", method_tunnel_down, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD("Onboard", "", "s", method_onboard, SD_BUS_VTABLE_UNPRIVILEGED),
      // Read-only, like Describe: anyone the policy lets call them.
      SD_BUS_METHOD("OnboardingStatus", "", "s", method_onboarding_status, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_METHOD("Metrics", "", "s", method_metrics, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_VTABLE_END};
  static const sd_bus_vtable kConnector[] = {
      SD_BUS_VTABLE_START(0),
      SD_BUS_METHOD("Describe", "", "s", connector_describe, SD_BUS_VTABLE_UNPRIVILEGED),
      SD_BUS_VTABLE_END};

  sd_bus* bus = nullptr;
  const int r = options_.bus == BusKind::user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
  if (auto st = check("connecting to the D-Bus bus", r); !st) return st;
  bus_.reset(bus);
  sd_bus_slot* slot = nullptr;
  if (auto st = check("adding the Agent1 object", sd_bus_add_object_vtable(bus, &slot, kObjectPath, kInterface, kAgent, this)); !st) return st;
  object_slot_.reset(slot);
  if (auto st = check("adding connector objects", sd_bus_add_fallback_vtable(bus, &slot, kConnectorPrefix, kConnectorInterface, kConnector, connector_find, this)); !st) return st;
  connector_slot_.reset(slot);
  if (auto st = check("adding the connector enumerator", sd_bus_add_node_enumerator(bus, &slot, kConnectorPrefix, connector_enumerate, this)); !st) return st;
  enumerator_slot_.reset(slot);
  if (auto st = check("adding the object manager", sd_bus_add_object_manager(bus, &slot, kObjectPath)); !st) return st;
  manager_slot_.reset(slot);
  if (auto st = check("claiming the bus name org.sedge.Agent1 (is another sedged running, or the D-Bus policy missing?)",
                      sd_bus_request_name(bus, kBusName, 0));
      !st) {
    return st;
  }
  return check("attaching the bus to the loop", sd_bus_attach_event(bus, loop_.get(), SD_EVENT_PRIORITY_NORMAL));
}

void Daemon::notify_status() const {
  sd_notifyf(0, "READY=1\nSTATUS=%s", state_.status_line().c_str());
}

int Daemon::run() {
  log::info("sedged " + std::string(kVersion) + " started: " + state_.status_line(),
            {{"CONFIG_FILES", std::to_string(state_.loaded.config.files.size())}});
  if (connectors_) connectors_->apply(state_.loaded.config);
  notify_status();
  apply_onboarding();
  const int r = sd_event_loop(loop_.get());
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
  onboarding_.reset();
  state_.live = nullptr;
  tunnel_objects_.reset();
  connectors_.reset();  // IKE SAs deleted, kernel objects removed
  if (r < 0) {
    log::error(std::string("event loop failed: ") + std::strerror(-r));
    return 1;
  }
  log::info("sedged stopped");
  return 0;
}

Result<std::string> Daemon::reload() {
  sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
  auto loaded = config::load(options_.sources);
  std::string refused;
  if (!loaded) {
    refused = loaded.error().message;
  } else if (loaded->has_errors()) {
    log_diagnostics(*loaded);
    refused = first_error(*loaded);
  }
  if (!refused.empty()) {
    state_.last_reload_error = refused;
    log::error(log::kReloadRefused, "reload refused, the running configuration stays: " + refused, {{"RELOAD", "refused"}});
    notify_status();
    return Error{"configuration refused, the running one stays: " + refused, EINVAL};
  }
  const config::ConfigDiff changes = config::diff(state_.loaded.config, loaded->config);
  log_diagnostics(*loaded);
  for (const auto& c : changes.changes) {
    const char* kind = c.kind == config::ConfigDiff::Change::Kind::added     ? "added"
                       : c.kind == config::ConfigDiff::Change::Kind::removed ? "removed"
                                                                              : "changed";
    log::info(std::string("configuration ") + kind + ": " + c.section + " " + c.name,
              {{"CONFIG_CHANGE", kind}, {"CONFIG_SECTION", c.section}, {"CONFIG_OBJECT", c.name}});
  }
  state_.loaded = std::move(*loaded);
  state_.loaded_at_usec = now_realtime_usec();
  state_.last_reload_error.clear();
  apply_log_level(state_.loaded.config);
  apply_onboarding();
  if (connectors_) connectors_->apply(state_.loaded.config);
  const std::string summary = "reloaded: " + std::to_string(changes.changes.size()) + " change" +
                              (changes.changes.size() == 1 ? "" : "s");
  log::notice(log::kReloadApplied, summary, {{"RELOAD", "applied"}, {"CONFIG_CHANGES", std::to_string(changes.changes.size())}});
  if (bus_) sd_bus_emit_properties_changed(bus_.get(), kObjectPath, kInterface, "Status", "ConfigLoadedAt", nullptr);
  notify_status();
  return summary;
}

int Daemon::on_sighup(sd_event_source*, const struct signalfd_siginfo*, void* self) {
  (void)static_cast<Daemon*>(self)->reload();  // reload() logs and notifies either way
  return 0;
}

int Daemon::on_sigterm(sd_event_source* source, const struct signalfd_siginfo*, void*) {
  log::info("stopping on signal");
  return sd_event_exit(sd_event_source_get_event(source), 0);
}

// Starts, restarts or stops the onboarding worker to match the configuration; an unchanged
// [Onboarding] keeps the running worker (and its management channel) untouched, and any changed
// setting restarts it (onboarding_action compares them all).
void Daemon::apply_onboarding() {
  const auto& wanted = state_.loaded.config.onboarding;
  const auto running = onboarding_ ? std::optional<config::Onboarding>(onboarding_->config()) : std::nullopt;
  const OnboardingAction action = onboarding_action(running, wanted);
  switch (action) {
    case OnboardingAction::none:
    case OnboardingAction::keep:
      return;
    case OnboardingAction::stop:
      onboarding_.reset();
      break;
    case OnboardingAction::start:
    case OnboardingAction::restart:
      onboarding_.reset();
      onboarding_ = std::make_unique<OnboardingTask>(*wanted);
      break;
  }
  log::info(std::string("onboarding worker: ") + to_string(action), {{"ONBOARDING", to_string(action)}});
}

nlohmann::json Daemon::describe() const {
  nlohmann::json out = state_.describe();
  if (connectors_) {
    if (auto s = connectors_->describe_steering(); !s.is_null()) out["steering"] = std::move(s);
  }
  if (onboarding_ && out.contains("onboarding")) out["onboarding"].update(onboarding_->describe());
  return out;
}

int Daemon::method_describe(sd_bus_message* m, void* self, sd_bus_error*) {
  return sd_bus_reply_method_return(m, "s", static_cast<Daemon*>(self)->describe().dump().c_str());
}

int Daemon::method_reload(sd_bus_message* m, void* self, sd_bus_error* err) {
  auto r = static_cast<Daemon*>(self)->reload();
  if (!r) return sd_bus_error_set(err, kErrorConfigRejected, r.error().message.c_str());
  return sd_bus_reply_method_return(m, "s", r->c_str());
}

// Up/Down of one tunnel by name (sedgectl up|down NAME); not for unprivileged callers.
int Daemon::tunnel_action(sd_bus_message* m, void* self, sd_bus_error* err, bool up) {
  const char* name = nullptr;
  if (int r = sd_bus_message_read(m, "s", &name); r < 0) return r;
  auto* d = static_cast<Daemon*>(self);
  if (!d->connectors_) return sd_bus_error_set(err, kErrorNoConnectors, "this sedged runs no connectors (see its log)");
  const Status st = up ? d->connectors_->manager().up(name) : d->connectors_->manager().down(name);
  if (!st) return sd_bus_error_set(err, kErrorNoSuchTunnel, st.error().message.c_str());
  log::notice(std::string("tunnel ") + name + (up ? " brought up" : " taken down") + " by an operator", {{"TUNNEL", name}});
  return sd_bus_reply_method_return(m, "");
}
int Daemon::method_tunnel_up(sd_bus_message* m, void* self, sd_bus_error* err) { return tunnel_action(m, self, err, true); }
int Daemon::method_tunnel_down(sd_bus_message* m, void* self, sd_bus_error* err) { return tunnel_action(m, self, err, false); }

nlohmann::json Daemon::onboarding_status() const {
  const auto& o = state_.loaded.config.onboarding;
  if (!o) return nullptr;
  nlohmann::json out = {{"conductor", o->conductor}, {"port", o->port}, {"management_port", o->management_port},
                        {"auth_state", "not-onboarded"}, {"channel", "down"}, {"detail", ""}};
  auto record = onboarding::load_state(o->state_directory);
  if (record) {
    out["auth_state"] = "completed";
    out["router_id"] = record->router_id;
    out["conductor_host"] = record->conductor_host;
    out["pin"] = record->pin;
    out["certificate_file"] = record->certificate_file;
    out["tls_key_handle"] = hex32(record->tls_key_handle);
    out["completed_at"] = record->completed_at;
  } else if (record.error().code != ENOENT) {
    out["detail"] = record.error().message;
  }
  if (onboarding_) out.update(onboarding_->describe());
  out["running"] = onboarding_ && !onboarding_->finished();
  return out;
}

// Onboard(): (re)starts the onboarding worker unless it is running - onboarding, or holding the
// management channel of an onboarding still on record (`sedgectl onboard reset` forgets it) -
// and answers what OnboardingStatus answers.
int Daemon::method_onboard(sd_bus_message* m, void* self, sd_bus_error* err) {
  auto* d = static_cast<Daemon*>(self);
  const auto& o = d->state_.loaded.config.onboarding;
  if (!o || o->conductor.empty()) {
    return sd_bus_error_set(err, kErrorNoOnboarding, "the configuration has no [Onboarding] with a Conductor=");
  }
  const bool running = d->onboarding_ && !d->onboarding_->finished();
  const bool completed = d->onboarding_ && d->onboarding_->describe().value("auth_state", "") == "completed";
  const bool on_record = static_cast<bool>(onboarding::load_state(o->state_directory));
  if (!running || (completed && !on_record)) {
    d->onboarding_.reset();
    d->onboarding_ = std::make_unique<OnboardingTask>(*o);
    log::notice("onboarding started by an operator", {{"CONDUCTOR", o->conductor}});
  }
  return sd_bus_reply_method_return(m, "s", d->onboarding_status().dump().c_str());
}

int Daemon::method_onboarding_status(sd_bus_message* m, void* self, sd_bus_error* err) {
  const nlohmann::json s = static_cast<Daemon*>(self)->onboarding_status();
  if (s.is_null()) return sd_bus_error_set(err, kErrorNoOnboarding, "the configuration has no [Onboarding]");
  return sd_bus_reply_method_return(m, "s", s.dump().c_str());
}

// The SAs' counters come from one XFRM dump per call (sedged holds CAP_NET_ADMIN); without it
// the tunnels' SA counters read 0 and the rest is still served.
std::string Daemon::metrics() const {
  return format_metrics(describe(), connectors_ ? kernel_sa_stats() : SaStats{});
}

int Daemon::method_metrics(sd_bus_message* m, void* self, sd_bus_error*) {
  return sd_bus_reply_method_return(m, "s", static_cast<Daemon*>(self)->metrics().c_str());
}

int Daemon::property_version(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void*, sd_bus_error*) {
  return sd_bus_message_append(reply, "s", kVersion);
}

int Daemon::property_status(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* self, sd_bus_error*) {
  return sd_bus_message_append(reply, "s", static_cast<Daemon*>(self)->state_.status_line().c_str());
}

int Daemon::property_loaded_at(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* self, sd_bus_error*) {
  return sd_bus_message_append(reply, "t", static_cast<Daemon*>(self)->state_.loaded_at_usec);
}

// The fallback vtable serves every path under the prefix; only existing connectors answer.
int Daemon::connector_find(sd_bus*, const char* path, const char*, void* self, void** found, sd_bus_error*) {
  const auto* d = static_cast<Daemon*>(self);
  if (!d->state_.loaded.config.connectors.count(object_name(kConnectorPrefix, path))) return 0;
  *found = self;
  return 1;
}

int Daemon::connector_enumerate(sd_bus*, const char*, void* self, char*** nodes, sd_bus_error*) {
  const auto& connectors = static_cast<Daemon*>(self)->state_.loaded.config.connectors;
  char** list = static_cast<char**>(calloc(connectors.size() + 1, sizeof(char*)));
  if (!list) return -ENOMEM;
  size_t i = 0;
  for (const auto& [name, c] : connectors) list[i++] = strdup(connector_path(name).c_str());
  *nodes = list;
  return 1;
}

int Daemon::connector_describe(sd_bus_message* m, void* self, sd_bus_error* err) {
  const std::string name = object_name(kConnectorPrefix, sd_bus_message_get_path(m));
  const auto j = name.empty() ? nlohmann::json() : static_cast<Daemon*>(self)->state_.describe_connector(name);
  if (j.is_null()) return sd_bus_error_set(err, SD_BUS_ERROR_UNKNOWN_OBJECT, "no such connector");
  return sd_bus_reply_method_return(m, "s", j.dump().c_str());
}

}  // namespace sedge::agent

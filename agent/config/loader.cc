#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "agent/config/config.h"
#include "agent/config/ini.h"
#include "agent/config/values.h"
#include "common/files.h"

namespace sedge::config {
namespace fs = std::filesystem;
namespace {

// ---- Files ----

struct SourceFile {
  fs::path path;
  std::string text;
  bool private_mode = false;  // no group/other access: may hold an inline secret
};

Result<SourceFile> read_file(const fs::path& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Error::sys(path.string() + ": cannot read: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Error{path.string() + ": not a regular file", EINVAL};
  if (static_cast<size_t>(st.st_size) > kMaxFileBytes) return file_too_large(path.string(), static_cast<size_t>(st.st_size));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::sys(path.string() + ": cannot read: " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  return SourceFile{path, buf.str(), (st.st_mode & 077) == 0};
}

// The files to read, in application order: the main file (from the highest-precedence
// directory that has one), then drop-ins sorted by file name, each name from the
// highest-precedence directory (so /etc masks /run masks /usr/lib).
std::vector<fs::path> discover(const Sources& sources) {
  std::vector<fs::path> files;
  for (const auto& dir : sources.directories) {
    std::error_code ec;
    if (fs::is_regular_file(dir / "sedge.conf", ec)) {
      files.push_back(dir / "sedge.conf");
      break;
    }
  }
  std::map<std::string, fs::path> dropins;
  for (auto dir = sources.directories.rbegin(); dir != sources.directories.rend(); ++dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(*dir / "sedge.conf.d", ec)) {
      if (e.path().extension() == ".conf") dropins[e.path().filename().string()] = e.path();
    }
  }
  for (auto& [name, path] : dropins) files.push_back(path);
  return files;
}

Result<Secret> read_secret_file(const fs::path& path, size_t max_size = 4096, const char* what = "a pre-shared key") {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Error::sys("cannot read " + path.string() + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Error{path.string() + " is not a regular file", EINVAL};
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return Error{path.string() + " is readable by group or others (mode " + mode + "): chmod 600 it", EPERM};
  }
  if (static_cast<size_t>(st.st_size) > max_size) {
    return Error{path.string() + " is larger than " + std::to_string(max_size) + " bytes: not " + what, EFBIG};
  }
  auto read = sedge::read_file(path.string());
  if (!read) return read.error();
  std::string text = std::move(*read);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  Secret s{std::string_view(text)};
  std::fill(text.begin(), text.end(), '\0');
  if (s.empty()) return Error{path.string() + " is empty", EINVAL};
  return s;
}

// ---- Objects: the assignments of one [Type name] across all files ----

struct RawObject {
  std::string type, name;
  Location where;
  std::vector<Assignment> assignments;
  bool private_file = true;  // every file that set it is private (inline secrets allowed)
};

// Reads the keys of one object, turning bad values into diagnostics. Any error rejects the
// object; the caller drops it and the rest of the configuration loads.
class ObjectReader {
 public:
  // `accepted`, if given, collects every key the reader asked for (accepted_keys()).
  ObjectReader(const RawObject& obj, std::vector<Diagnostic>& diags, std::set<std::string>* accepted = nullptr)
      : obj_(obj), diags_(diags), accepted_(accepted) {}

  const Assignment* last(std::string_view key) {
    known_.insert(std::string(key));
    const Assignment* found = nullptr;
    for (const auto& a : obj_.assignments) {
      if (a.key == key) found = &a;
    }
    return found && !found->value.empty() ? found : nullptr;
  }

  std::vector<const Assignment*> list(std::string_view key) {
    known_.insert(std::string(key));
    std::vector<const Assignment*> out;
    for (const auto& a : obj_.assignments) {
      if (a.key != key) continue;
      if (a.value.empty()) {
        out.clear();  // `Key=` resets the list
      } else {
        out.push_back(&a);
      }
    }
    return out;
  }

  // Parses the last value of `key` with `parse` and stores it through `store`.
  template <typename Parse, typename Store>
  void scalar(std::string_view key, Parse parse, Store store) {
    if (const Assignment* a = last(key)) {
      auto v = parse(a->value);
      if (v.ok()) {
        store(std::move(*v));
      } else {
        error(*a, v.error().message);
      }
    }
  }

  template <typename Parse, typename Store>
  void each(std::string_view key, Parse parse, Store store) {
    for (const Assignment* a : list(key)) {
      auto v = parse(a->value);
      if (v.ok()) {
        store(std::move(*v));
      } else {
        error(*a, v.error().message);
      }
    }
  }

  void error(const Assignment& a, const std::string& message) {
    rejected_ = true;
    diags_.push_back({Diagnostic::Severity::error, a.where,
                      obj_.type + " " + obj_.name + ": " + a.key + "=: " + message + "; " + obj_.type + " " + obj_.name +
                          " is ignored"});
  }
  void error(const std::string& message) {
    rejected_ = true;
    diags_.push_back({Diagnostic::Severity::error, obj_.where,
                      obj_.type + " " + obj_.name + ": " + message + "; " + obj_.type + " " + obj_.name + " is ignored"});
  }

  // Unknown keys are warnings: a newer sedge may know them, and the rest still means something.
  bool finish() {
    if (accepted_) accepted_->insert(known_.begin(), known_.end());
    for (const auto& a : obj_.assignments) {
      if (!known_.count(a.key)) {
        diags_.push_back({Diagnostic::Severity::warning, a.where,
                          "unknown key '" + a.key + "' in [" + obj_.type + "], ignored"});
      }
    }
    return !rejected_;
  }

  const RawObject& object() const { return obj_; }

 private:
  const RawObject& obj_;
  std::vector<Diagnostic>& diags_;
  std::set<std::string> known_;
  std::set<std::string>* accepted_;
  bool rejected_ = false;
};

template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

template <typename E, size_t N>
auto enum_parser(const EnumName<E> (&names)[N]) {
  return [&names](std::string_view text) -> Result<E> {
    std::string expected;
    for (const auto& n : names) {
      if (n.name == text) return n.value;
      expected += (expected.empty() ? "" : ", ") + std::string(n.name);
    }
    return Error{"'" + std::string(text) + "' is not valid: expected one of " + expected, EINVAL};
  };
}

constexpr EnumName<AuthMethod> kAuthMethods[] = {{"psk", AuthMethod::psk}, {"pubkey", AuthMethod::pubkey}};
constexpr EnumName<InterfaceRole> kRoles[] = {{"wan", InterfaceRole::wan}, {"lan", InterfaceRole::lan}};
constexpr EnumName<Provider> kProviders[] = {{"juniper-secure-edge", Provider::juniper_secure_edge},
                                             {"zscaler", Provider::zscaler},
                                             {"prisma-access", Provider::prisma_access},
                                             {"checkpoint-harmony", Provider::checkpoint_harmony},
                                             {"custom", Provider::custom}};
constexpr EnumName<ConnectorType> kTypes[] = {{"ipsec", ConnectorType::ipsec}, {"gre", ConnectorType::gre}};
constexpr EnumName<TunnelMode> kModes[] = {{"active-standby", TunnelMode::active_standby},
                                           {"active-active", TunnelMode::active_active}};
constexpr EnumName<TunnelRole> kTunnelRoles[] = {{"primary", TunnelRole::primary}, {"secondary", TunnelRole::secondary}};
constexpr EnumName<Routing> kRoutings[] = {{"route-based", Routing::route_based}, {"policy-based", Routing::policy_based}};
constexpr EnumName<Fragmentation> kFragmentations[] = {
    {"yes", Fragmentation::yes}, {"accept", Fragmentation::accept}, {"force", Fragmentation::force}, {"no", Fragmentation::no}};
constexpr EnumName<Strategy> kStrategies[] = {{"ordered", Strategy::ordered}, {"weighted", Strategy::weighted}};
constexpr EnumName<PolicyAction> kActions[] = {
    {"steer", PolicyAction::steer}, {"breakout", PolicyAction::breakout}, {"deny", PolicyAction::deny}};

auto text_value = [](std::string_view s) -> Result<std::string> { return std::string(s); };
auto uint_in = [](uint32_t min, uint32_t max) {
  return [min, max](std::string_view s) { return parse_uint(s, min, max); };
};

// A readable file holding a PEM certificate; its path.
auto pem_certificate_file = [](std::string_view s) -> Result<std::string> {
  const std::string path(s);
  auto text = sedge::read_file(path);
  if (!text) return text.error();
  if (text->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return Error{path + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)", EINVAL};
  }
  return path;
};

// A TPM persistent handle, 0x81000000 to 0x81ffffff, in hex.
auto persistent_handle = [](std::string_view s) -> Result<uint32_t> {
  const std::string text(s);
  char* end = nullptr;
  errno = 0;
  const unsigned long v = text.rfind("0x", 0) == 0 ? std::strtoul(text.c_str() + 2, &end, 16) : 0;
  if (text.size() <= 2 || errno != 0 || end == nullptr || *end != '\0' || v < 0x81000000ul ||
      v > 0x81fffffful) {
    return Error{"'" + text + "' is not a TPM persistent handle (0x81000000 to 0x81ffffff)",
                 EINVAL};
  }
  return static_cast<uint32_t>(v);
};

// ---- Provider presets (Secure Edge guides) ----

struct Preset {
  const char* ike;
  const char* esp;
  uint32_t ike_lifetime, child_lifetime;
  bool fixed;  // the provider's portal cannot change them: explicit values are overridden
};

Preset preset_for(Provider p) {
  switch (p) {
    case Provider::juniper_secure_edge:  // the "default-ipsec" profile, which must be kept
      return {"aes128gcm16-prfsha256-modp2048", "aes128gcm16-modp2048", 86400, 3600, true};
    case Provider::zscaler:
      return {"aes256-sha256-modp2048", "aes256gcm16", 86400, 28800, false};
    case Provider::prisma_access:
      return {"aes256-sha256-modp2048", "aes256gcm16-modp2048", 28800, 3600, false};
    case Provider::checkpoint_harmony:
      return {"aes256-sha256-modp2048", "aes256-sha256-modp2048", 86400, 3600, false};
    case Provider::custom:
      break;
  }
  return {"aes256gcm16-prfsha256-modp2048", "aes256gcm16-modp2048", 86400, 3600, false};
}

// ---- Building objects ----

// A model object carrying its section's name and file:line.
template <typename T>
T named(const RawObject& o) {
  T t;
  t.name = o.name;
  t.where = o.where;
  return t;
}

struct Builder {
  const Sources& sources;
  std::vector<Diagnostic>& diags;
  Config& cfg;
  std::map<std::string, std::set<std::string>>* accepted = nullptr;  // see accepted_keys()

  ObjectReader reader(const RawObject& o) {
    return ObjectReader(o, diags, accepted ? &(*accepted)[o.type] : nullptr);
  }

  // The object's pre-shared key from exactly one of its three sources; errors are reported at
  // the line of the key that caused them.
  Secret secret(ObjectReader& r, SecretSource& source) {
    const Assignment* file = r.last("PresharedKeyFile");
    const Assignment* cred = r.last("PresharedKeyCredential");
    const Assignment* inline_key = r.last("PresharedKey");
    const Assignment* given[] = {file, cred, inline_key};
    const Assignment* latest = nullptr;
    int count = 0;
    for (const Assignment* a : given) {
      if (!a) continue;
      ++count;
      if (!latest || a->where.file > latest->where.file ||
          (a->where.file == latest->where.file && a->where.line > latest->where.line)) {
        latest = a;
      }
    }
    if (count == 0) return Secret{};
    if (count > 1) {
      r.error(*latest, "give one of PresharedKeyFile=, PresharedKeyCredential= and PresharedKey=");
      return Secret{};
    }
    Result<Secret> s = Secret{};
    if (file) {
      source.description = "file " + file->value;
      s = read_secret_file(file->value);
    } else if (cred) {
      source.description = "credential " + cred->value;
      if (sources.credentials_directory.empty()) {
        s = Error{"no credentials directory ($CREDENTIALS_DIRECTORY): add LoadCredential=" + cred->value +
                      ":<path> to the unit",
                  ENOENT};
      } else {
        s = read_secret_file(sources.credentials_directory / cred->value);
      }
    } else {
      source.description = "inline";
      s = r.object().private_file
              ? Result<Secret>(Secret{std::string_view(inline_key->value)})
              : Result<Secret>(Error{"PresharedKey= in a file readable by group or others; use PresharedKeyFile= or "
                                     "PresharedKeyCredential=, or chmod 600 the file",
                                     EPERM});
    }
    if (!s) {
      r.error(*latest, s.error().message);
      return Secret{};
    }
    return std::move(*s);
  }

  // AuthMethod=, and for certificates Certificate=, PrivateKeyFile= (mode 0600, read now, kept
  // as a Secret) and CAPath=; each file is checked here so that a bad one is reported at its line.
  void certificate_auth(ObjectReader& r, std::optional<AuthMethod>& method, CertificateAuth& c) {
    r.scalar("AuthMethod", enum_parser(kAuthMethods), [&](AuthMethod v) { method = v; });
    r.scalar("Certificate", pem_certificate_file,
             [&](std::string v) { c.certificate = std::move(v); });
    if (const Assignment* a = r.last("PrivateKeyFile")) {
      c.private_key_file = a->value;
      auto key = read_secret_file(a->value, 16384, "a private key");
      if (key && (key->view().find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
                  key->view().find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos)) {
        key = Error{a->value + " is an encrypted private key; give it unencrypted in a 0600 file", EINVAL};
      } else if (key && key->view().find("PRIVATE KEY-----") == std::string_view::npos) {
        key = Error{a->value + " holds no PEM private key (-----BEGIN PRIVATE KEY-----)", EINVAL};
      }
      if (key) {
        c.private_key = std::move(*key);
      } else {
        r.error(*a, key.error().message);
      }
    }
    r.scalar("CAPath", [](std::string_view s) -> Result<std::string> {
      std::error_code ec;
      if (!fs::is_directory(s, ec) && !fs::is_regular_file(s, ec)) {
        return Error{std::string(s) + " is neither a file nor a directory of CA certificates", ENOENT};
      }
      return std::string(s);
    }, [&](std::string v) { c.ca_path = std::move(v); });
  }

  void interface(const RawObject& o) {
    ObjectReader r = reader(o);
    Interface i = named<Interface>(o);
    i.device = o.name;
    r.scalar("Device", text_value, [&](std::string v) { i.device = std::move(v); });
    r.scalar("Role", enum_parser(kRoles), [&](InterfaceRole v) { i.role = v; });
    r.each("Network", parse_prefix, [&](Prefix p) { i.networks.push_back(p); });
    r.scalar("Gateway", text_value, [&](std::string v) { i.gateway = std::move(v); });
    if (!r.last("Role")) r.error("Role= is required (wan or lan)");
    if (i.role == InterfaceRole::lan && i.networks.empty() && r.last("Role")) r.error("a LAN interface needs Network=");
    if (r.finish()) cfg.interfaces.emplace(o.name, std::move(i));
  }

  void connector(const RawObject& o) {
    ObjectReader r = reader(o);
    Connector c = named<Connector>(o);
    r.scalar("Provider", enum_parser(kProviders), [&](Provider v) { c.provider = v; });
    r.scalar("Type", enum_parser(kTypes), [&](ConnectorType v) { c.type = v; });
    r.scalar("Mode", enum_parser(kModes), [&](TunnelMode v) { c.mode = v; });
    r.scalar("LocalId", parse_identity, [&](Identity v) { c.local_id = std::move(v); });
    r.each("ProtectedNetwork", parse_prefix, [&](Prefix p) { c.protected_networks.push_back(p); });
    c.psk = secret(r, c.psk_source);
    certificate_auth(r, c.auth_method, c.cert);
    if (c.provider == Provider::juniper_secure_edge && c.local_id && c.local_id->type != IdType::rfc822) {
      r.error(*r.last("LocalId"), "Juniper Secure Edge needs an e-mail style LocalId= unique per site (e.g. site1@example.com)");
    }
    if (r.finish()) cfg.connectors.emplace(o.name, std::move(c));
  }

  void tunnel(const RawObject& o) {
    ObjectReader r = reader(o);
    Tunnel t = named<Tunnel>(o);
    r.scalar("Connector", text_value, [&](std::string v) { t.connector = std::move(v); });
    r.scalar("Role", enum_parser(kTunnelRoles), [&](TunnelRole v) { t.role = v; });
    r.scalar("Wan", text_value, [&](std::string v) { t.wan = std::move(v); });
    r.scalar("Remote", text_value, [&](std::string v) { t.remote = std::move(v); });
    r.scalar("RemoteId", parse_identity, [&](Identity v) { t.remote_id = std::move(v); });
    r.scalar("LocalId", parse_identity, [&](Identity v) { t.local_id = std::move(v); });
    const auto proposal = [](ProposalKind kind) {
      return [kind](std::string_view s) -> Result<std::string> {
        if (auto st = validate_proposal(s, kind); !st) return st.error();
        return std::string(s);
      };
    };
    r.each("IkeProposal", proposal(ProposalKind::ike), [&](std::string v) { t.ike_proposals.push_back(std::move(v)); });
    r.each("EspProposal", proposal(ProposalKind::esp), [&](std::string v) { t.esp_proposals.push_back(std::move(v)); });
    r.scalar("IkeLifetimeSec", uint_in(300, 604800), [&](uint32_t v) { t.ike_lifetime_sec = v; });
    r.scalar("ChildLifetimeSec", uint_in(60, 604800), [&](uint32_t v) { t.child_lifetime_sec = v; });
    r.scalar("DpdIntervalSec", uint_in(0, 3600), [&](uint32_t v) { t.dpd_interval_sec = v; });
    r.scalar("DpdTimeoutSec", uint_in(1, 3600), [&](uint32_t v) { t.dpd_timeout_sec = v; });
    r.scalar("RetransmitTimeoutSec", uint_in(1, 60), [&](uint32_t v) { t.retransmit_timeout_sec = v; });
    r.scalar("RetransmitTries", uint_in(0, 20), [&](uint32_t v) { t.retransmit_tries = v; });
    r.scalar("NatTraversal", parse_bool, [&](bool v) { t.nat_traversal = v; });
    r.scalar("Fragmentation", enum_parser(kFragmentations), [&](Fragmentation v) { t.fragmentation = v; });
    r.scalar("FragmentSize", uint_in(576, 65535), [&](uint32_t v) { t.fragment_size = v; });
    r.each("Probe", text_value, [&](std::string v) { t.probes.push_back(std::move(v)); });
    r.scalar("Routing", enum_parser(kRoutings), [&](Routing v) { t.routing = v; });
    r.each("LocalTrafficSelector", parse_prefix, [&](Prefix p) { t.local_ts.push_back(p); });
    r.each("RemoteTrafficSelector", parse_prefix, [&](Prefix p) { t.remote_ts.push_back(p); });
    r.each("RemoteNetwork", parse_prefix, [&](Prefix p) { t.remote_networks.push_back(p); });
    r.scalar("MaxChildSAs", uint_in(1, 64), [&](uint32_t v) { t.max_child_sas = v; });
    t.psk = secret(r, t.psk_source);
    certificate_auth(r, t.auth_method, t.cert);
    if (t.connector.empty()) r.error("Connector= is required");
    if (t.wan.empty()) r.error("Wan= is required (the WAN interface the tunnel leaves by)");
    if (t.remote.empty()) r.error("Remote= is required (the service location's address)");
    if (t.dpd_interval_sec && t.dpd_timeout_sec <= t.dpd_interval_sec) {
      const Assignment* at = r.last("DpdTimeoutSec") ? r.last("DpdTimeoutSec") : r.last("DpdIntervalSec");
      r.error(*at, "DpdTimeoutSec= must be longer than DpdIntervalSec=");
    }
    if (t.child_lifetime_sec >= t.ike_lifetime_sec && r.last("ChildLifetimeSec")) {
      diags.push_back({Diagnostic::Severity::warning, o.where,
                       "Tunnel " + o.name + ": ChildLifetimeSec= is not shorter than IkeLifetimeSec="});
    }
    if (t.routing == Routing::policy_based && (t.local_ts.empty() || t.remote_ts.empty())) {
      r.error(*r.last("Routing"), "Routing=policy-based needs LocalTrafficSelector= and RemoteTrafficSelector= (one missing subnet "
              "fails the whole CHILD_SA with some peers)");
    }
    if (r.finish()) cfg.tunnels.emplace(o.name, std::move(t));
  }

  void child(const RawObject& o) {
    ObjectReader r = reader(o);
    Child c = named<Child>(o);
    r.scalar("Tunnel", text_value, [&](std::string v) { c.tunnel = std::move(v); });
    r.scalar("LocalTrafficSelector", parse_prefix, [&](Prefix p) { c.local_ts = p; });
    r.scalar("RemoteTrafficSelector", parse_prefix, [&](Prefix p) { c.remote_ts = p; });
    if (c.tunnel.empty()) r.error("Tunnel= is required (the policy-based tunnel whose IKE SA carries it)");
    if (!r.last("LocalTrafficSelector") || !r.last("RemoteTrafficSelector")) {
      r.error("LocalTrafficSelector= and RemoteTrafficSelector= are required (one subnet each)");
    }
    const auto ipv4_only = [&](const char* key, const Prefix& p) {
      if (r.last(key) && p.family != AF_INET) r.error(*r.last(key), std::string(key) + "= must be an IPv4 subnet (IKE's CHILD_SAs are IPv4 only for now)");
    };
    ipv4_only("LocalTrafficSelector", c.local_ts);
    ipv4_only("RemoteTrafficSelector", c.remote_ts);
    if (r.finish()) cfg.children.emplace(o.name, std::move(c));
  }

  void application(const RawObject& o) {
    ObjectReader r = reader(o);
    Application a = named<Application>(o);
    r.each("Destination", parse_prefix, [&](Prefix p) { a.destinations.push_back(p); });
    r.scalar("Protocol", parse_protocol, [&](uint8_t v) { a.protocol = v; });
    r.each("Port", parse_port_range, [&](PortRange p) { a.ports.push_back(p); });
    if (!a.ports.empty() && a.protocol != 6 && a.protocol != 17 && a.protocol != 132) {
      r.error("Port= needs Protocol=tcp, udp or sctp");
    }
    if (r.finish()) cfg.applications.emplace(o.name, std::move(a));
  }

  void profile(const RawObject& o) {
    ObjectReader r = reader(o);
    SteeringProfile p = named<SteeringProfile>(o);
    r.scalar("Strategy", enum_parser(kStrategies), [&](Strategy v) { p.strategy = v; });
    r.each("Path", [](std::string_view s) -> Result<SteeringPath> {
      SteeringPath path;
      const size_t space = s.find(' ');
      path.target = std::string(s.substr(0, space));
      if (space != std::string_view::npos) {
        std::string_view opt = s.substr(space + 1);
        while (!opt.empty() && opt.front() == ' ') opt.remove_prefix(1);
        if (opt.rfind("weight=", 0) != 0) return Error{"'" + std::string(s) + "': expected 'NAME [weight=N]'", EINVAL};
        auto w = parse_uint(opt.substr(7), 1, 1000);
        if (!w) return w.error();
        path.weight = *w;
      }
      return path;
    }, [&](SteeringPath v) { p.paths.push_back(std::move(v)); });
    r.scalar("PreemptDelaySec", uint_in(0, 3600), [&](uint32_t v) { p.preempt_delay_sec = v; });
    if (p.paths.empty()) r.error("at least one Path= is required");
    if (r.finish()) cfg.profiles.emplace(o.name, std::move(p));
  }

  void policy(const RawObject& o) {
    ObjectReader r = reader(o);
    Policy p = named<Policy>(o);
    r.scalar("Order", uint_in(0, 1000000), [&](uint32_t v) { p.order = v; });
    r.each("Source", text_value, [&](std::string v) {
      if (auto prefix = parse_prefix(v)) {
        p.source_prefixes.push_back(*prefix);
      } else {
        p.sources.push_back(std::move(v));
      }
    });
    r.each("Application", text_value, [&](std::string v) { p.applications.push_back(std::move(v)); });
    r.scalar("Action", enum_parser(kActions), [&](PolicyAction v) { p.action = v; });
    r.scalar("Profile", text_value, [&](std::string v) { p.profile = std::move(v); });
    if (p.action == PolicyAction::steer && p.profile.empty()) r.error("Action=steer needs Profile=");
    if (p.action != PolicyAction::steer && !p.profile.empty()) r.error("Profile= only applies to Action=steer");
    if (r.finish()) cfg.policies.emplace(o.name, std::move(p));
  }

  void onboarding(const RawObject& o) {
    ObjectReader r = reader(o);
    Onboarding b;
    b.where = o.where;
    r.scalar("Conductor", text_value, [&](std::string v) { b.conductor = std::move(v); });
    r.scalar("Port", uint_in(1, 65535), [&](uint32_t v) { b.port = static_cast<uint16_t>(v); });
    r.scalar("ManagementPort", uint_in(1, 65535), [&](uint32_t v) { b.management_port = static_cast<uint16_t>(v); });
    r.scalar("TokenFile", text_value, [&](std::string v) { b.token_file = std::move(v); });
    r.scalar("Tcti", text_value, [&](std::string v) { b.tcti = std::move(v); });
    r.scalar("RouterId", text_value, [&](std::string v) { b.router_id = std::move(v); });
    r.scalar("Interface", text_value, [&](std::string v) { b.interface = std::move(v); });
    r.scalar("StateDirectory", text_value, [&](std::string v) { b.state_directory = std::move(v); });
    r.scalar("EkProfile", [](std::string_view s) -> Result<std::string> {
      if (s == "rsa2048" || s == "ecc-p256" || s == "ecc-p384") return std::string(s);
      return Error{"'" + std::string(s) + "' is not valid: expected rsa2048, ecc-p256 or ecc-p384", EINVAL};
    }, [&](std::string v) { b.ek_profile = std::move(v); });
    onboarding_identity(r, b);
    if (r.finish()) cfg.onboarding = std::move(b);
  }

  // Identity= (ek or idevid); for idevid, IDevIDCertificate= (a readable PEM file) is required
  // and IDevIDKeyHandle= is where the manufacturer persisted the key.
  void onboarding_identity(ObjectReader& r, Onboarding& b) {
    r.scalar(
        "Identity",
        [](std::string_view s) -> Result<std::string> {
          if (s == "ek" || s == "idevid") return std::string(s);
          return Error{"'" + std::string(s) + "' is not valid: expected ek or idevid", EINVAL};
        },
        [&](std::string v) { b.identity = std::move(v); });
    r.scalar("IDevIDCertificate", pem_certificate_file,
             [&](std::string v) { b.idevid_certificate = std::move(v); });
    r.scalar("IDevIDKeyHandle", persistent_handle, [&](uint32_t v) { b.idevid_key_handle = v; });
    const Assignment* identity = r.last("Identity");
    if (identity && b.identity == "idevid" && r.last("IDevIDCertificate") == nullptr) {
      r.error(*identity,
              "Identity=idevid needs IDevIDCertificate= (the device-ID certificate's PEM file)");
    }
  }

  void agent(const RawObject& o) {
    ObjectReader r = reader(o);
    r.scalar("LogLevel", [](std::string_view s) -> Result<std::string> {
      static constexpr std::string_view kLevels[] = {"error", "warning", "notice", "info", "debug"};
      if (std::find(std::begin(kLevels), std::end(kLevels), s) == std::end(kLevels)) {
        return Error{"'" + std::string(s) + "' is not valid: expected error, warning, notice, info or debug", EINVAL};
      }
      return std::string(s);
    }, [&](std::string v) { cfg.log_level = std::move(v); });
    r.scalar("KeyLogDirectory", text_value, [&](std::string v) { cfg.key_log_directory = std::move(v); });
    r.scalar("SteeringFlowCacheSize", uint_in(0, 1048576), [&](uint32_t v) { cfg.steering_flow_cache_size = v; });
    r.finish();
  }
};

void warn(std::vector<Diagnostic>& d, const Location& where, std::string message) {
  d.push_back({Diagnostic::Severity::warning, where, std::move(message)});
}
void reject(std::vector<Diagnostic>& d, const Location& where, std::string message) {
  d.push_back({Diagnostic::Severity::error, where, std::move(message)});
}

// References between objects. An object whose reference is missing (or was rejected) is
// rejected too, in dependency order, so nothing half-configured survives.
void resolve(Config& cfg, std::vector<Diagnostic>& d) {
  for (auto it = cfg.tunnels.begin(); it != cfg.tunnels.end();) {
    Tunnel& t = it->second;
    std::string why;
    auto conn = cfg.connectors.find(t.connector);
    auto wan = cfg.interfaces.find(t.wan);
    if (conn == cfg.connectors.end()) {
      why = "Connector=" + t.connector + " is not defined (or was rejected)";
    } else if (wan == cfg.interfaces.end() || wan->second.role != InterfaceRole::wan) {
      why = "Wan=" + t.wan + " is not a defined interface with Role=wan";
    } else if (cfg.auth_method_for(t) == AuthMethod::pubkey &&
               (cfg.certificate_for(t).empty() || cfg.private_key_for(t).empty() || cfg.ca_path_for(t).empty())) {
      std::string missing;
      if (cfg.certificate_for(t).empty()) missing += " Certificate=";
      if (cfg.private_key_for(t).empty()) missing += " PrivateKeyFile=";
      if (cfg.ca_path_for(t).empty()) missing += " CAPath=";
      why = "AuthMethod=pubkey needs" + missing + " on the tunnel or connector " + t.connector;
    } else if (cfg.auth_method_for(t) == AuthMethod::psk && t.psk.empty() && conn->second.psk.empty()) {
      why = "no pre-shared key: set PresharedKeyFile= or PresharedKeyCredential= on the tunnel or connector " + t.connector;
    } else if (!t.local_id && !conn->second.local_id) {
      why = "no local identity: set LocalId= on the tunnel or connector " + t.connector;
    }
    if (!why.empty()) {
      reject(d, t.where, "Tunnel " + t.name + ": " + why + "; Tunnel " + t.name + " is ignored");
      it = cfg.tunnels.erase(it);
      continue;
    }
    const Preset preset = preset_for(conn->second.provider);
    if (preset.fixed && (!t.ike_proposals.empty() || !t.esp_proposals.empty())) {
      warn(d, t.where, "Tunnel " + t.name + ": " + to_string(conn->second.provider) +
                           " keeps its default IKE and ESP proposals; IkeProposal=/EspProposal= ignored");
      t.ike_proposals.clear();
      t.esp_proposals.clear();
    }
    if (t.ike_proposals.empty()) t.ike_proposals.emplace_back(preset.ike);
    if (t.esp_proposals.empty()) t.esp_proposals.emplace_back(preset.esp);
    if (preset.fixed) {
      t.ike_lifetime_sec = preset.ike_lifetime;
      t.child_lifetime_sec = preset.child_lifetime;
    }
    if (conn->second.provider == Provider::juniper_secure_edge && !t.probes.empty()) {
      warn(d, t.where, "Tunnel " + t.name + ": Juniper Secure Edge drops ICMP probes through IPsec tunnels "
                       "(their source is not routable); liveness comes from IKE DPD instead");
    }
    ++it;
  }
  for (auto it = cfg.children.begin(); it != cfg.children.end();) {
    const Child& c = it->second;
    auto t = cfg.tunnels.find(c.tunnel);
    if (t == cfg.tunnels.end() || t->second.routing != Routing::policy_based) {
      reject(d, c.where, "Child " + c.name + ": Tunnel=" + c.tunnel + " is not a defined policy-based tunnel (or was rejected); Child " + c.name +
                             " is ignored");
      it = cfg.children.erase(it);
      continue;
    }
    ++it;
  }
  for (const auto& [name, t] : cfg.tunnels) {
    const size_t count = cfg.children_of(name).size() + 1;
    if (count > t.max_child_sas) {
      warn(d, t.where, "Tunnel " + name + ": " + std::to_string(count) + " CHILD_SAs ([Child] sections and its own) but MaxChildSAs=" +
                           std::to_string(t.max_child_sas) + "; the peer may refuse the last ones");
    }
  }
  for (auto it = cfg.profiles.begin(); it != cfg.profiles.end();) {
    std::string why;
    for (const auto& path : it->second.paths) {
      if (path.is_breakout()) {
        auto wan = cfg.interfaces.find(path.target.substr(9));
        if (wan == cfg.interfaces.end() || wan->second.role != InterfaceRole::wan) {
          why = "Path=" + path.target + " names no interface with Role=wan";
        }
      } else if (!cfg.tunnels.count(path.target) && !cfg.connectors.count(path.target)) {
        why = "Path=" + path.target + " is not a defined tunnel or connector (or was rejected)";
      } else if (auto c = cfg.connectors.find(path.target); c != cfg.connectors.end() &&
                 c->second.mode == TunnelMode::active_active && it->second.strategy == Strategy::ordered) {
        warn(d, it->second.where, "SteeringProfile " + it->first + ": connector " + path.target +
                                      " is Mode=active-active but the profile is Strategy=ordered: its tunnels carry traffic "
                                      "one at a time; Strategy=weighted spreads the flows over both");
      }
    }
    if (!why.empty()) {
      reject(d, it->second.where, "SteeringProfile " + it->first + ": " + why + "; SteeringProfile " + it->first + " is ignored");
      it = cfg.profiles.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = cfg.policies.begin(); it != cfg.policies.end();) {
    Policy& p = it->second;
    std::string why;
    if (p.action == PolicyAction::steer && !cfg.profiles.count(p.profile)) {
      why = "Profile=" + p.profile + " is not a defined steering profile (or was rejected)";
    }
    for (const auto& app : p.applications) {
      if (!cfg.applications.count(app)) why = "Application=" + app + " is not defined (or was rejected)";
    }
    for (const auto& src : p.sources) {
      auto i = cfg.interfaces.find(src);
      if (i == cfg.interfaces.end() || i->second.role != InterfaceRole::lan) {
        why = "Source=" + src + " is neither a prefix nor an interface with Role=lan";
      }
    }
    if (!why.empty()) {
      reject(d, p.where, "Policy " + p.name + ": " + why + "; Policy " + p.name + " is ignored");
      it = cfg.policies.erase(it);
    } else {
      ++it;
    }
  }
}

// Advice that leaves the configuration valid.
void advise(Config& cfg, std::vector<Diagnostic>& d) {
  // Tunnels exist only when something uses them: a steering profile, or remote networks.
  for (auto& [name, t] : cfg.tunnels) {
    t.referenced = !t.remote_networks.empty();
    for (const auto& [pname, p] : cfg.profiles) {
      for (const auto& path : p.paths) t.referenced |= path.target == name || path.target == t.connector;
    }
    if (!t.referenced) {
      warn(d, t.where, "Tunnel " + name + " is not used by any steering profile and has no RemoteNetwork=: "
                       "it is not created");
    }
  }
  // Overlapping branch networks towards one service location break stateful return traffic
  // (the provider spreads it by ECMP over every connection).
  for (auto a = cfg.connectors.begin(); a != cfg.connectors.end(); ++a) {
    for (auto b = std::next(a); b != cfg.connectors.end(); ++b) {
      bool same_pop = false;
      for (const Tunnel* ta : cfg.tunnels_of(a->first)) {
        for (const Tunnel* tb : cfg.tunnels_of(b->first)) same_pop |= ta->remote == tb->remote;
      }
      if (!same_pop) continue;
      for (const auto& pa : a->second.protected_networks) {
        for (const auto& pb : b->second.protected_networks) {
          if (pa.overlaps(pb)) {
            warn(d, b->second.where, "Connector " + b->first + ": ProtectedNetwork=" + pb.str() + " overlaps " + pa.str() +
                                         " of connector " + a->first + " towards the same service location; return "
                                         "traffic would be spread by ECMP and break stateful sessions");
          }
        }
      }
    }
  }
  for (const auto& [name, p] : cfg.profiles) {
    std::set<std::string> seen;
    for (const auto& path : p.paths) {
      if (!seen.insert(path.target).second) warn(d, p.where, "SteeringProfile " + name + ": Path=" + path.target + " listed twice");
    }
  }
}

// The sections: whether each takes a name, and its reader.
const std::map<std::string, std::pair<bool, void (Builder::*)(const RawObject&)>> kSections = {
    {"Agent", {false, &Builder::agent}},
    {"Interface", {true, &Builder::interface}},
    {"Connector", {true, &Builder::connector}},
    {"Tunnel", {true, &Builder::tunnel}},
    {"Child", {true, &Builder::child}},
    {"Application", {true, &Builder::application}},
    {"SteeringProfile", {true, &Builder::profile}},
    {"Policy", {true, &Builder::policy}},
    {"Onboarding", {false, &Builder::onboarding}},
};

Status apply_file(const SourceFile& file, std::map<std::pair<std::string, std::string>, RawObject>& objects,
                  std::vector<std::pair<std::string, std::string>>& order) {
  auto sections = parse_ini(file.path.string(), file.text);
  if (!sections) return sections.error();
  for (auto& s : *sections) {
    const auto key = std::make_pair(s.type, s.name);
    auto [it, inserted] = objects.try_emplace(key);
    RawObject& o = it->second;
    if (inserted) {
      o.type = s.type;
      o.name = s.name;
      o.where = s.where;
      order.push_back(key);
    }
    o.private_file &= file.private_mode;
    for (auto& a : s.assignments) o.assignments.push_back(std::move(a));
  }
  return {};
}

LoadedConfig build(const std::vector<SourceFile>& files, const Sources& sources, Status& status) {
  LoadedConfig out;
  std::map<std::pair<std::string, std::string>, RawObject> objects;
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& f : files) {
    out.config.files.push_back(f.path.string());
    if (auto st = apply_file(f, objects, order); !st) {
      status = st;
      return out;
    }
  }
  Builder b{sources, out.diagnostics, out.config};
  for (const auto& key : order) {
    const RawObject& o = objects.at(key);
    auto s = kSections.find(o.type);
    if (s == kSections.end()) {
      warn(out.diagnostics, o.where, "unknown section [" + o.type + "], ignored");
    } else if (s->second.first && o.name.empty()) {
      reject(out.diagnostics, o.where, "[" + o.type + "] needs a name, e.g. [" + o.type + " name]; ignored");
    } else if (!s->second.first && !o.name.empty()) {
      reject(out.diagnostics, o.where, "[" + o.type + "] takes no name; ignored");
    } else {
      (b.*(s->second.second))(o);
    }
  }
  resolve(out.config, out.diagnostics);
  advise(out.config, out.diagnostics);
  return out;
}

}  // namespace

Sources Sources::from_environment() {
  Sources s;
  if (const char* c = std::getenv("CREDENTIALS_DIRECTORY"); c && *c) s.credentials_directory = c;
  return s;
}

Sources Sources::single_directory(const fs::path& dir) {
  Sources s = from_environment();
  s.directories = {dir};
  return s;
}

std::string Diagnostic::str() const {
  return where.str() + ": " + (severity == Severity::error ? "error" : "warning") + ": " + message;
}

bool LoadedConfig::has_errors() const {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
}

std::map<std::string, std::set<std::string>> accepted_keys() {
  std::map<std::string, std::set<std::string>> out;
  const Sources sources = Sources::single_directory(".");
  std::vector<Diagnostic> diags;
  Config cfg;
  Builder b{sources, diags, cfg, &out};
  // An empty section: every reader asks for each of its keys whatever the section holds.
  for (const auto& [type, section] : kSections) {
    RawObject o;
    o.type = type;
    if (section.first) o.name = "x";
    (b.*(section.second))(o);
  }
  return out;
}

Result<LoadedConfig> load(const Sources& sources) {
  std::vector<SourceFile> files;
  for (const auto& path : discover(sources)) {
    auto f = read_file(path);
    if (!f) return f.error();
    files.push_back(std::move(*f));
  }
  if (files.empty()) {
    std::string dirs;
    for (const auto& d : sources.directories) dirs += (dirs.empty() ? "" : ", ") + d.string();
    return Error{"no configuration found: no sedge.conf or sedge.conf.d/*.conf in " + dirs, ENOENT};
  }
  Status status;
  LoadedConfig out = build(files, sources, status);
  if (!status) return status.error();
  return out;
}

Result<LoadedConfig> load_text(const std::string& name, const std::string& text, const Sources& sources) {
  Status status;
  LoadedConfig out = build({SourceFile{name, text, false}}, sources, status);
  if (!status) return status.error();
  return out;
}

}  // namespace sedge::config

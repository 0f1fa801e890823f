// Loading sedge's configuration: systemd-style INI, a main file plus drop-ins.
//
// Files: sedge.conf and sedge.conf.d/*.conf in /etc/sedge, /run/sedge and /usr/lib/sedge.
// Drop-ins are applied in lexical order of their file names across all directories; a file
// name in /etc masks the same name in /run and /usr/lib, and /run masks /usr/lib (as systemd).
// Within a file and across files, later assignments win; keys that hold lists append, and an
// empty assignment (`Key=`) resets the list.
//
// Errors never abort the whole load: an invalid value rejects its object (with file:line and
// what was expected) and the rest loads; unknown keys are warnings. Only unreadable or
// malformed files (syntax, binary junk, size) fail the load, since their content is unknown.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/config/model.h"
#include "common/result.h"

namespace sedge::config {

struct Sources {
  // Highest precedence first.
  std::vector<std::filesystem::path> directories = {"/etc/sedge", "/run/sedge", "/usr/lib/sedge"};
  // For secrets given as PresharedKeyCredential=: systemd's $CREDENTIALS_DIRECTORY.
  std::filesystem::path credentials_directory;
  static Sources from_environment();  // the defaults plus $CREDENTIALS_DIRECTORY
  static Sources single_directory(const std::filesystem::path& dir);
};

struct Diagnostic {
  enum class Severity { warning, error } severity = Severity::warning;
  Location where;
  std::string message;
  std::string str() const;  // "file:line: warning: message"
};

struct LoadedConfig {
  Config config;
  std::vector<Diagnostic> diagnostics;  // warnings, and the objects rejected (errors)
  bool has_errors() const;
};

// Reads and validates every file. Fails only when a file cannot be read or parsed at all.
Result<LoadedConfig> load(const Sources& sources);
// Parses one buffer as if it were the file `name` (for tests and the fuzzer).
Result<LoadedConfig> load_text(const std::string& name, const std::string& text,
                               const Sources& sources = Sources::single_directory("."));

// Every key each section accepts ("Tunnel" -> {"Connector", ...}), as the loader reads them:
// what sedge.conf(5) must document (tests/unit/man).
std::map<std::string, std::set<std::string>> accepted_keys();

// The effective configuration in the same INI form, secrets masked.
std::string format_effective(const Config& config);

struct ConfigDiff {
  struct Change {
    enum class Kind { added, removed, changed } kind;
    std::string section;  // "Tunnel"
    std::string name;
  };
  std::vector<Change> changes;
  bool empty() const { return changes.empty(); }
  std::string str() const;  // one line per change
};
ConfigDiff diff(const Config& old_config, const Config& new_config);

}  // namespace sedge::config

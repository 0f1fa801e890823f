// The systemd-style INI lexer: sections, assignments, comments, line continuations.
// Pure: bytes in, sections out, or the first syntax error with file:line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/config/model.h"
#include "common/result.h"

namespace sedge::config {

inline constexpr size_t kMaxFileBytes = 1 << 20;
inline constexpr size_t kMaxLineBytes = 4096;

struct Assignment {
  std::string key;
  std::string value;
  Location where;
};

struct IniSection {
  std::string type;  // "Tunnel"
  std::string name;  // "pop1-primary" in [Tunnel pop1-primary]; empty for [Agent]
  Location where;
  std::vector<Assignment> assignments;
};

Result<std::vector<IniSection>> parse_ini(const std::string& file, std::string_view text);

// The error for a file over kMaxFileBytes (checked before reading and again when parsing).
Error file_too_large(const std::string& file, size_t size);

}  // namespace sedge::config

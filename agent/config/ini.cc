#include "agent/config/ini.h"

#include <cctype>

namespace sedge::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Strict UTF-8 check (no overlongs, no surrogates): config files are text.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

Error syntax(const std::string& file, unsigned line, const std::string& what) {
  return Error{file + ":" + std::to_string(line) + ": " + what, EINVAL};
}

}  // namespace

Error file_too_large(const std::string& file, size_t size) {
  return Error{file + ": file is " + std::to_string(size) + " bytes, more than the " + std::to_string(kMaxFileBytes) +
                   " bytes a configuration file may have",
               EFBIG};
}

Result<std::vector<IniSection>> parse_ini(const std::string& file, std::string_view text) {
  if (text.size() > kMaxFileBytes) return file_too_large(file, text.size());
  std::vector<IniSection> sections;
  unsigned line_no = 0;
  size_t pos = 0;
  std::string pending;  // a logical line built from continuations
  unsigned pending_start = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (raw.size() > kMaxLineBytes) {
      return syntax(file, line_no, "line is longer than " + std::to_string(kMaxLineBytes) + " bytes");
    }
    if (raw.find('\0') != std::string_view::npos) {
      return syntax(file, line_no, "NUL byte: this is not a text file");
    }
    if (!valid_utf8(raw)) return syntax(file, line_no, "invalid UTF-8: this is not a text file");
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);

    std::string_view line = trim(raw);
    if (pending.empty() && (line.empty() || line[0] == '#' || line[0] == ';')) {
      if (end == text.size()) break;
      continue;
    }
    if (pending.empty()) pending_start = line_no;
    if (!line.empty() && line.back() == '\\') {  // continuation: joined with a space
      line.remove_suffix(1);
      pending.append(line).push_back(' ');
      if (end == text.size()) return syntax(file, line_no, "line continuation at end of file");
      continue;
    }
    pending.append(line);
    std::string_view logical = trim(pending);
    const Location where{file, pending_start};

    if (logical.front() == '[') {
      if (logical.back() != ']') return syntax(file, pending_start, "section header without ']'");
      std::string_view inner = trim(logical.substr(1, logical.size() - 2));
      const size_t space = inner.find_first_of(" \t");
      IniSection s;
      s.type = std::string(inner.substr(0, space));
      if (space != std::string_view::npos) s.name = std::string(trim(inner.substr(space)));
      if (!valid_name(s.type)) return syntax(file, pending_start, "invalid section name '" + s.type + "'");
      if (space != std::string_view::npos && !valid_name(s.name)) {
        return syntax(file, pending_start,
                      "invalid object name '" + s.name + "' (letters, digits, '-', '_', '.'; at most 64)");
      }
      s.where = where;
      sections.push_back(std::move(s));
    } else {
      const size_t eq = logical.find('=');
      if (eq == std::string_view::npos) {
        return syntax(file, pending_start, "expected 'Key=value' or '[Section]'");
      }
      if (sections.empty()) return syntax(file, pending_start, "assignment outside of a section");
      Assignment a{std::string(trim(logical.substr(0, eq))), std::string(trim(logical.substr(eq + 1))), where};
      if (!valid_name(a.key)) return syntax(file, pending_start, "invalid key '" + a.key + "'");
      sections.back().assignments.push_back(std::move(a));
    }
    pending.clear();
    if (end == text.size()) break;
  }
  return sections;
}

}  // namespace sedge::config

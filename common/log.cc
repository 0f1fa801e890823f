#include "common/log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace sedge::log {
namespace {

Level initial_level() {
  Level l = Level::info;
  if (const char* env = std::getenv("SEDGE_LOG_LEVEL")) parse_level(env, l);
  return l;
}

std::atomic<Level>& threshold() {
  static std::atomic<Level> t{initial_level()};
  return t;
}

// systemd sets JOURNAL_STREAM=dev:ino when stderr is connected to the journal; then writing to
// stderr as well would log every line twice.
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == st.st_dev && ino == st.st_ino;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::err: return "error";
    case Level::warning: return "warning";
    case Level::notice: return "notice";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "info";
}

void emit(Level l, std::string_view message_id, std::string_view message, std::initializer_list<Field> fields) {
  if (static_cast<int>(l) > static_cast<int>(level())) return;

  std::vector<std::string> lines;
  lines.reserve(fields.size() + 4);
  lines.push_back("MESSAGE=" + std::string(message));
  lines.push_back("PRIORITY=" + std::to_string(static_cast<int>(l)));
  lines.push_back("SYSLOG_IDENTIFIER=" + std::string(program_invocation_short_name));
  if (!message_id.empty()) lines.push_back("MESSAGE_ID=" + std::string(message_id));
  for (const auto& f : fields) lines.push_back("SEDGE_" + std::string(f.key) + "=" + f.value);
  std::vector<iovec> iov;
  iov.reserve(lines.size());
  for (auto& s : lines) iov.push_back({s.data(), s.size()});
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));

  static const bool mirror = !stderr_is_journal();
  if (!mirror) return;
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::string line = std::string(level_name(l)) + ": " + std::string(message);
  for (const auto& f : fields) line += " " + std::string(f.key) + "=" + f.value;
  line += "\n";
  fputs(line.c_str(), stderr);
}

}  // namespace

void set_level(Level l) { threshold().store(l); }
Level level() { return threshold().load(); }

bool parse_level(std::string_view name, Level& out) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"error", Level::err}, {"err", Level::err},       {"warning", Level::warning},
      {"notice", Level::notice}, {"info", Level::info}, {"debug", Level::debug}};
  for (const auto& [n, l] : kNames) {
    if (n == name) {
      out = l;
      return true;
    }
  }
  return false;
}

void write(Level l, std::string_view message, std::initializer_list<Field> fields) { emit(l, {}, message, fields); }

void write(Level l, MessageId id, std::string_view message, std::initializer_list<Field> fields) {
  emit(l, id.id, message, fields);
}

}  // namespace sedge::log

// Structured logging to the journal (MESSAGE, PRIORITY and UPPERCASE fields such as
// SEDGE_CONNECTOR or SEDGE_IKE_SPI); mirrored to stderr when stderr is not the journal, so
// tools and tests see the same lines. Secrets have no formatter: pass Secret::kMasked.
// Events with a catalog entry carry a MESSAGE_ID (common/message_ids.h): pass it first.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace sedge::log {

enum class Level { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

struct Field {
  std::string_view key;  // journal field name without the SEDGE_ prefix, e.g. "CONNECTOR"
  std::string value;
};

// A journal MESSAGE_ID: 32 lower-case hex digits, and a short name for tests and docs.
struct MessageId {
  std::string_view name;
  std::string_view id;
};

void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});
void write(Level level, MessageId id, std::string_view message, std::initializer_list<Field> fields = {});

// Lines below this level are dropped (default info; SEDGE_LOG_LEVEL=debug or set_level).
void set_level(Level level);
Level level();
bool parse_level(std::string_view name, Level& out);

inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::err, m, f); }
inline void warning(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warning, m, f); }
inline void notice(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::notice, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::debug, m, f); }
inline void error(MessageId id, std::string_view m, std::initializer_list<Field> f = {}) { write(Level::err, id, m, f); }
inline void warning(MessageId id, std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warning, id, m, f); }
inline void notice(MessageId id, std::string_view m, std::initializer_list<Field> f = {}) { write(Level::notice, id, m, f); }
inline void info(MessageId id, std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, id, m, f); }

}  // namespace sedge::log

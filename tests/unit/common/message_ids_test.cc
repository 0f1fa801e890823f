// Every MESSAGE_ID of common/message_ids.h has its entry in systemd/sedge.catalog, with a
// Subject, and the catalog has no entry for an id sedge does not log.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "common/files.h"
#include "common/message_ids.h"

namespace sedge::log {
namespace {

// The catalog's entries: id -> the entry's text up to the next "-- " header.
std::map<std::string, std::string> catalog_entries() {
  const char* src = std::getenv("SEDGE_SOURCE_DIR");
  const std::string path = std::string(src ? src : ".") + "/systemd/sedge.catalog";
  auto text = read_file(path);
  EXPECT_TRUE(text) << path;
  std::map<std::string, std::string> out;
  if (!text) return out;
  std::string current;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    const std::string line = text->substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("-- ", 0) == 0) {
      current = line.substr(3);
      EXPECT_FALSE(out.count(current)) << "two catalog entries for " << current;
      out[current];
    } else if (!current.empty()) {
      out[current] += line + "\n";
    }
  }
  return out;
}

bool is_id128(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(MessageIds, AreDistinct128BitIds) {
  std::set<std::string_view> ids, names;
  for (const auto& m : kAllMessageIds) {
    EXPECT_TRUE(is_id128(m.id)) << m.name << ": " << m.id;
    EXPECT_TRUE(ids.insert(m.id).second) << "id used twice: " << m.id;
    EXPECT_TRUE(names.insert(m.name).second) << "name used twice: " << m.name;
  }
}

TEST(MessageIds, EveryIdHasACatalogEntryWithASubject) {
  const auto entries = catalog_entries();
  for (const auto& m : kAllMessageIds) {
    const auto it = entries.find(std::string(m.id));
    ASSERT_NE(it, entries.end()) << m.name << " (" << m.id << ") has no entry in systemd/sedge.catalog";
    EXPECT_NE(it->second.find("Subject: "), std::string::npos) << m.name << ": no Subject";
    EXPECT_NE(it->second.find("Defined-By: sedge"), std::string::npos) << m.name << ": no Defined-By";
  }
}

TEST(MessageIds, EveryCatalogEntryIsAnIdSedgeLogs) {
  const auto entries = catalog_entries();
  EXPECT_FALSE(entries.empty());
  for (const auto& [id, text] : entries) {
    bool known = false;
    for (const auto& m : kAllMessageIds) known = known || m.id == id;
    EXPECT_TRUE(known) << "the catalog entry " << id << " is for no id of common/message_ids.h";
  }
}

}  // namespace
}  // namespace sedge::log

// sedge.conf(5) documents exactly the keys the loader accepts, with the loader's defaults.
//
// The page (docs/man/sedge.conf.5.scd) lists each key of a section as
//   *Key=* TYPE; required
//   *Key=* TYPE; default: *VALUE*      (what the effective configuration shows when unset)
//   *Key=* TYPE; default: TEXT         (the key is unset: no line in the effective configuration)
// under a "## [Section]" or "## [Section NAME]" heading. The keys are checked against
// config::accepted_keys(); the defaults against format_effective() of a small configuration
// whose objects set only what they must, each key's default read from an object that leaves
// it unset; "required" by removing the key from an object and seeing the object rejected.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "agent/config/config.h"
#include "agent/config/ini.h"
#include "tests/unit/config/config_fixture.h"

namespace sedge::config {
namespace {

constexpr const char* kPage = SEDGE_MAN_DIR "/sedge.conf.5.scd";

struct DocumentedKey {
  std::string section, key;
  bool required = false;
  std::optional<std::string> shown;  // the effective value when unset; nullopt: no line
  bool section_name = false;         // the default is the section's name
  unsigned line = 0;
};

std::string where(const DocumentedKey& k) { return std::string("sedge.conf.5.scd:") + std::to_string(k.line); }

// The keys under "# SECTIONS AND KEYS", in page order.
std::vector<DocumentedKey> documented_keys() {
  std::ifstream in(kPage);
  EXPECT_TRUE(in) << "cannot read " << kPage;
  static const std::regex kSection(R"(^## \[([A-Za-z]+)( NAME)?\]$)");
  static const std::regex kKey(R"(^\*([A-Za-z0-9]+)=\* (.*)$)");
  std::vector<DocumentedKey> out;
  std::string line, section;
  bool in_keys = false;
  for (unsigned n = 1; std::getline(in, line); ++n) {
    if (line.rfind("# ", 0) == 0) in_keys = line == "# SECTIONS AND KEYS";
    if (!in_keys) continue;
    std::smatch m;
    if (std::regex_match(line, m, kSection)) {
      section = m[1];
    } else if (std::regex_match(line, m, kKey)) {
      DocumentedKey k{section, m[1], false, std::nullopt, false, n};
      const std::string rest = m[2];
      const size_t semi = rest.find("; ");
      const std::string spec = semi == std::string::npos ? "" : rest.substr(semi + 2);
      if (section.empty()) {
        ADD_FAILURE() << where(k) << ": " << k.key << "= before any \"## [Section]\" heading";
      } else if (spec == "required") {
        k.required = true;
      } else if (spec.rfind("default: ", 0) == 0) {
        const std::string text = spec.substr(9);
        if (text.size() > 2 && text[0] == '*' && text.find('*', 1) != std::string::npos) {
          k.shown = text.substr(1, text.find('*', 1) - 1);
        } else if (text.rfind("the section's name", 0) == 0) {
          k.section_name = true;
        }
      } else {
        ADD_FAILURE() << where(k) << ": [" << section << "] " << k.key
                      << "= says neither \"; required\" nor \"; default: ...\"";
      }
      out.push_back(std::move(k));
    }
  }
  return out;
}

// The configuration the defaults are read from: each object sets only what it must (and the
// second Policy and Tunnel the keys the first leaves to their defaults), so every key but the
// required ones is unset in some object of its section.
struct Object {
  std::string type, name;
  std::vector<std::pair<std::string, std::string>> keys;
};

std::vector<Object> fixture() {
  return {
      {"Agent", "", {}},
      {"Interface", "wan0", {{"Role", "wan"}}},
      {"Connector", "bare", {}},
      {"Connector", "keyed", {{"LocalId", "site1@example.com"}, {"PresharedKeyCredential", "site1.psk"}}},
      {"Tunnel", "t", {{"Connector", "keyed"}, {"Wan", "wan0"}, {"Remote", "192.0.2.1"}}},
      {"Tunnel",
       "pb",
       {{"Connector", "keyed"},
        {"Wan", "wan0"},
        {"Remote", "192.0.2.2"},
        {"Routing", "policy-based"},
        {"LocalTrafficSelector", "10.0.0.0/24"},
        {"RemoteTrafficSelector", "10.1.0.0/24"}}},
      {"Child", "c", {{"Tunnel", "pb"}, {"LocalTrafficSelector", "10.0.1.0/24"}, {"RemoteTrafficSelector", "10.1.1.0/24"}}},
      {"Application", "any", {}},
      {"SteeringProfile", "p", {{"Path", "t"}}},
      {"Policy", "steer", {{"Profile", "p"}}},
      {"Policy", "deny", {{"Action", "deny"}}},
      {"Onboarding", "", {}},
  };
}

bool sets(const Object& o, const std::string& key) {
  for (const auto& [k, v] : o.keys) {
    if (k == key) return true;
  }
  return false;
}

std::string ini(const std::vector<Object>& objects) {
  std::string out;
  for (const auto& o : objects) {
    out += "[" + o.type + (o.name.empty() ? "" : " " + o.name) + "]\n";
    for (const auto& [k, v] : o.keys) out += k + "=" + v + "\n";
    out += "\n";
  }
  return out;
}

// (type, name) -> key -> values, from the effective configuration of `objects`.
using Effective = std::map<std::pair<std::string, std::string>, std::map<std::string, std::vector<std::string>>>;

Effective effective(const std::vector<Object>& objects, std::string* diagnostics = nullptr) {
  testing::ConfigTree tree;
  tree.write("cred", "site1.psk", "not-a-real-key", 0600);
  tree.write("etc", "sedge.conf", ini(objects), 0600);
  auto loaded = load(tree.sources());
  EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message);
  if (!loaded.ok()) return {};
  if (diagnostics) {
    for (const auto& d : loaded->diagnostics) {
      if (d.severity == Diagnostic::Severity::error) *diagnostics += d.str() + "\n";
    }
  }
  auto sections = parse_ini("effective", format_effective(loaded->config));
  EXPECT_TRUE(sections.ok());
  Effective out;
  if (!sections.ok()) return out;
  for (const auto& s : *sections) {
    auto& keys = out[{s.type, s.name}];
    for (const auto& a : s.assignments) keys[a.key].push_back(a.value);
  }
  return out;
}

TEST(ManConfigKeys, PageDocumentsEveryAcceptedKeyAndNoOther) {
  const auto accepted = accepted_keys();
  ASSERT_FALSE(accepted.empty());
  std::map<std::string, std::set<std::string>> documented;
  for (const auto& k : documented_keys()) {
    if (!documented[k.section].insert(k.key).second) {
      ADD_FAILURE() << where(k) << ": [" << k.section << "] " << k.key << "= is documented twice";
    }
    if (!accepted.count(k.section)) {
      ADD_FAILURE() << where(k) << ": the page documents section [" << k.section << "], which the loader does not accept";
    } else if (!accepted.at(k.section).count(k.key)) {
      ADD_FAILURE() << where(k) << ": the page documents [" << k.section << "] " << k.key
                    << "=, which the loader does not accept";
    }
  }
  for (const auto& [section, keys] : accepted) {
    for (const auto& key : keys) {
      EXPECT_TRUE(documented[section].count(key))
          << "sedge.conf.5.scd does not document [" << section << "] " << key << "= (the loader accepts it)";
    }
  }
}

TEST(ManConfigKeys, DefaultsAreTheLoaders) {
  const auto objects = fixture();
  std::string errors;
  const Effective shown = effective(objects, &errors);
  ASSERT_EQ(errors, "") << "the test's configuration must load without errors";
  for (const auto& k : documented_keys()) {
    if (k.required) continue;
    const Object* unset = nullptr;
    for (const auto& o : objects) {
      if (o.type == k.section && !sets(o, k.key)) {
        unset = &o;
        break;
      }
    }
    if (!unset) {
      ADD_FAILURE() << "every [" << k.section << "] of the test's configuration sets " << k.key
                    << "=: add one that leaves it to its default";
      continue;
    }
    const auto obj = shown.find({unset->type, unset->name});
    ASSERT_NE(obj, shown.end()) << "[" << unset->type << " " << unset->name << "] is missing from the effective configuration";
    const auto values = obj->second.find(k.key);
    const std::string label = "[" + k.section + "] " + k.key + "= (" + where(k) + ")";
    if (k.section_name) {
      EXPECT_TRUE(values != obj->second.end() && values->second.front() == unset->name)
          << label << ": the page says its default is the section's name";
    } else if (k.shown) {
      ASSERT_NE(values, obj->second.end()) << label << ": the page says its default is " << *k.shown
                                           << ", but the loader leaves it unset";
      EXPECT_EQ(values->second.front(), *k.shown) << label << ": the page's default differs from the loader's";
    } else {
      EXPECT_EQ(values, obj->second.end()) << label << ": the page gives no value as its default, but the loader sets "
                                           << values->second.front() << " (write it as default: *"
                                           << values->second.front() << "*)";
    }
  }
}

TEST(ManConfigKeys, RequiredKeysAreRequired) {
  const auto objects = fixture();
  for (const auto& k : documented_keys()) {
    if (!k.required) continue;
    bool checked = false;
    for (size_t i = 0; i < objects.size(); ++i) {
      if (objects[i].type != k.section) continue;
      if (!sets(objects[i], k.key)) {
        ADD_FAILURE() << where(k) << ": [" << k.section << "] " << k.key << "= is documented as required, but ["
                      << objects[i].type << " " << objects[i].name << "] loads without it";
        continue;
      }
      if (checked) continue;
      checked = true;
      auto without = objects;
      auto& keys = without[i].keys;
      std::erase_if(keys, [&](const auto& kv) { return kv.first == k.key; });
      const Effective shown = effective(without);
      EXPECT_FALSE(shown.count({objects[i].type, objects[i].name}))
          << where(k) << ": [" << k.section << "] " << k.key << "= is documented as required, but ["
          << objects[i].type << " " << objects[i].name << "] loads without it";
    }
    EXPECT_TRUE(checked) << "no [" << k.section << "] in the test's configuration to check " << k.key << "= with";
  }
}

}  // namespace
}  // namespace sedge::config

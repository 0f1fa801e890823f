// [Child NAME]: further CHILD_SAs of a policy-based tunnel, and MaxChildSAs= on a [Tunnel].
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "tests/unit/config/config_fixture.h"

namespace sedge::config {
namespace {

using testing::base_site;
using testing::ConfigTree;

const char* kPolicyBased =
    "[Tunnel "
    "pop-a]\nRouting=policy-based\nLocalTrafficSelector=10.99.99.0/"
    "24\nRemoteTrafficSelector=10.200.0.0/16\n";

struct Loaded {
  LoadedConfig config;
  std::string file;  // the drop-in with the [Child] sections
};

Loaded load_with(ConfigTree& tree, const std::string& children) {
  const std::string psk = tree.write("etc", "site.psk", "Juniper!1", 0600).string();
  tree.write("etc", "sedge.conf", base_site(psk) + "\n" + kPolicyBased);
  const std::string file = tree.write("etc", "sedge.conf.d/50-children.conf", children).string();
  auto loaded = load(tree.sources());
  EXPECT_TRUE(loaded.ok()) << loaded.error().message;
  return {std::move(*loaded), file};
}

std::string errors(const LoadedConfig& l) {
  std::string out;
  for (const auto& d : l.diagnostics) out += d.str() + "\n";
  return out;
}

TEST(ChildConfig, FurtherChildrenOfAPolicyBasedTunnel) {
  ConfigTree tree;
  auto l = load_with(tree,
                     "[Child "
                     "voice]\nTunnel=pop-a\nLocalTrafficSelector=10.98.0.0/"
                     "24\nRemoteTrafficSelector=10.201.0.0/16\n\n"
                     "[Child "
                     "cameras]\nTunnel=pop-a\nLocalTrafficSelector=10.97.0.0/"
                     "24\nRemoteTrafficSelector=10.202.0.5/32\n\n"
                     "[Tunnel pop-a]\nMaxChildSAs=4\n");
  EXPECT_TRUE(l.config.diagnostics.empty()) << errors(l.config);
  const Config& c = l.config.config;
  const auto children = c.children_of("pop-a");
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0]->name, "cameras");  // by name
  EXPECT_EQ(children[0]->remote_ts.str(), "10.202.0.5/32");
  EXPECT_EQ(children[1]->local_ts.str(), "10.98.0.0/24");
  EXPECT_TRUE(c.children_of("pop-b").empty());
  EXPECT_EQ(c.tunnels.at("pop-a").max_child_sas, 4u);
  EXPECT_EQ(c.tunnels.at("pop-b").max_child_sas, 8u);
  // The effective configuration prints them, and reloads to the same.
  const std::string text = format_effective(c);
  EXPECT_NE(text.find("[Child "
                      "voice]\nTunnel=pop-a\nLocalTrafficSelector=10.98.0.0/"
                      "24\nRemoteTrafficSelector=10.201.0.0/16\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("MaxChildSAs=4"), std::string::npos);
}

TEST(ChildConfig, ErrorsNameTheFileAndLine) {
  struct Case {
    const char* text;
    unsigned line;  // 0: the section's line
    const char* fragment;
  };
  const Case cases[] = {
      {"[Child x]\nLocalTrafficSelector=10.98.0.0/24\nRemoteTrafficSelector=10.201.0.0/16\n", 1,
       "Tunnel= is required"},
      {"[Child x]\nTunnel=pop-a\nLocalTrafficSelector=10.98.0.0/24\n", 1,
       "RemoteTrafficSelector= are required"},
      {"[Child "
       "x]\nTunnel=pop-a\nLocalTrafficSelector=10.98.0.1/24\nRemoteTrafficSelector=10.201.0.0/16\n",
       3, "10.98.0.1/24"},
      {"[Child "
       "x]\nTunnel=pop-a\nLocalTrafficSelector=2001:db8::/64\nRemoteTrafficSelector=10.201.0.0/"
       "16\n",
       3, "must be an IPv4 subnet"},
      {"[Child "
       "x]\nTunnel=pop-b\nLocalTrafficSelector=10.98.0.0/24\nRemoteTrafficSelector=10.201.0.0/16\n",
       1, "Tunnel=pop-b is not a defined policy-based tunnel"},
      {"[Child "
       "x]\nTunnel=nowhere\nLocalTrafficSelector=10.98.0.0/24\nRemoteTrafficSelector=10.201.0.0/"
       "16\n",
       1, "Tunnel=nowhere is not a defined policy-based tunnel"},
      {"[Tunnel pop-a]\nMaxChildSAs=0\n", 2, "MaxChildSAs"},
  };
  for (const Case& k : cases) {
    ConfigTree tree;
    auto l = load_with(tree, k.text);
    bool found = false;
    for (const auto& d : l.config.diagnostics) {
      if (d.severity == Diagnostic::Severity::error &&
          d.message.find(k.fragment) != std::string::npos) {
        found = true;
        EXPECT_EQ(d.where.str(), l.file + ":" + std::to_string(k.line)) << d.str();
      }
    }
    EXPECT_TRUE(found) << k.text << "\nexpected \"" << k.fragment << "\" in:\n" << errors(l.config);
    EXPECT_TRUE(l.config.config.children.empty()) << k.text;
    EXPECT_TRUE(l.config.config.tunnels.count("pop-b")) << "the rest loads";
  }
}

TEST(ChildConfig, MoreChildrenThanTheLimitWarn) {
  ConfigTree tree;
  auto l = load_with(
      tree,
      "[Tunnel pop-a]\nMaxChildSAs=1\n\n[Child "
      "x]\nTunnel=pop-a\nLocalTrafficSelector=10.98.0.0/24\nRemoteTrafficSelector=10.201.0.0/16\n");
  ASSERT_EQ(l.config.diagnostics.size(), 1u) << errors(l.config);
  EXPECT_EQ(l.config.diagnostics[0].severity, Diagnostic::Severity::warning);
  EXPECT_NE(l.config.diagnostics[0].message.find("2 CHILD_SAs"), std::string::npos)
      << errors(l.config);
}

}  // namespace
}  // namespace sedge::config

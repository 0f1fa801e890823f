// The bad-input table: each case adds one drop-in to a valid site and states what must come
// out: the whole load refused (the file cannot be understood), an object rejected, or a
// warning; always at the right file:line, with the expected words, the rest still loaded, and
// the pre-shared key never quoted.
#include <gtest/gtest.h>

#include <random>

#include "agent/config/config.h"
#include "tests/unit/config/config_fixture.h"

namespace sedge::config {
namespace {

using testing::base_site;
using testing::ConfigTree;

enum class Outcome { refused, rejected, warned };

struct Case {
  const char* name;
  std::string text;  // the drop-in; @OPEN_PSK@ is replaced by a mode-0644 key file
  Outcome outcome;
  unsigned line;          // in the drop-in (0: the message names the file without a line)
  const char* fragment;   // in the error or diagnostic message
  const char* survivor;   // "Section name" that must still be loaded ("" when refused)
};

std::string junk(size_t n) {
  std::mt19937 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

const Case kCases[] = {
    // Syntax: the file cannot be understood, so nothing of this load is used.
    {"unclosed_section", "[Tunnel pop-a\nRemote=1.2.3.4\n", Outcome::refused, 1, "section header without ']'", ""},
    {"assignment_outside_section", "Remote=1.2.3.4\n", Outcome::refused, 1, "assignment outside of a section", ""},
    {"line_without_equals", "[Tunnel pop-a]\nRemote\n", Outcome::refused, 2, "expected 'Key=value' or '[Section]'", ""},
    {"bad_section_name", "[Tun@nel x]\n", Outcome::refused, 1, "invalid section name", ""},
    {"bad_object_name", "[Tunnel bad/name]\n", Outcome::refused, 1, "invalid object name 'bad/name'", ""},
    {"bad_key_name", "[Tunnel pop-a]\nRe mote=1\n", Outcome::refused, 2, "invalid key 'Re mote'", ""},
    {"nul_byte", std::string("[Agent]\nLogLevel=info\0\n", 23), Outcome::refused, 2, "NUL byte", ""},
    {"invalid_utf8", "[Agent]\n# caf\xc3\x28\n", Outcome::refused, 2, "invalid UTF-8", ""},
    {"overlong_line", "[Agent]\n#" + std::string(5000, 'x') + "\n", Outcome::refused, 2, "longer than 4096 bytes", ""},
    {"continuation_at_eof", "[Agent]\nLogLevel=info \\", Outcome::refused, 2, "line continuation at end of file", ""},
    {"huge_file", "[Agent]\n" + std::string(2 << 20, '#'), Outcome::refused, 0, "more than the 1048576 bytes", ""},
    {"binary_junk", junk(4096), Outcome::refused, 1, "", ""},
    // Values: the object is rejected with its reason; the rest loads.
    {"bad_bool", "[Tunnel pop-a]\nNatTraversal=maybe\n", Outcome::rejected, 2, "expected yes or no", "Tunnel pop-b"},
    {"lifetime_too_short", "[Tunnel pop-a]\nIkeLifetimeSec=10\n", Outcome::rejected, 2, "from 300 to 604800", "Tunnel pop-b"},
    {"not_a_number", "[Tunnel pop-a]\nDpdIntervalSec=ten\n", Outcome::rejected, 2, "'ten' is not valid: expected a whole number", "Tunnel pop-b"},
    {"dpd_timeout_shorter", "[Tunnel pop-b]\nDpdIntervalSec=30\nDpdTimeoutSec=10\n", Outcome::rejected, 3, "DpdTimeoutSec= must be longer", "Tunnel pop-a"},
    {"prefix_length", "[Interface lan0]\nNetwork=10.99.99.0/33\n", Outcome::rejected, 2, "prefix length from 0 to 32", "Tunnel pop-a"},
    {"host_bits_set", "[Application web]\nDestination=10.1.2.3/16\n", Outcome::rejected, 2, "did you mean 10.1.0.0/16", "Tunnel pop-a"},
    {"port_out_of_range", "[Application web]\nPort=70000\n", Outcome::rejected, 2, "a port (1-65535)", "Tunnel pop-a"},
    {"port_range_reversed", "[Application web]\nPort=90-80\n", Outcome::rejected, 2, "range such as 8000-8080", "Tunnel pop-a"},
    {"port_without_tcp", "[Application ping]\nProtocol=icmp\nPort=80\n", Outcome::rejected, 1, "Port= needs Protocol=tcp", "Application web"},
    {"unknown_protocol", "[Application web]\nProtocol=tcpp\n", Outcome::rejected, 2, "tcp, udp, icmp", "Tunnel pop-a"},
    {"unknown_mode", "[Connector pop]\nMode=active-passive\n", Outcome::rejected, 2, "expected one of active-standby, active-active", "Interface lan0"},
    {"unknown_provider", "[Connector pop]\nProvider=acme\n", Outcome::rejected, 2, "expected one of juniper-secure-edge", "Interface wan0"},
    {"unknown_fragmentation", "[Tunnel pop-a]\nFragmentation=always\n", Outcome::rejected, 2, "expected one of yes, accept, force, no", "Tunnel pop-b"},
    {"fragment_size_too_small", "[Tunnel pop-a]\nFragmentSize=500\n", Outcome::rejected, 2, "from 576 to 65535", "Tunnel pop-b"},
    {"unsupported_algorithm", "[Tunnel pop-a]\nIkeProposal=aes128-md5-modp1024\n", Outcome::rejected, 2, "unsupported algorithm 'md5'", "Tunnel pop-b"},
    {"aead_with_integrity", "[Tunnel pop-a]\nIkeProposal=aes128gcm16-sha256-modp2048\n", Outcome::rejected, 2, "takes no integrity algorithm", "Tunnel pop-b"},
    {"ike_without_dh", "[Tunnel pop-a]\nIkeProposal=aes128gcm16-prfsha256\n", Outcome::rejected, 2, "no Diffie-Hellman group", "Tunnel pop-b"},
    {"esp_cbc_without_integrity", "[Tunnel pop-a]\nEspProposal=aes128\n", Outcome::rejected, 2, "needs an integrity algorithm", "Tunnel pop-b"},
    {"ike_null_cipher", "[Tunnel pop-a]\nIkeProposal=null-sha256-modp2048\n", Outcome::rejected, 2, "NULL encryption is not allowed for IKE", "Tunnel pop-b"},
    {"two_ciphers", "[Tunnel pop-a]\nIkeProposal=aes128-aes256-sha256-modp2048\n", Outcome::rejected, 2, "one algorithm of each kind", "Tunnel pop-b"},
    {"esn_and_noesn", "[Tunnel pop-a]\nEspProposal=aes128-sha256-esn-noesn\n", Outcome::rejected, 2, "one ESN setting", "Tunnel pop-b"},
    {"bad_identity", "[Tunnel pop-a]\nRemoteId=a@b@c\n", Outcome::rejected, 2, "e-mail style identity", "Tunnel pop-b"},
    {"jse_needs_email_id", "[Connector pop]\nProvider=juniper-secure-edge\nLocalId=site1.example.com\n", Outcome::rejected, 3, "e-mail style LocalId=", "Interface lan0"},
    {"bad_weight", "[SteeringProfile Cloud]\nPath=pop weight=0\n", Outcome::rejected, 2, "from 1 to 1000", "Tunnel pop-a"},
    {"preempt_delay_too_long", "[SteeringProfile Cloud]\nPreemptDelaySec=7200\n", Outcome::rejected, 2, "from 0 to 3600", "Tunnel pop-a"},
    {"bad_log_level", "[Agent]\nLogLevel=loud\n", Outcome::rejected, 2, "expected error, warning, notice, info or debug", "Tunnel pop-a"},
    {"policy_based_without_selectors", "[Tunnel pop-a]\nRouting=policy-based\n", Outcome::rejected, 2, "needs LocalTrafficSelector=", "Tunnel pop-b"},
    {"missing_remote", "[Tunnel pop-c]\nConnector=pop\nWan=wan0\n", Outcome::rejected, 1, "Remote= is required", "Tunnel pop-a"},
    {"agent_with_name", "[Agent main]\nLogLevel=info\n", Outcome::rejected, 1, "[Agent] takes no name", "Tunnel pop-a"},
    {"tunnel_without_name", "[Tunnel]\nRemote=192.0.2.1\n", Outcome::rejected, 1, "[Tunnel] needs a name", "Tunnel pop-a"},
    // References: a dangling or rejected reference rejects the object that makes it.
    {"unknown_connector", "[Tunnel pop-c]\nConnector=nope\nWan=wan0\nRemote=192.0.2.99\n", Outcome::rejected, 1, "Connector=nope is not defined", "Tunnel pop-a"},
    {"wan_is_a_lan", "[Tunnel pop-c]\nConnector=pop\nWan=lan0\nRemote=192.0.2.99\n", Outcome::rejected, 1, "Wan=lan0 is not a defined interface with Role=wan", "Tunnel pop-a"},
    {"unknown_path", "[SteeringProfile Other]\nPath=ghost\n", Outcome::rejected, 1, "Path=ghost is not a defined tunnel or connector", "SteeringProfile Cloud"},
    {"breakout_not_wan", "[SteeringProfile Other]\nPath=breakout:lan0\n", Outcome::rejected, 1, "names no interface with Role=wan", "SteeringProfile Cloud"},
    {"unknown_profile", "[Policy p2]\nApplication=web\nProfile=ghost\n", Outcome::rejected, 1, "Profile=ghost is not a defined steering profile", "Policy web-via-cloud"},
    {"steer_without_profile", "[Policy p3]\nAction=steer\n", Outcome::rejected, 1, "Action=steer needs Profile=", "Policy web-via-cloud"},
    {"unknown_application", "[Policy p4]\nApplication=ghost\nProfile=Cloud\n", Outcome::rejected, 1, "Application=ghost is not defined", "Policy web-via-cloud"},
    {"unknown_source", "[Policy p5]\nSource=eth9\nProfile=Cloud\n", Outcome::rejected, 1, "Source=eth9 is neither a prefix", "Policy web-via-cloud"},
    // Secrets.
    {"two_secret_sources", "[Connector pop]\nPresharedKeyCredential=site.psk\n", Outcome::rejected, 2, "give one of PresharedKeyFile=", "Interface lan0"},
    {"psk_file_too_open", "[Tunnel pop-a]\nPresharedKeyFile=@OPEN_PSK@\n", Outcome::rejected, 2, "readable by group or others (mode 0644): chmod 600", "Tunnel pop-b"},
    {"psk_file_missing", "[Tunnel pop-a]\nPresharedKeyFile=/nonexistent/site.psk\n", Outcome::rejected, 2, "cannot read /nonexistent/site.psk", "Tunnel pop-b"},
    {"credential_missing", "[Tunnel pop-a]\nPresharedKeyCredential=ghost.psk\n", Outcome::rejected, 2, "ghost.psk", "Tunnel pop-b"},
    {"inline_psk_world_readable", "[Tunnel pop-a]\nPresharedKey=Juniper!1\n", Outcome::rejected, 2, "PresharedKey= in a file readable by group or others", "Tunnel pop-b"},
    // Warnings: the configuration stays as it was meant.
    {"unknown_key", "[Tunnel pop-a]\nColour=blue\n", Outcome::warned, 2, "unknown key 'Colour' in [Tunnel]", "Tunnel pop-a"},
    {"unknown_section", "[Frobnicator x]\nA=1\n", Outcome::warned, 1, "unknown section [Frobnicator]", "Tunnel pop-a"},
    {"duplicate_path", "[SteeringProfile Cloud]\nPath=pop\n", Outcome::warned, 0, "Path=pop listed twice", "SteeringProfile Cloud"},
};

bool has_object(const Config& c, const std::string& what) {
  const auto space = what.find(' ');
  const std::string section = what.substr(0, space), name = what.substr(space + 1);
  if (section == "Tunnel") return c.tunnels.count(name) > 0;
  if (section == "Interface") return c.interfaces.count(name) > 0;
  if (section == "Application") return c.applications.count(name) > 0;
  if (section == "SteeringProfile") return c.profiles.count(name) > 0;
  if (section == "Policy") return c.policies.count(name) > 0;
  if (section == "Connector") return c.connectors.count(name) > 0;
  return false;
}

class BadInput : public ::testing::TestWithParam<Case> {};

TEST_P(BadInput, ClearErrorAtFileAndLineAndTheRestLoads) {
  const Case& k = GetParam();
  ConfigTree tree;
  const std::string psk = tree.write("etc", "site.psk", "Juniper!1", 0600).string();
  tree.write("cred", "site.psk", "Juniper!1", 0600);
  const std::string open_psk = tree.write("etc", "open.psk", "Juniper!1", 0644).string();
  tree.write("etc", "sedge.conf", base_site(psk));
  std::string text = k.text;
  if (auto at = text.find("@OPEN_PSK@"); at != std::string::npos) text.replace(at, 10, open_psk);
  const std::string file = tree.write("etc", "sedge.conf.d/90-bad.conf", text).string();
  const std::string where = k.line ? file + ":" + std::to_string(k.line) : file;

  auto loaded = load(tree.sources());
  if (k.outcome == Outcome::refused) {
    ASSERT_FALSE(loaded.ok()) << "a file that cannot be parsed must refuse the load";
    EXPECT_EQ(loaded.error().message.rfind(where, 0), 0u) << loaded.error().message;
    EXPECT_NE(loaded.error().message.find(k.fragment), std::string::npos) << loaded.error().message;
    return;
  }
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const auto severity = k.outcome == Outcome::rejected ? Diagnostic::Severity::error : Diagnostic::Severity::warning;
  bool found = false;
  for (const auto& d : loaded->diagnostics) {
    EXPECT_EQ(d.str().find("Juniper!1"), std::string::npos) << "secret in a message: " << d.str();
    if (d.severity == severity && d.message.find(k.fragment) != std::string::npos) {
      found = true;
      if (k.line) {
        EXPECT_EQ(d.where.str(), where) << d.str();
      }
    }
  }
  std::string all;
  for (const auto& d : loaded->diagnostics) all += d.str() + "\n";
  EXPECT_TRUE(found) << "expected \"" << k.fragment << "\" in:\n" << all;
  EXPECT_TRUE(has_object(loaded->config, k.survivor)) << k.survivor << " should still be loaded";
}

INSTANTIATE_TEST_SUITE_P(Table, BadInput, ::testing::ValuesIn(kCases),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(BadInput, TableHasAtLeastThirtyCases) { EXPECT_GE(std::size(kCases), 30u); }

TEST(BadInput, PreemptDelaySecTakesZeroToAnHour) {
  ConfigTree tree;
  tree.write("etc", "sedge.conf", base_site(tree.write("etc", "site.psk", "Juniper!1", 0600).string()));
  auto loaded = load(tree.sources());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.profiles.at("Cloud").preempt_delay_sec, 30u) << "the default";
  for (const char* value : {"0", "3600"}) {
    tree.write("etc", "sedge.conf.d/90-preempt.conf", std::string("[SteeringProfile Cloud]\nPreemptDelaySec=") + value + "\n");
    loaded = load(tree.sources());
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_FALSE(loaded->has_errors()) << value;
    ASSERT_TRUE(loaded->config.profiles.count("Cloud")) << value;
    EXPECT_EQ(std::to_string(loaded->config.profiles.at("Cloud").preempt_delay_sec), value);
  }
}

TEST(BadInput, NoConfigurationAtAllSaysWhereItLooked) {
  ConfigTree tree;
  auto loaded = load(tree.sources());
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("no configuration found"), std::string::npos);
  EXPECT_NE(loaded.error().message.find((tree.root() / "etc").string()), std::string::npos);
}

}  // namespace
}  // namespace sedge::config

// AuthMethod=pubkey: Certificate=, PrivateKeyFile= (0600, read at load, never printed) and CAPath=
// on a connector or tunnel; bad values are errors at their file:line; dn: identities.
#include <gtest/gtest.h>

#include <string>

#include "agent/config/config.h"
#include "config_fixture.h"

namespace sedge::config {
namespace {

using testing::ConfigTree;

constexpr const char* kKey = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
constexpr const char* kCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

struct Files {
  std::string cert, key, open_key, encrypted_key, not_pem, ca;
};

Files write_files(ConfigTree& tree) {
  Files f;
  f.cert = tree.write("etc", "site.crt", kCert).string();
  f.key = tree.write("etc", "site.key", kKey, 0600).string();
  f.open_key = tree.write("etc", "open.key", kKey, 0644).string();
  f.encrypted_key = tree.write("etc", "enc.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n", 0600).string();
  f.not_pem = tree.write("etc", "junk.txt", "hello\n", 0600).string();
  f.ca = tree.write("etc", "ca/ca.pem", kCert).parent_path().string();
  return f;
}

std::string site(const Files&, const std::string& connector_extra, const std::string& tunnel_extra = "") {
  return "[Interface wan0]\nRole=wan\n"                                  // 1-2
         "[Connector c]\nLocalId=site1@example.com\n" +                  // 3-4
         connector_extra +                                                // 5...
         "[Tunnel t]\nConnector=c\nWan=wan0\nRemote=192.0.2.2\nRemoteId=dn:CN=pop1.example.net, O=Example\n"
         "RemoteNetwork=10.201.0.0/24\n" +
         tunnel_extra;
}

std::string pubkey(const Files& f, const std::string& key) {
  return "AuthMethod=pubkey\nCertificate=" + f.cert + "\nPrivateKeyFile=" + key + "\nCAPath=" + f.ca + "\n";  // lines 5-8
}

std::string diagnostics(const LoadedConfig& l) {
  std::string all;
  for (const auto& d : l.diagnostics) all += d.str() + "\n";
  return all;
}

TEST(CertificateConfig, LoadsAndNeverPrintsTheKey) {
  ConfigTree tree;
  const Files f = write_files(tree);
  auto loaded = load_text("t.conf", site(f, pubkey(f, f.key)));
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_FALSE(loaded->has_errors()) << diagnostics(*loaded);
  const Config& c = loaded->config;
  ASSERT_EQ(c.tunnels.count("t"), 1u) << diagnostics(*loaded);
  const Tunnel& t = c.tunnels.at("t");
  EXPECT_EQ(c.auth_method_for(t), AuthMethod::pubkey);
  EXPECT_EQ(c.certificate_for(t), f.cert);
  EXPECT_EQ(c.ca_path_for(t), f.ca);
  EXPECT_EQ(std::string(c.private_key_for(t).view()) + "\n", kKey);  // read like PresharedKeyFile=: the last newline goes
  ASSERT_TRUE(t.remote_id);
  EXPECT_EQ(t.remote_id->type, IdType::der_asn1_dn);
  EXPECT_EQ(t.remote_id->value, "CN=pop1.example.net, O=Example");
  const std::string effective = format_effective(c);
  EXPECT_NE(effective.find("AuthMethod=pubkey"), std::string::npos) << effective;
  EXPECT_NE(effective.find("PrivateKeyFile=" + f.key), std::string::npos) << effective;
  EXPECT_EQ(effective.find("MIGHAgEAMBMG"), std::string::npos) << "the key itself was printed";
  EXPECT_NE(effective.find("RemoteId=dn:CN=pop1.example.net, O=Example"), std::string::npos) << effective;
}

TEST(CertificateConfig, TheTunnelOverridesTheConnector) {
  ConfigTree tree;
  const Files f = write_files(tree);
  const std::string psk = tree.write("etc", "c.psk", "secret", 0600).string();
  auto loaded = load_text("t.conf", site(f, "PresharedKeyFile=" + psk + "\n", "AuthMethod=pubkey\nCertificate=" + f.cert + "\nPrivateKeyFile=" + f.key + "\nCAPath=" + f.ca + "\n"));
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->config.tunnels.count("t"), 1u) << diagnostics(*loaded);
  EXPECT_EQ(loaded->config.auth_method_for(loaded->config.tunnels.at("t")), AuthMethod::pubkey);
}

struct BadCase {
  const char* name;
  int which;  // 0: key mode 0644, 1: encrypted key, 2: key not PEM, 3: certificate not PEM, 4: CAPath missing, 5: bad AuthMethod
  unsigned line;
  const char* fragment;
};

class CertificateConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(CertificateConfigErrors, AtFileAndLine) {
  const BadCase& k = GetParam();
  ConfigTree tree;
  const Files f = write_files(tree);
  std::string lines[4] = {"AuthMethod=pubkey", "Certificate=" + f.cert, "PrivateKeyFile=" + f.key, "CAPath=" + f.ca};
  switch (k.which) {
    case 0: lines[2] = "PrivateKeyFile=" + f.open_key; break;
    case 1: lines[2] = "PrivateKeyFile=" + f.encrypted_key; break;
    case 2: lines[2] = "PrivateKeyFile=" + f.not_pem; break;
    case 3: lines[1] = "Certificate=" + f.not_pem; break;
    case 4: lines[3] = "CAPath=/nonexistent/ca"; break;
    case 5: lines[0] = "AuthMethod=rsa"; break;
  }
  auto loaded = load_text("t.conf", site(f, lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3] + "\n"));
  ASSERT_TRUE(loaded);
  bool found = false;
  for (const auto& d : loaded->diagnostics) {
    EXPECT_EQ(d.str().find("MIGHAgEAMBMG"), std::string::npos) << "key text in a message: " << d.str();
    if (d.severity == Diagnostic::Severity::error && d.message.find(k.fragment) != std::string::npos) {
      found = true;
      EXPECT_EQ(d.where.str(), "t.conf:" + std::to_string(k.line)) << d.str();
    }
  }
  EXPECT_TRUE(found) << "expected \"" << k.fragment << "\" in:\n" << diagnostics(*loaded);
  EXPECT_EQ(loaded->config.connectors.count("c"), 0u) << "the connector with the bad value is ignored";
}

INSTANTIATE_TEST_SUITE_P(Table, CertificateConfigErrors,
                         ::testing::Values(BadCase{"key_readable_by_others", 0, 7, "readable by group or others (mode 0644): chmod 600"},
                                           BadCase{"encrypted_key", 1, 7, "is an encrypted private key"},
                                           BadCase{"key_not_pem", 2, 7, "holds no PEM private key"},
                                           BadCase{"certificate_not_pem", 3, 6, "holds no PEM certificate"},
                                           BadCase{"ca_path_missing", 4, 8, "neither a file nor a directory of CA certificates"},
                                           BadCase{"auth_method_unknown", 5, 5, "expected one of psk, pubkey"}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(CertificateConfig, PubkeyWithoutItsFilesRejectsTheTunnel) {
  ConfigTree tree;
  const Files f = write_files(tree);
  auto loaded = load_text("t.conf", site(f, "AuthMethod=pubkey\nCertificate=" + f.cert + "\n"));
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->config.tunnels.count("t"), 0u);
  EXPECT_NE(diagnostics(*loaded).find("AuthMethod=pubkey needs PrivateKeyFile= CAPath= on the tunnel or connector c"), std::string::npos)
      << diagnostics(*loaded);
  // A bad dn: identity is an error at its line.
  auto bad_dn = load_text("t.conf", site(f, pubkey(f, f.key), "LocalId=dn:,\n"));
  ASSERT_TRUE(bad_dn);
  EXPECT_NE(diagnostics(*bad_dn).find("a distinguished name"), std::string::npos) << diagnostics(*bad_dn);
}

}  // namespace
}  // namespace sedge::config

// [Onboarding] Identity=ek|idevid, IDevIDCertificate= (a readable PEM certificate) and
// IDevIDKeyHandle= (a TPM persistent handle): defaults, what they load as, and bad values as
// errors at their file:line.
#include <gtest/gtest.h>

#include <string>

#include "agent/config/config.h"
#include "config_fixture.h"

namespace sedge::config {
namespace {

using testing::ConfigTree;

constexpr const char* kCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

std::string onboarding(const std::string& extra) {
  return "[Onboarding]\nConductor=conductor.example\nRouterId=r1\nInterface=mgmt0\n" +
         extra;  // extra from line 5
}

std::string diagnostics(const LoadedConfig& l) {
  std::string all;
  for (const auto& d : l.diagnostics) all += d.str() + "\n";
  return all;
}

TEST(OnboardingIdentity, DefaultsToTheEk) {
  auto loaded = load_text("o.conf", onboarding(""));
  ASSERT_TRUE(loaded);
  ASSERT_TRUE(loaded->config.onboarding) << diagnostics(*loaded);
  EXPECT_EQ(loaded->config.onboarding->identity, "ek");
  EXPECT_EQ(loaded->config.onboarding->idevid_key_handle, 0x81020000u);
  EXPECT_TRUE(loaded->config.onboarding->idevid_certificate.empty());
}

TEST(OnboardingIdentity, IdevidLoadsWithItsCertificateAndHandle) {
  ConfigTree tree;
  const std::string cert = tree.write("etc", "idevid.pem", kCert).string();
  auto loaded = load_text("o.conf", onboarding("Identity=idevid\nIDevIDCertificate=" + cert +
                                               "\nIDevIDKeyHandle=0x81020001\n"));
  ASSERT_TRUE(loaded);
  EXPECT_FALSE(loaded->has_errors()) << diagnostics(*loaded);
  ASSERT_TRUE(loaded->config.onboarding) << diagnostics(*loaded);
  const Onboarding& o = *loaded->config.onboarding;
  EXPECT_EQ(o.identity, "idevid");
  EXPECT_EQ(o.idevid_certificate, cert);
  EXPECT_EQ(o.idevid_key_handle, 0x81020001u);
  const std::string effective = format_effective(loaded->config);
  EXPECT_NE(effective.find("Identity=idevid"), std::string::npos) << effective;
  EXPECT_NE(effective.find("IDevIDKeyHandle=0x81020001"), std::string::npos) << effective;
  EXPECT_NE(effective.find("IDevIDCertificate=" + cert), std::string::npos) << effective;
}

struct BadCase {
  const char* name;
  std::string lines;  // from line 5
  unsigned line;
  const char* fragment;
};

TEST(OnboardingIdentity, BadValuesAreErrorsAtTheirLine) {
  ConfigTree tree;
  const std::string cert = tree.write("etc", "idevid.pem", kCert).string();
  const std::string junk = tree.write("etc", "junk.txt", "hello\n").string();
  const BadCase cases[] = {
      {"unknown identity", "Identity=iak\n", 5, "expected ek or idevid"},
      {"idevid without a certificate", "IDevIDKeyHandle=0x81020000\nIdentity=idevid\n", 6,
       "needs IDevIDCertificate="},
      {"certificate not PEM", "Identity=idevid\nIDevIDCertificate=" + junk + "\n", 6,
       "holds no PEM certificate"},
      {"certificate missing", "Identity=idevid\nIDevIDCertificate=/nonexistent/idevid.pem\n", 6,
       "cannot read"},
      {"handle not hex",
       "Identity=idevid\nIDevIDCertificate=" + cert + "\nIDevIDKeyHandle=2164391936\n", 7,
       "not a TPM persistent handle"},
      {"handle not persistent", "IDevIDKeyHandle=0x01c00002\n", 5, "not a TPM persistent handle"},
      {"handle trailing junk", "IDevIDKeyHandle=0x81020000x\n", 5, "not a TPM persistent handle"},
  };
  for (const BadCase& k : cases) {
    SCOPED_TRACE(k.name);
    auto loaded = load_text("o.conf", onboarding(k.lines));
    ASSERT_TRUE(loaded);
    bool found = false;
    for (const auto& d : loaded->diagnostics) {
      if (d.severity != Diagnostic::Severity::error ||
          d.message.find(k.fragment) == std::string::npos)
        continue;
      found = true;
      EXPECT_EQ(d.where.str(), "o.conf:" + std::to_string(k.line)) << d.str();
    }
    EXPECT_TRUE(found) << "expected \"" << k.fragment << "\" in:\n" << diagnostics(*loaded);
    EXPECT_FALSE(loaded->config.onboarding)
        << "the [Onboarding] section with the bad value is ignored";
  }
}

}  // namespace
}  // namespace sedge::config

// Known answers recorded from strongSwan: charon derived these keys in a real exchange in the
// lab (tests/unit/ike/vectors/record_strongswan.sh writes one vector file per suite from its
// level-4 log). From the exchange's g^ir, Ni, Nr, SPIi and SPIr, sedge's derivation must give
// strongSwan's SKEYSEED, every SK_* and the first CHILD_SA's ESP KEYMAT.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "common/hex.h"
#include "ike/crypto.h"
#include "ike/message.h"

namespace sedge::ike {
namespace {

namespace fs = std::filesystem;

Bytes bytes_of(const Secret& s) {
  return Bytes(s.bytes().begin(), s.bytes().end());
}

// One vector file: "name = value" lines, '#' comments.
class Vector {
 public:
  explicit Vector(const fs::path& path) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find(" = ");
      if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
      fields_[line.substr(0, eq)] = line.substr(eq + 3);
    }
  }
  bool has(const std::string& name) const { return fields_.contains(name); }
  std::string text(const std::string& name) const {
    return has(name) ? fields_.at(name) : std::string{};
  }
  Bytes bytes(const std::string& name) const {
    auto b = from_hex(text(name));
    EXPECT_TRUE(b.ok() && !b->empty()) << name << " is not hex in the vector file";
    return b.ok() ? *b : Bytes{};
  }
  uint64_t spi(const std::string& name) const { return std::stoull(text(name), nullptr, 16); }

 private:
  std::map<std::string, std::string> fields_;
};

fs::path vector_dir() {
  const char* src = std::getenv("SEDGE_SOURCE_DIR");
  return src ? fs::path(src) / "tests/unit/ike/vectors" : fs::path{};
}

std::map<std::string, Vector> recorded() {
  std::map<std::string, Vector> v;
  if (vector_dir().empty()) return v;
  for (const auto& e : fs::directory_iterator(vector_dir())) {
    if (e.path().extension() == ".kat") v.emplace(e.path().filename().string(), Vector(e.path()));
  }
  return v;
}

TEST(IkeStrongSwanKat, TheSeedSuiteAndACbcSuiteAreRecorded) {
  ASSERT_NE(std::getenv("SEDGE_SOURCE_DIR"), nullptr) << "SEDGE_SOURCE_DIR is set by ctest";
  std::set<std::string> suites;
  for (const auto& [file, v] : recorded()) suites.insert(v.text("ike"));
  EXPECT_TRUE(suites.contains("aes128gcm16-prfsha256-modp2048")) << "the seed's profile";
  EXPECT_TRUE(suites.contains("aes256-sha384-ecp384")) << "AES-CBC with HMAC-SHA2-384 and ECP-384";
}

void check_ike_keys(const Vector& v, const Suite& suite, const IkeKeys& k) {
  EXPECT_EQ(bytes_of(k.sk_d), v.bytes("sk_d"));
  // strongSwan logs SK_e with AES-GCM's salt appended, as sedge keeps it (RFC 5282).
  EXPECT_EQ(bytes_of(k.sk_ei), v.bytes("sk_ei"));
  EXPECT_EQ(bytes_of(k.sk_er), v.bytes("sk_er"));
  EXPECT_EQ(bytes_of(k.sk_pi), v.bytes("sk_pi"));
  EXPECT_EQ(bytes_of(k.sk_pr), v.bytes("sk_pr"));
  if (suite.aead()) {
    EXPECT_FALSE(v.has("sk_ai")) << "strongSwan derives no SK_a with AES-GCM";
    EXPECT_TRUE(k.sk_ei.integ_key().empty());
  } else {
    EXPECT_EQ(bytes_of(k.sk_ei.integ_key()), v.bytes("sk_ai"));
    EXPECT_EQ(bytes_of(k.sk_er.integ_key()), v.bytes("sk_ar"));
  }
}

void check_child_keys(const Vector& v, const Suite& suite, const ChildKeys& c) {
  EXPECT_EQ(bytes_of(c.initiator_to_responder), v.bytes("esp_encr_i"));
  EXPECT_EQ(bytes_of(c.responder_to_initiator), v.bytes("esp_encr_r"));
  if (suite.esp_aead()) {
    EXPECT_FALSE(v.has("esp_integ_i"));
  } else {
    EXPECT_EQ(bytes_of(c.integ_initiator_to_responder), v.bytes("esp_integ_i"));
    EXPECT_EQ(bytes_of(c.integ_responder_to_initiator), v.bytes("esp_integ_r"));
  }
}

TEST(IkeStrongSwanKat, SedgeDerivesStrongSwansKeys) {
  const auto vectors = recorded();
  ASSERT_FALSE(vectors.empty()) << "no .kat files in " << vector_dir();
  for (const auto& [file, v] : vectors) {
    SCOPED_TRACE(file);
    auto suite = parse_suite(v.text("ike"), v.text("esp"));
    ASSERT_TRUE(suite.ok()) << suite.error().message;
    const Bytes g_ir = v.bytes("g_ir"), ni = v.bytes("ni"), nr = v.bytes("nr");
    const uint64_t spi_i = v.spi("spi_i"), spi_r = v.spi("spi_r");
    EXPECT_EQ(skeyseed(suite->prf, ni, nr, g_ir), v.bytes("skeyseed"));
    const IkeKeys k = derive_ike_keys(*suite, g_ir, ni, nr, spi_i, spi_r);
    check_ike_keys(v, *suite, k);
    check_child_keys(v, *suite, derive_child_keys(*suite, k.sk_d, ni, nr));
    // The SPIs are in the derivation: swapped, SK_d differs.
    EXPECT_NE(bytes_of(derive_ike_keys(*suite, g_ir, ni, nr, spi_r, spi_i).sk_d), v.bytes("sk_d"));
  }
}

}  // namespace
}  // namespace sedge::ike

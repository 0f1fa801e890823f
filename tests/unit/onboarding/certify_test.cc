// The IDevID path's check of TPM2_Certify in software (parse_certify, verify_certify,
// check_idevid_attributes), on certifications a TPM made: swtpm, driven by tpm2-tools
// (tpm2_create of an ECC P-256 and an RSA-2048 IDevID signing key and a restricted ECC AK under
// the owner's storage key, tpm2_certify -c AK -C IDEVID, which qualifies with 00ff55aa;
// tpm2_readpublic -n printed the AK's name), recorded under data/. Every truncation, bit flip,
// other signer, other nonce and other object is refused. The TPM side of the same exchange runs
// in the lab (tests/lab/onboarding/idevid.sh).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>

#include "onboarding/quote.h"
#include "onboarding/tpm_wire.h"

namespace sedge::onboarding {
namespace {

constexpr const char* kAkName =
    "000bd95dcec7b35a895e1b6f6fef400f0b2ad0545273028e27dd4d9e454c1c526b8f";
const Bytes kQualifying = {0x00, 0xff, 0x55, 0xaa};  // tpm2_certify's qualifying data

Bytes data_file(const std::string& name) {
  const char* src = std::getenv("SEDGE_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : ".") + "/tests/unit/onboarding/data/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << name;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The IDevID key as the conductor has it: from the public area (the same key its certificate
// holds).
PkeyPtr key_of(const std::string& pub_file) {
  auto area = parse_public(data_file(pub_file));
  EXPECT_TRUE(area.ok());
  auto key = area.ok() ? public_key(*area) : Result<PkeyPtr>(Error{"no area"});
  EXPECT_TRUE(key.ok());
  return key.ok() ? std::move(*key) : nullptr;
}

Bytes ak_name() {
  auto area = parse_public(data_file("ak-certified.pub"));
  EXPECT_TRUE(area.ok());
  auto name = object_name(*area);
  EXPECT_TRUE(name.ok());
  return *name;
}

TEST(Certify, ParsesWhatTheTpmMade) {
  auto c = parse_certify(data_file("certify-ecc.attest"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->header.magic, kTpmGeneratedValue);
  EXPECT_EQ(c->header.type, kStAttestCertify);
  EXPECT_EQ(c->header.extra_data, kQualifying);
  EXPECT_EQ(to_hex(c->name), kAkName);
  EXPECT_EQ(to_hex(ak_name()), kAkName) << "tpm2_readpublic -n and object_name agree";
  EXPECT_EQ(c->qualified_name.size(), 34u);
  // A certify is not a quote and a quote is not a certify.
  EXPECT_NE(
      parse_attest(data_file("certify-ecc.attest")).error().message.find("not TPM_ST_ATTEST_QUOTE"),
      std::string::npos);
  EXPECT_NE(parse_certify(data_file("quote-ecc.attest"))
                .error()
                .message.find("not TPM_ST_ATTEST_CERTIFY"),
            std::string::npos);
}

TEST(Certify, VerifiesWithTheIdevidKeyEccAndRsa) {
  for (const char* kind : {"ecc", "rsa"}) {
    SCOPED_TRACE(kind);
    const std::string k = kind;
    PkeyPtr key = key_of("idevid-" + k + ".pub");
    auto v = verify_certify(key.get(), data_file("certify-" + k + ".attest"),
                            data_file("certify-" + k + ".sig"), kQualifying, ak_name());
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(to_hex(v->name), kAkName);
  }
}

TEST(Certify, RefusesAnotherSignerNonceOrObject) {
  const Bytes attest = data_file("certify-ecc.attest"), sig = data_file("certify-ecc.sig");
  PkeyPtr ecc = key_of("idevid-ecc.pub"), rsa = key_of("idevid-rsa.pub"),
      ak = key_of("ak-certified.pub");
  // Another key (of another type, or of the same type): not the IDevID key that signed.
  EXPECT_NE(verify_certify(rsa.get(), attest, sig, kQualifying, ak_name())
                .error()
                .message.find("does not verify with the IDevID key"),
            std::string::npos);
  EXPECT_NE(verify_certify(ak.get(), attest, sig, kQualifying, ak_name())
                .error()
                .message.find("does not verify with the IDevID key"),
            std::string::npos);
  // The RSA certify's signature over the ECC certify's bytes.
  EXPECT_FALSE(
      verify_certify(rsa.get(), attest, data_file("certify-rsa.sig"), kQualifying, ak_name()).ok());
  // Another session's nonce.
  const Bytes other_nonce = {0x00, 0xff, 0x55, 0xab};
  EXPECT_NE(verify_certify(ecc.get(), attest, sig, other_nonce, ak_name())
                .error()
                .message.find("not over the expected nonce"),
            std::string::npos);
  EXPECT_FALSE(verify_certify(ecc.get(), attest, sig, {}, ak_name()).ok());
  // Another AK than the one certified.
  Bytes other = ak_name();
  other.back() ^= 1;
  EXPECT_NE(
      verify_certify(ecc.get(), attest, sig, kQualifying, other).error().message.find("not the AK"),
      std::string::npos);
}

TEST(Certify, RefusesEveryTruncationBitFlipAndTrailingByte) {
  const Bytes attest = data_file("certify-ecc.attest"), sig = data_file("certify-ecc.sig");
  PkeyPtr ecc = key_of("idevid-ecc.pub");
  const Bytes name = ak_name();
  for (size_t n = 0; n < attest.size(); ++n)
    EXPECT_FALSE(parse_certify(ByteView(attest.data(), n)).ok()) << "cut at " << n;
  Bytes longer = attest;
  longer.push_back(0);
  EXPECT_NE(parse_certify(longer).error().message.find("malformed certify"), std::string::npos);
  for (size_t i = 0; i < attest.size() * 8; ++i) {
    Bytes flipped = attest;
    flipped[i / 8] = static_cast<uint8_t>(flipped[i / 8] ^ (1u << (i % 8)));
    EXPECT_FALSE(verify_certify(ecc.get(), flipped, sig, kQualifying, name).ok()) << "bit " << i;
  }
  for (size_t i = 0; i < sig.size() * 8; ++i) {
    Bytes flipped = sig;
    flipped[i / 8] = static_cast<uint8_t>(flipped[i / 8] ^ (1u << (i % 8)));
    EXPECT_FALSE(verify_certify(ecc.get(), attest, flipped, kQualifying, name).ok())
        << "signature bit " << i;
  }
}

TEST(IdevidAttributes, AcceptsTheTpmsKeysAndRefusesOthers) {
  for (const char* f : {"idevid-ecc.pub", "idevid-rsa.pub", "ak-certified.pub"}) {
    auto area = parse_public(data_file(f));
    ASSERT_TRUE(area.ok()) << f;
    EXPECT_TRUE(check_idevid_attributes(*area).ok()) << f;
  }
  auto area = parse_public(data_file("idevid-ecc.pub"));
  for (uint32_t bit :
       {attr::kFixedTpm, attr::kFixedParent, attr::kSensitiveDataOrigin, attr::kSign}) {
    PublicArea a = *area;
    a.attributes &= ~bit;
    EXPECT_FALSE(check_idevid_attributes(a).ok()) << bit;
  }
  PublicArea decrypting = *area;
  decrypting.attributes |= attr::kDecrypt;
  EXPECT_NE(check_idevid_attributes(decrypting).error().message.find("decrypt"), std::string::npos);
  // An EK (restricted decryption) is not a device identity signing key.
  auto ek = parse_public(data_file("ek-rsa2048.pub"));
  ASSERT_TRUE(ek.ok());
  EXPECT_FALSE(check_idevid_attributes(*ek).ok());
}

}  // namespace
}  // namespace sedge::onboarding

// Known answers for sedge's IKEv2 cryptography, from the published test vectors: RFC 4231
// (HMAC-SHA2), RFC 4868 (the PRF and the truncated integrity ICV), RFC 5903 section 8 (ECP
// groups 19, 20, 21), RFC 7748 sections 5.2 and 6.1 (X25519), and the IKEv2 KDF sample case of
// NIST's ACVP sub-specification for SP 800-135 IKEv2 (SKEYSEED, DKM, child DKM with and without
// D-H, rekey SKEYSEED). Then the suites: parsing, proposals, key sizes and the AES-CBC SK payload.
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "ike/crypto.h"
#include "ike/message.h"
#include "ike/proposal.h"
#include "ike/rekey.h"

namespace sedge::ike {
namespace {

// Hex as the RFCs print it (spaces and line breaks allowed).
Bytes hex(std::string_view h) {
  Bytes b;
  std::string digits;
  for (char c : h) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return b;
}
Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes bytes_of(const Secret& s) { return Bytes(s.bytes().begin(), s.bytes().end()); }

// ---- RFC 4231: HMAC-SHA-256/384/512 (test cases 1, 2 and 6) ----

struct HmacCase {
  const char* name;
  Bytes key, data;
  const char *sha256, *sha384, *sha512;
};

TEST(IkeKat, HmacSha2Rfc4231) {
  const HmacCase cases[] = {
      {"case 1", Bytes(20, 0x0b), text("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
       "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
       "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
      {"case 2", text("Jefe"), text("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
       "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
      {"case 6 (key longer than the block)", Bytes(131, 0xaa), text("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
       "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
       "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(prf(kPrfHmacSha256, c.key, c.data), hex(c.sha256));
    EXPECT_EQ(prf(kPrfHmacSha384, c.key, c.data), hex(c.sha384));
    EXPECT_EQ(prf(kPrfHmacSha512, c.key, c.data), hex(c.sha512));
  }
  EXPECT_EQ(prf(cases[1].key, cases[1].data), hex(cases[1].sha256)) << "the two-argument prf is HMAC-SHA2-256";
}

// ---- RFC 4868 2.7: PRF-HMAC-SHA2 with keys of the hash's size, and the truncated ICVs ----

TEST(IkeKat, PrfAndTruncatedIntegrityRfc4868) {
  struct Case {
    uint16_t prf, integ;
    size_t key_size, icv_size;
    const char* prf1;  // Test Case PRF-1: the key of 0x0b bytes, "Hi There"
  } const cases[] = {
      {kPrfHmacSha256, kIntegHmacSha256_128, 32, 16, "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"},
      {kPrfHmacSha384, kIntegHmacSha384_192, 48, 24,
       "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc4c5df61d5b3297b4fb68dab9f1b582c2"},
      {kPrfHmacSha512, kIntegHmacSha512_256, 64, 32,
       "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.prf);
    const Bytes key(c.key_size, 0x0b);
    EXPECT_EQ(prf_size(c.prf), c.key_size);
    EXPECT_EQ(integ_key_size(c.integ), c.key_size);
    EXPECT_EQ(integ_icv_size(c.integ), c.icv_size);
    EXPECT_EQ(prf(c.prf, key, text("Hi There")), hex(c.prf1));
    // AUTH*-1: the same HMAC truncated to half its length.
    const Bytes full = hex(c.prf1);
    EXPECT_EQ(integ_icv(c.integ, key, text("Hi There")), Bytes(full.begin(), full.begin() + static_cast<long>(c.icv_size)));
  }
  // PRF-2 / AUTH256-2: "Jefe" repeated to the 32-byte key.
  const Bytes jefe = text("JefeJefeJefeJefeJefeJefeJefeJefe");
  EXPECT_EQ(prf(kPrfHmacSha256, jefe, text("what do ya want for nothing?")),
            hex("167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"));
  EXPECT_EQ(integ_icv(kIntegHmacSha256_128, jefe, text("what do ya want for nothing?")), hex("167f928588c5cc2eef8e3093caa0e87c"));
}

// ---- RFC 5903 section 8: the ECP groups' test vectors, through the KE payload format ----

struct EcpCase {
  uint16_t group;
  const char *i, *gix, *giy, *r, *grx, *gry, *girx;
};

const EcpCase kRfc5903[] = {
    {19, "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
     "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180",
     "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
     "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
     "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63",
     "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
     "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE"},
    {20,
     "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655 E35B5380 41E649EE 3FAEF896 783AB194",
     "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6 DE3AC808 ACB4BDB4 C88732AE E95F41AA",
     "9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C",
     "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942 E0308312 916B8ED2 960E4BD5 5A7448FC",
     "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D 0D1AC43A 0336DEF9 6FDA41D0 774A3571",
     "DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C",
     "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4 D6031355 69B9E9D0 9CF5D4A2 70F59746"},
    {21,
     "0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0 95AA85A3 0FE1C295 2C6771D9 37BA9777 "
     "F5957B26 39BAB072 462F68C2 7A57382D 4A52",
     "0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE E1E3BF42 E00B8E38 0AEAE57C 2D107564 "
     "94188594 2AF5A7F4 601723C4 195D176C ED3E",
     "017CAE20 B6641D2E EB695786 D8C94614 6239D099 E18E1D5A 514C739D 7CB4A10A D8A78801 5AC405D7 799DC75E 7B7D5B6C "
     "F2261A6A 7F150743 8BF01BEB 6CA3926F 9582",
     "0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E 9C677D60 0B343757 A3BDBF2A 3163E4C2 "
     "F869CCA7 458AA4A4 EFFC311F 5CB15168 5EB9",
     "00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21 9B97C356 436ADC6E 95BB0352 F6BE64A6 "
     "C2912D4E F2D0433C ED2B6171 640012D9 460F",
     "015C6822 6383956E 3BD066E7 97B623C2 7CE0EAC2 F551A10C 2C724D98 52077B87 220B6536 C5C408A1 D2AEBB8E 86D678AE "
     "49CB5709 1F473229 6579AB44 FCD17F0F C56A",
     "01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04 D1427E73 CA4BAA24 0A347868 59810C06 "
     "B3C715A3 A8CC3151 F2BEE417 996D19F3 DDEA"},
};

TEST(IkeKat, EcpGroupsRfc5903Section8) {
  for (const auto& c : kRfc5903) {
    SCOPED_TRACE(c.group);
    Bytes gi = hex(c.gix), gr = hex(c.grx);
    const Bytes giy = hex(c.giy), gry = hex(c.gry);
    gi.insert(gi.end(), giy.begin(), giy.end());
    gr.insert(gr.end(), gry.begin(), gry.end());
    ASSERT_EQ(gi.size(), KeyExchange::public_size(c.group));
    auto initiator = KeyExchange::from_private(c.group, hex(c.i), gi);
    auto responder = KeyExchange::from_private(c.group, hex(c.r), gr);
    ASSERT_TRUE(initiator.ok()) << initiator.error().message;
    ASSERT_TRUE(responder.ok()) << responder.error().message;
    EXPECT_EQ(initiator->public_value(), gi) << "KEi is gix | giy (RFC 5903 section 7)";
    auto ir = initiator->shared_secret(gr);
    auto ri = responder->shared_secret(gi);
    ASSERT_TRUE(ir.ok() && ri.ok());
    EXPECT_EQ(bytes_of(*ir), hex(c.girx)) << "g^ir is the x coordinate alone";
    EXPECT_EQ(bytes_of(*ri), hex(c.girx));
    // A public value that is not the private key's, or not on the curve, is refused.
    EXPECT_FALSE(KeyExchange::from_private(c.group, hex(c.i), gr).ok());
    Bytes off = gr;
    off.at(off.size() - 1) ^= 1;  // not back(): GCC 12 at -O2 warns of a null dereference there
    EXPECT_FALSE(initiator->shared_secret(off).ok());
  }
}

// ---- RFC 7748: X25519 (section 5.2 scalar/u-coordinate vectors and the iteration; 6.1) ----

Bytes x25519(const Bytes& scalar, const Bytes& u) {
  auto kx = KeyExchange::from_private(31, scalar, {});
  if (!kx) return {};
  auto s = kx->shared_secret(u);
  return s ? bytes_of(*s) : Bytes{};
}

TEST(IkeKat, X25519Rfc7748) {
  EXPECT_EQ(x25519(hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                   hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")),
            hex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));
  // The u-coordinate's top bit is set: it must be masked (RFC 7748 section 5).
  EXPECT_EQ(x25519(hex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
                   hex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")),
            hex("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"));
  // Iterated: k = u = 9; then k, u = X25519(k, u), k.
  Bytes k = hex("0900000000000000000000000000000000000000000000000000000000000000"), u = k;
  for (int n = 1; n <= 1000; ++n) {
    Bytes next = x25519(k, u);
    u = k;
    k = next;
    if (n == 1) {
      EXPECT_EQ(k, hex("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"));
    }
  }
  EXPECT_EQ(k, hex("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"));
  // Section 6.1: Alice and Bob, through the KE payload format.
  auto alice = KeyExchange::from_private(31, hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
                                         hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  auto bob = KeyExchange::from_private(31, hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
                                       hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  ASSERT_TRUE(alice.ok() && bob.ok());
  const Bytes k61 = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(bytes_of(*alice->shared_secret(bob->public_value())), k61);
  EXPECT_EQ(bytes_of(*bob->shared_secret(alice->public_value())), k61);
  EXPECT_FALSE(KeyExchange::from_private(31, hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
                                         bob->public_value())
                   .ok())
      << "a public value that is not the scalar's is refused";
}

// ---- NIST ACVP, SP 800-135 IKEv2 KDF: the sample case of the ACVP IKEv2 KDF sub-specification
// (draft-ietf-acvp-subkdf135-ikev2-00, appendices B and C: tc_id 2170, SHA-1, 1056-bit DKM).
// SHA-1 is the only hash with a published sample; sedge does not negotiate it, but the steps
// are the same functions for every PRF. ----

TEST(IkeKat, IkeV2KdfAcvpSample) {
  const Bytes ni = hex("d6e106297cdbdfa858340842f7e8177a"), nr = hex("23a498f2862ca8d80049340797815f8d");
  const Bytes gir = hex("b1d49a782337e866e41a6626a561b423b7dd368c46292f610d554aff");
  const Bytes gir_new = hex("897c7be2a35af41e844f9d80df7a70d88ed1f0d6ff916f95a069efe4");
  const uint64_t spi_i = 0xd49e0a11c35e989full, spi_r = 0xab4192dfd0e37333ull;
  const size_t dkm_len = 1056 / 8;

  const Bytes seed = skeyseed(kPrfHmacSha1, ni, nr, gir);
  EXPECT_EQ(seed, hex("59dbb66af31264f955fa72b6a3b0ff68b414e8f5"));
  const Secret dkm = ike_keymat(kPrfHmacSha1, seed, ni, nr, spi_i, spi_r, dkm_len);
  EXPECT_EQ(bytes_of(dkm), hex("76a35ca17b3de68999c2e73fcf94ca793d88e5cfb9f509e1ae5c9c245338d3652446c967122ee98ac6ac75dec39edeea"
                               "8fbd2ca18e596d32e19f17b65caaa2af9697bfdcdc83e90bfdb89d7fdfbbb73e7f194de5eea717d8451b972a5e63e5"
                               "4067a39e25db739660bcc768469e003c707399ae5c294f13630acf32a0853c3a8469d89f0c"));
  const PrfKey sk_d(Secret(dkm.bytes().subspan(0, prf_size(kPrfHmacSha1))), kPrfHmacSha1);
  EXPECT_EQ(bytes_of(child_keymat(sk_d, {}, ni, nr, dkm_len)),
            hex("c9d2e20781d56f0442258c69b2575667106af5ca805e8d507b68c50d2b724e8df833a47599ba97575251408ffb0cff81ef7abe3fc7eb"
                "34ff37bfdb7ddc2d7d348ffada65957894be90d0cc982d2244f10c19f2027735f658a8089c0a1fb2557af6da312d5f1dd93b4ca5b35cc4"
                "377a092d00e816e97ce63cbd00f4df91ea2a4fd39fca53"));
  EXPECT_EQ(bytes_of(child_keymat(sk_d, gir_new, ni, nr, dkm_len)),
            hex("6acfad2a4e95ec7f9c2cd084976d0a95ebaf99818396bb23304a84296c179b3dd31a83e396fb8a77c71264839315436beae2281593a6"
                "2ba31c02475651b2fded0a1afdd2634909ca7762b149a25a9948a23ef9460a354b0928aadacf72f3276667f730579f1a4d325ebf61f0c0"
                "badbecd08c9e0177472c5b4dccdc48393ce18d02ebfa92"));
  EXPECT_EQ(rekey_skeyseed(sk_d, gir_new, ni, nr), hex("31bf324a192f519be4d9c157adc7d194b4167215"));
}

// derive_ike_keys and derive_child_keys are those steps, split as RFC 7296 2.14 and 2.17 order
// the keys, sized by the suite: here AES-256-CBC with HMAC-SHA2-384-192 and PRF HMAC-SHA2-384.
TEST(IkeKat, KeySplitFollowsTheSuite) {
  auto suite = parse_suite("aes256-sha384-modp3072", "aes128-sha512-esn");
  ASSERT_TRUE(suite.ok()) << suite.error().message;
  EXPECT_EQ(suite->prf, kPrfHmacSha384);
  const Bytes g(384, 0x11), ni(32, 0x22), nr(32, 0x33);
  const IkeKeys k = derive_ike_keys(*suite, g, ni, nr, 1, 2);
  const Secret all = ike_keymat(kPrfHmacSha384, skeyseed(kPrfHmacSha384, ni, nr, g), ni, nr, 1, 2, 48 + 2 * 48 + 2 * 32 + 2 * 48);
  auto at = [&](size_t from, size_t len) { return Bytes(all.bytes().begin() + static_cast<long>(from), all.bytes().begin() + static_cast<long>(from + len)); };
  EXPECT_EQ(bytes_of(k.sk_d), at(0, 48));
  EXPECT_EQ(bytes_of(k.sk_ei.integ_key()), at(48, 48));
  EXPECT_EQ(bytes_of(k.sk_er.integ_key()), at(96, 48));
  EXPECT_EQ(bytes_of(k.sk_ei), at(144, 32));
  EXPECT_EQ(bytes_of(k.sk_er), at(176, 32));
  EXPECT_EQ(bytes_of(k.sk_pi), at(208, 48));
  EXPECT_EQ(bytes_of(k.sk_pr), at(256, 48));
  EXPECT_EQ(k.sk_ei.encr(), kEncrAesCbc);
  EXPECT_EQ(k.sk_pi.prf_id(), kPrfHmacSha384);
  // A copy keeps the algorithms and SK_a.
  const IkeKeys copy = k.clone();
  EXPECT_EQ(copy.sk_er.integ(), kIntegHmacSha384_192);
  EXPECT_EQ(bytes_of(copy.sk_er.integ_key()), bytes_of(k.sk_er.integ_key()));
  EXPECT_EQ(copy.sk_d.prf_id(), kPrfHmacSha384);
  // ESP AES-128-CBC + HMAC-SHA2-512-256: encryption then integrity key, i->r then r->i.
  const ChildKeys c = derive_child_keys(*suite, k.sk_d, ni, nr);
  const Secret km = child_keymat(k.sk_d, {}, ni, nr, 2 * (16 + 64));
  const Bytes kmb = bytes_of(km);
  EXPECT_EQ(bytes_of(c.initiator_to_responder), Bytes(kmb.begin(), kmb.begin() + 16));
  EXPECT_EQ(bytes_of(c.integ_initiator_to_responder), Bytes(kmb.begin() + 16, kmb.begin() + 80));
  EXPECT_EQ(bytes_of(c.responder_to_initiator), Bytes(kmb.begin() + 80, kmb.begin() + 96));
  EXPECT_EQ(bytes_of(c.integ_responder_to_initiator), Bytes(kmb.begin() + 96, kmb.end()));
  // PSK AUTH with the suite's PRF is 48 bytes.
  EXPECT_EQ(psk_auth(Secret(std::string_view("psk")), text("m"), ni, k.sk_pi, text("id")).size(), 48u);
  // ENCR_NULL: no encryption key, only the integrity keys.
  auto null = parse_suite("aes128gcm16-prfsha256-ecp256", "null-sha256");
  ASSERT_TRUE(null.ok()) << null.error().message;
  const ChildKeys n = derive_child_keys(*null, k.sk_d, ni, nr);
  EXPECT_TRUE(n.initiator_to_responder.empty());
  EXPECT_EQ(n.integ_responder_to_initiator.size(), 32u);
}

// ---- Suites from strongSwan-style proposals ----

TEST(IkeSuite, ParsesStrongSwanProposals) {
  auto a = parse_suite("aes256-sha384-modp3072", "aes256-sha512");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->encr, kEncrAesCbc);
  EXPECT_EQ(a->key_bits, 256);
  EXPECT_EQ(a->integ, kIntegHmacSha384_192);
  EXPECT_EQ(a->prf, kPrfHmacSha384) << "an integrity algorithm without a prf names the PRF";
  EXPECT_EQ(a->dh_group, 15);
  EXPECT_EQ(a->esp_encr, kEncrAesCbc);
  EXPECT_EQ(a->esp_integ, kIntegHmacSha512_256);
  EXPECT_FALSE(a->esn);
  EXPECT_EQ(a->ike_name(), "aes256-sha384-prfsha384-modp3072");
  EXPECT_EQ(a->esp_name(), "aes256-sha512");

  auto b = parse_suite("aes128-sha256-ecp256", "aes128-sha256-esn");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->dh_group, 19);
  EXPECT_EQ(b->prf, kPrfHmacSha256);
  EXPECT_TRUE(b->esn);

  auto c = parse_suite("aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->aead());
  EXPECT_EQ(c->integ, kIntegNone);
  EXPECT_EQ(c->prf, kPrfHmacSha384);
  EXPECT_EQ(c->dh_group, 20);
  EXPECT_EQ(c->key_and_salt(), 36u);

  auto d = parse_suite("aes256-sha512-prfsha256-ecp521", "null-sha256-noesn");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->prf, kPrfHmacSha256) << "an explicit prf wins";
  EXPECT_EQ(d->dh_group, 21);
  EXPECT_EQ(d->esp_encr, kEncrNull);
  EXPECT_EQ(d->esp_key_size(), 0u);
  EXPECT_EQ(parse_suite("aes192gcm16-prfsha512-x25519", "aes192-sha256")->key_and_salt(), 28u);
}

TEST(IkeSuite, RefusesWithTheReason) {
  const struct {
    const char *ike, *esp, *reason;
  } bad[] = {
      {"aes128-md5-modp2048", "aes128gcm16", "'md5'"},
      {"aes128-sha256-modp1024", "aes128gcm16", "'modp1024'"},
      {"3des-sha256-modp2048", "aes128gcm16", "'3des'"},
      {"aes128-sha256", "aes128gcm16", "no Diffie-Hellman group"},
      {"aes128-modp2048", "aes128gcm16", "needs an integrity algorithm"},
      {"aes128gcm16-modp2048", "aes128gcm16", "needs a PRF"},
      {"aes128gcm16-sha256-modp2048", "aes128gcm16", "takes no integrity algorithm"},
      {"null-sha256-modp2048", "aes128gcm16", "NULL encryption is not allowed for IKE"},
      {"aes128-aes256-sha256-modp2048", "aes128gcm16", "one algorithm of each kind"},
      {"aes128-sha256-modp2048-esn", "aes128gcm16", "ESP only"},
      {"aes128-sha256-modp2048", "aes128", "needs an integrity algorithm"},
      {"aes128-sha256-modp2048", "null", "needs an integrity algorithm"},
      {"aes128-sha256-modp2048", "aes128gcm16-sha256", "takes no integrity algorithm"},
      {"aes128-sha256-modp2048", "aes128-sha256-esn-noesn", "one ESN setting"},
      {"aes128-sha256-modp2048", "aes128-sha256-prfsha256", "IKE only"},
      {"aes128-sha256-modp2048", "aes128-sha1", "'sha1'"},
      {"aes128-sha256-modp2048", "", "no encryption algorithm"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(std::string(b.ike) + " / " + b.esp);
    auto s = parse_suite(b.ike, b.esp);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find(b.reason), std::string::npos) << s.error().message;
  }
}

// One parser reads both kinds of proposal (ike/proposal.h); the configuration checks with it too.
TEST(IkeProposal, OneParserForBothKinds) {
  auto esp = parse_proposal("aes256-sha512-ecp384-esn", ProposalKind::esp);
  ASSERT_TRUE(esp.ok()) << esp.error().message;
  EXPECT_EQ(esp->encr, kEncrAesCbc);
  EXPECT_EQ(esp->key_bits, 256);
  EXPECT_EQ(esp->integ, kIntegHmacSha512_256);
  EXPECT_EQ(esp->dh_group, 20) << "an ESP proposal's group is the PFS group";
  EXPECT_TRUE(esp->esn);
  EXPECT_EQ(proposal_name(*esp, ProposalKind::esp), "aes256-sha512-ecp384-esn");
  auto ike = parse_proposal("aes128gcm128-prfsha384-x25519", ProposalKind::ike);
  ASSERT_TRUE(ike.ok()) << ike.error().message;
  EXPECT_EQ(proposal_name(*ike, ProposalKind::ike), "aes128gcm16-prfsha384-curve25519") << "canonical names";
  EXPECT_EQ(*parse_pfs_group("aes128gcm16-x25519"), 31);
  // An algorithm named twice (or under both its names) is refused, as the configuration always did.
  for (const char* twice : {"aes128-aes128-sha256-modp2048", "aes128-sha256-ecp256-ecp256", "aes128-sha256-curve25519-x25519"}) {
    auto p = parse_proposal(twice, ProposalKind::ike);
    ASSERT_FALSE(p.ok()) << twice;
    EXPECT_NE(p.error().message.find("one algorithm of each kind"), std::string::npos) << p.error().message;
  }
  auto esn = parse_proposal("aes128gcm16-esn-esn", ProposalKind::esp);
  ASSERT_FALSE(esn.ok());
  EXPECT_NE(esn.error().message.find("one ESN setting"), std::string::npos) << esn.error().message;
  EXPECT_FALSE(parse_pfs_group("aes128gcm16-modp1024").ok());
  EXPECT_FALSE(parse_pfs_group("aes128-modp2048").ok()) << "AES-CBC without integrity: not an ESP proposal";
}

TEST(IkeSuite, ProposalsCarryTheSuiteAndAResponderChoosesIt) {
  const Suite s = *parse_suite("aes256-sha384-modp3072", "aes128-sha256-esn");
  const std::vector<Transform> ike = {{1, kEncrAesCbc, 256}, {2, kPrfHmacSha384, std::nullopt}, {3, kIntegHmacSha384_192, std::nullopt},
                                      {4, 15, std::nullopt}};
  EXPECT_EQ(ike_transforms(s), ike);
  const std::vector<Transform> esp = {{1, kEncrAesCbc, 128}, {3, kIntegHmacSha256_128, std::nullopt}, {5, 1, std::nullopt}};
  EXPECT_EQ(esp_transforms(s), esp);
  // A responder reorders as it likes.
  EXPECT_TRUE(same_transforms(ike, {ike[3], ike[1], ike[0], ike[2]}));
  EXPECT_FALSE(same_transforms(ike, {ike[0], ike[1], ike[2]}));
  // Among several offers, the one that holds every transform of ours, reduced to them.
  std::vector<Proposal> offered = {
      {1, 1, {}, {{1, kEncrAesGcm16, 256}, {2, 5, std::nullopt}, {4, 15, std::nullopt}}},
      {2, 1, {}, {{1, kEncrAesCbc, 128}, {1, kEncrAesCbc, 256}, {2, 5, std::nullopt}, {2, 6, std::nullopt}, {3, 12, std::nullopt},
                  {3, 13, std::nullopt}, {4, 14, std::nullopt}, {4, 15, std::nullopt}}},
  };
  auto chosen = choose_proposal(offered, 1, ike_transforms(s));
  ASSERT_TRUE(chosen.has_value());
  EXPECT_EQ(chosen->number, 2);
  EXPECT_TRUE(same_transforms(chosen->transforms, ike));
  // ESN: an offer of no-ESN only does not satisfy an ESN suite; one without an ESN transform
  // satisfies a no-ESN suite.
  const Bytes spi{1, 2, 3, 4};
  EXPECT_FALSE(choose_proposal({{1, 3, spi, {{1, kEncrAesCbc, 128}, {3, 12, std::nullopt}, {5, 0, std::nullopt}}}}, 3, esp).has_value());
  EXPECT_TRUE(choose_proposal({{1, 3, spi, {{1, kEncrAesCbc, 128}, {3, 12, std::nullopt}, {5, 0, std::nullopt}, {5, 1, std::nullopt}}}}, 3, esp)
                  .has_value());
  Suite no_esn = s;
  no_esn.esn = false;
  auto plain = choose_proposal({{1, 3, spi, {{1, kEncrAesCbc, 128}, {3, 12, std::nullopt}}}}, 3, esp_transforms(no_esn));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->transforms.size(), 2u);
  EXPECT_EQ(plain->spi, spi);
}

// ---- Key exchange for every group ----

TEST(IkeSuite, EveryGroupAgreesAndRefusesBadValues) {
  for (uint16_t group : {uint16_t{14}, uint16_t{15}, uint16_t{19}, uint16_t{20}, uint16_t{21}, uint16_t{31}}) {
    SCOPED_TRACE(group);
    auto a = KeyExchange::generate(group);
    auto b = KeyExchange::generate(group);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->public_value().size(), KeyExchange::public_size(group));
    auto ab = a->shared_secret(b->public_value());
    auto ba = b->shared_secret(a->public_value());
    ASSERT_TRUE(ab.ok() && ba.ok()) << (ab.ok() ? ba.error().message : ab.error().message);
    EXPECT_TRUE(constant_time_equal(ab->bytes(), ba->bytes()));
    EXPECT_FALSE(a->shared_secret(Bytes(KeyExchange::public_size(group) - 1, 7)).ok()) << "wrong length";
  }
  // MODP-3072: y = 1 and y = p - 1 are refused (RFC 7296 2.12 via OpenSSL's public key check).
  auto m = KeyExchange::generate(15);
  Bytes one(384, 0);
  one.back() = 1;
  EXPECT_FALSE(m->shared_secret(one).ok());
  EXPECT_EQ(m->shared_secret(m->public_value())->size(), 384u) << "g^ir is padded to the prime's length";
}

// ---- The Encrypted payload with AES-CBC and HMAC-SHA2 ----

TEST(IkeSuite, CbcEncryptedPayloadRoundTripsAndIsEncryptThenMac) {
  for (auto [bits, integ] : {std::pair<uint16_t, uint16_t>{128, kIntegHmacSha256_128}, {256, kIntegHmacSha384_192}, {256, kIntegHmacSha512_256}}) {
    SCOPED_TRACE(integ);
    const SkKey key(kEncrAesCbc, Secret(Bytes(bits / 8, 0x42)), integ, Secret(Bytes(integ_key_size(integ), 0x17)));
    const std::vector<Payload> inner = {{kIdi, false, encode_typed(3, text("site1@example.com"))}, {kNonce, false, Bytes(32, 9)}};
    const Bytes plain = serialize_payloads(inner);
    const Header h{0x1111, 0x2222, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0};
    const Bytes wire = seal(key, h, kIdi, plain, 7);
    const size_t icv = integ_icv_size(integ);
    // Header, SK header, 16-byte IV, whole blocks (payloads + padding + pad length), ICV.
    ASSERT_GT(wire.size(), kHeaderSize + 4 + 16 + icv);
    EXPECT_EQ((wire.size() - kHeaderSize - 4 - 16 - icv) % 16, 0u);
    EXPECT_GE(wire.size() - kHeaderSize - 4 - 16 - icv, plain.size() + 1);
    // The ICV is the truncated HMAC of everything before it, under SK_a.
    EXPECT_EQ(Bytes(wire.end() - static_cast<long>(icv), wire.end()),
              integ_icv(integ, key.integ_key().bytes(), std::span(wire).subspan(0, wire.size() - icv)));
    auto m = parse(wire);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->header.length, wire.size());
    auto out = open(key, *m, wire);
    ASSERT_TRUE(out.ok()) << out.error().message;
    ASSERT_EQ(out->size(), 2u);
    EXPECT_EQ((*out)[1].body, Bytes(32, 9));
    // Fresh random IVs: sealing twice gives different ciphertexts.
    EXPECT_NE(seal(key, h, kIdi, plain, 7), wire);
    for (size_t at : {size_t{20}, kHeaderSize + 4, kHeaderSize + 30, wire.size() - 1}) {  // header, IV, ciphertext, ICV
      Bytes bad = wire;
      bad[at] ^= 0x01;
      auto mb = parse(bad);
      if (!mb) continue;
      EXPECT_FALSE(open(key, *mb, bad).ok()) << "a flipped bit at " << at;
    }
    const SkKey other(kEncrAesCbc, Secret(Bytes(bits / 8, 0x42)), integ, Secret(Bytes(integ_key_size(integ), 0x18)));
    EXPECT_FALSE(open(other, *m, wire).ok()) << "another SK_a";
  }
  // A CBC key without its integrity key does not go out as a GCM message.
  EXPECT_TRUE(seal(Secret(Bytes(16, 1)), Header{}, kNoNext, {}, 1).empty());
}

}  // namespace
}  // namespace sedge::ike

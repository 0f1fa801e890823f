#include "ike/proposal.h"

#include <algorithm>
#include <vector>

namespace sedge::ike {
namespace {

// Every algorithm name sedge accepts, each algorithm's canonical spelling first.
struct Algorithm {
  std::string_view name;
  uint8_t type;  // kTransformEncr, kTransformPrf, kTransformInteg, kTransformDh, kTransformEsn
  uint16_t id;
  uint16_t bits;  // the AES key size
};
constexpr Algorithm kAlgorithms[] = {
    {"aes128", kTransformEncr, kEncrAesCbc, 128},
    {"aes192", kTransformEncr, kEncrAesCbc, 192},
    {"aes256", kTransformEncr, kEncrAesCbc, 256},
    {"aes128gcm16", kTransformEncr, kEncrAesGcm16, 128},
    {"aes192gcm16", kTransformEncr, kEncrAesGcm16, 192},
    {"aes256gcm16", kTransformEncr, kEncrAesGcm16, 256},
    {"aes128gcm128", kTransformEncr, kEncrAesGcm16, 128},  // strongSwan's other names (the ICV in bits)
    {"aes256gcm128", kTransformEncr, kEncrAesGcm16, 256},
    {"null", kTransformEncr, kEncrNull, 0},
    {"sha256", kTransformInteg, kIntegHmacSha256_128, 0},
    {"sha384", kTransformInteg, kIntegHmacSha384_192, 0},
    {"sha512", kTransformInteg, kIntegHmacSha512_256, 0},
    {"prfsha256", kTransformPrf, kPrfHmacSha256, 0},
    {"prfsha384", kTransformPrf, kPrfHmacSha384, 0},
    {"prfsha512", kTransformPrf, kPrfHmacSha512, 0},
    {"modp2048", kTransformDh, 14, 0},
    {"modp3072", kTransformDh, 15, 0},
    {"ecp256", kTransformDh, 19, 0},
    {"ecp384", kTransformDh, 20, 0},
    {"ecp521", kTransformDh, 21, 0},
    {"curve25519", kTransformDh, 31, 0},
    {"x25519", kTransformDh, 31, 0},
    {"esn", kTransformEsn, 1, 0},
    {"noesn", kTransformEsn, 0, 0},
};

constexpr std::string_view kIkeSupported =
    "aes128, aes192, aes256, aes128gcm16, aes192gcm16, aes256gcm16; sha256, sha384, sha512; prfsha256, prfsha384, prfsha512; "
    "modp2048, modp3072, ecp256, ecp384, ecp521, curve25519";
constexpr std::string_view kEspSupported =
    "aes128, aes192, aes256, aes128gcm16, aes192gcm16, aes256gcm16, null; sha256, sha384, sha512; esn, noesn; a PFS group";

const Algorithm* find(std::string_view name) {
  for (const auto& a : kAlgorithms) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string name_of(uint8_t type, uint16_t id, uint16_t bits = 0) {
  for (const auto& a : kAlgorithms) {
    if (a.type == type && a.id == id && a.bits == bits) return std::string(a.name);
  }
  return "?";
}

std::vector<std::string_view> tokens(std::string_view p) {
  std::vector<std::string_view> out;
  if (p.empty()) return out;
  for (size_t pos = 0; pos <= p.size();) {
    const size_t dash = std::min(p.find('-', pos), p.size());
    out.push_back(p.substr(pos, dash - pos));
    pos = dash + 1;
  }
  return out;
}

// An integrity algorithm's PRF of the same hash (strongSwan's rule when no prf is given).
uint16_t prf_for_integ(uint16_t integ) {
  return integ == kIntegHmacSha384_192 ? kPrfHmacSha384 : integ == kIntegHmacSha512_256 ? kPrfHmacSha512 : kPrfHmacSha256;
}

}  // namespace

Result<ProposalAlgorithms> parse_proposal(std::string_view text, ProposalKind kind) {
  const bool ike = kind == ProposalKind::ike;
  auto fail = [&](const std::string& why) {
    return Error{std::string(ike ? "IKE" : "ESP") + " proposal '" + std::string(text) + "': " + why, EINVAL};
  };
  const Algorithm* named[kTransformEsn + 1] = {};  // by transform type
  for (std::string_view t : tokens(text)) {
    const Algorithm* a = find(t);
    const std::string token(t);
    if (!a) {
      return fail("unknown or unsupported algorithm '" + token + "' (sedge's IKE engine does " +
                  std::string(ike ? kIkeSupported : kEspSupported) + ")");
    }
    if (ike && a->type == kTransformEncr && a->id == kEncrNull) return fail("NULL encryption is not allowed for IKE");
    if (ike && a->type == kTransformEsn) return fail("'" + token + "' applies to ESP only");
    if (!ike && a->type == kTransformPrf) return fail("a PRF ('" + token + "') applies to IKE only");
    const Algorithm*& slot = named[a->type];
    if (slot) {
      const std::string setting = a->type == kTransformEsn ? "one ESN setting" : "one algorithm of each kind";
      if (slot == a) return fail("sedge negotiates " + setting + ", not '" + token + "' twice");
      return fail("sedge negotiates " + setting + ", not both '" + std::string(slot->name) + "' and '" + token + "'");
    }
    slot = a;
  }
  const Algorithm* encr = named[kTransformEncr];
  const Algorithm* prf = named[kTransformPrf];
  const Algorithm* integ = named[kTransformInteg];
  const Algorithm* dh = named[kTransformDh];
  const Algorithm* esn = named[kTransformEsn];
  if (!encr) return fail("no encryption algorithm");
  ProposalAlgorithms out;
  out.encr = encr->id;
  out.key_bits = encr->bits;
  out.dh_group = dh ? dh->id : 0;
  if (ike) {
    if (!dh) return fail("no Diffie-Hellman group");
    if (out.aead()) {
      if (integ) return fail("AES-GCM takes no integrity algorithm ('" + std::string(integ->name) + "'); use a prf");
      if (!prf) return fail("AES-GCM needs a PRF (e.g. prfsha256)");
      out.prf = prf->id;
    } else {
      if (!integ) return fail("AES-CBC needs an integrity algorithm (e.g. sha256)");
      out.integ = integ->id;
      out.prf = prf ? prf->id : prf_for_integ(integ->id);
    }
    return out;
  }
  out.esn = esn && esn->id == 1;
  if (out.aead()) {
    if (integ) return fail("AES-GCM takes no integrity algorithm ('" + std::string(integ->name) + "')");
  } else {
    if (!integ) {
      return fail(std::string(out.encr == kEncrNull ? "NULL encryption" : "AES-CBC") + " needs an integrity algorithm (e.g. sha256)");
    }
    out.integ = integ->id;
  }
  return out;
}

std::string proposal_name(const ProposalAlgorithms& p, ProposalKind kind) {
  std::string s = name_of(kTransformEncr, p.encr, p.key_bits);
  if (!p.aead()) s += "-" + name_of(kTransformInteg, p.integ);
  if (kind == ProposalKind::ike) return s + "-" + name_of(kTransformPrf, p.prf) + "-" + name_of(kTransformDh, p.dh_group);
  if (p.dh_group) s += "-" + name_of(kTransformDh, p.dh_group);
  return s + (p.esn ? "-esn" : "");
}

}  // namespace sedge::ike

// strongSwan-style proposals ("aes256-sha384-modp3072", "aes128gcm16-modp2048"): the one parser
// of their grammar and the one table of the algorithm names sedge implements. The IKE engine's
// suites (ike::parse_suite, ike::parse_pfs_group) and the configuration's checks of IkeProposal=
// and EspProposal= all read proposals here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "ike/protocol.h"

namespace sedge::ike {

enum class ProposalKind : uint8_t { ike, esp };

// One proposal's algorithms, one of each kind, as IANA transform IDs (ike/protocol.h).
struct ProposalAlgorithms {
  uint16_t encr = 0;            // kEncrAesCbc, kEncrAesGcm16, or kEncrNull (ESP only)
  uint16_t key_bits = 0;        // the AES key size; 0 with ENCR_NULL
  uint16_t integ = kIntegNone;  // none with AES-GCM
  uint16_t prf = 0;             // IKE: as named, else the integrity algorithm's hash (strongSwan's rule); ESP: 0
  uint16_t dh_group = 0;        // IKE: the key exchange; ESP: the PFS group of rekeys, 0 without one
  bool esn = false;             // ESP: "esn" named ("noesn" or neither: no ESN)
  bool aead() const { return encr == kEncrAesGcm16; }
};

// Reads and checks one proposal: dash-separated tokens sedge knows, at most one algorithm of
// each kind (and one ESN setting), and what each kind needs - IKE: encryption (not NULL), a DH
// group, AES-GCM with a PRF and no integrity algorithm, AES-CBC with one, no ESN; ESP:
// encryption, an integrity algorithm unless AES-GCM, no PRF (a DH group is the PFS group).
// Errors read "IKE proposal '<text>': <why>", naming the token at fault.
Result<ProposalAlgorithms> parse_proposal(std::string_view text, ProposalKind kind);

// The proposal in its canonical spelling: IKE "aes256-sha384-prfsha384-modp3072"
// (encryption[-integrity]-prf-group), ESP "aes128-sha256-esn" (encryption[-integrity][-group][-esn]).
// A number without a name is written "?".
std::string proposal_name(const ProposalAlgorithms& algorithms, ProposalKind kind);

}  // namespace sedge::ike

// Fuzzes what certificate authentication reads from a peer: the input is a first-payload type
// then a chain of payloads, the inside of an IKE_AUTH SK payload (ID, CERT, AUTH, notifies).
// Every CERT payload's certificate is parsed, named and matched against the ID; every AUTH is
// checked against the first certificate's key (RFC 7427 AlgorithmIdentifiers, PSS parameters,
// RFC 4754 and DER ECDSA signatures); the whole check (verify_peer_auth) runs with the input's
// last certificate as the only trusted CA, so chains, ID matching and the signature are reached.
// Anything must be refused or pass, never crash.
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ike/auth.h"
#include "ike/certs.h"

namespace {

using namespace sedge::ike;

std::vector<Certificate> certificates(const std::vector<Payload>& payloads) {
  std::vector<Certificate> out;
  for (const auto& p : payloads) {
    if (p.type != kCert || p.body.empty()) continue;
    auto c = Certificate::from_der(std::span(p.body).subspan(1));
    if (!c) continue;
    (void)c->subject();
    (void)c->issuer();
    (void)c->subject_der();
    out.push_back(std::move(*c));
  }
  return out;
}

Bytes id_body(const std::vector<Payload>& payloads) {
  for (const auto& p : payloads) {
    if ((p.type == kIdi || p.type == kIdr) && p.body.size() >= 4) return p.body;
  }
  return {kIdFqdn, 0, 0, 0, 'p', 'o', 'p'};
}

void check_whole(const std::vector<Payload>& payloads, const std::vector<Certificate>& certs,
                 std::span<const uint8_t> id) {
  auto trust = TrustStore::from_certificates({certs.back()});
  if (!trust) return;
  auto pubkey = std::make_shared<PubkeyAuth>();
  pubkey->trust = std::move(*trust);
  TunnelSpec tunnel;
  tunnel.pubkey = pubkey;
  const Bytes message(64, 0x11), nonce(32, 0x22);
  const PrfKey sk_p(sedge::Secret(Bytes(32, 0x33)));
  (void)verify_peer_auth(tunnel, payloads, message, nonce, sk_p, id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto payloads = parse_payloads(data[0], std::span<const uint8_t>(data + 1, size - 1));
  if (!payloads.ok()) return 0;
  (void)peer_signature_hashes(*payloads);
  const Bytes id = id_body(*payloads);
  (void)describe_id(id);
  const auto certs = certificates(*payloads);
  if (certs.empty()) return 0;
  const Bytes octets(96, 0x44);
  for (const auto& c : certs) (void)id_matches_certificate(c, id[0], std::span(id).subspan(4));
  for (const auto& p : *payloads) {
    if (p.type == kAuth) (void)verify_auth(X509_get0_pubkey(certs.front().get()), p.body, octets);
  }
  check_whole(*payloads, certs, id);
  return 0;
}

// Fuzzes the Encrypted payload's checks: any datagram, opened with fixed AES-GCM-16 and AES-CBC
// + HMAC-SHA2 keys, must be refused or decrypted, never crash or read out of bounds. The first
// byte picks the key; the corpus (corpus-sk) holds a message sealed under each key.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ike/crypto.h"
#include "ike/message.h"

namespace {

using namespace sedge;
using namespace sedge::ike;

const std::vector<SkKey>& keys() {
  static const std::vector<SkKey> k = [] {
    std::vector<SkKey> v;
    v.emplace_back(kEncrAesGcm16, Secret(Bytes(20, 0x42)), kIntegNone, Secret());
    v.emplace_back(kEncrAesGcm16, Secret(Bytes(36, 0x42)), kIntegNone, Secret());
    v.emplace_back(kEncrAesCbc, Secret(Bytes(16, 0x42)), kIntegHmacSha256_128, Secret(Bytes(32, 0x17)));
    v.emplace_back(kEncrAesCbc, Secret(Bytes(32, 0x42)), kIntegHmacSha384_192, Secret(Bytes(48, 0x17)));
    v.emplace_back(kEncrAesCbc, Secret(Bytes(32, 0x42)), kIntegHmacSha512_256, Secret(Bytes(64, 0x17)));
    return v;
  }();
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const SkKey& key = keys()[data[0] % keys().size()];
  const std::span<const uint8_t> wire(data + 1, size - 1);
  auto m = parse(wire);
  if (!m.ok()) return 0;
  auto inner = open(key, *m, wire);
  if (inner.ok()) (void)serialize_payloads(*inner);
  return 0;
}

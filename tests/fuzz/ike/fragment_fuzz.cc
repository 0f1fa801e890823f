// Fuzzes the reassembly of IKE fragments (RFC 7383): the input is a key choice (AES-GCM-16 or
// AES-CBC + HMAC-SHA2, fixed keys) then datagrams, each a 2-byte length and the bytes, fed one a
// second apart to one Reassembler with small caps. Anything must be dropped, kept or
// reassembled, never crash, and what is kept must stay within the caps. The corpus
// (corpus-fragment) holds genuine fragment sequences under each key, in and out of order.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "ike/fragment.h"

namespace {

using namespace sedge;
using namespace sedge::ike;

const SkKey& key(uint8_t choice) {
  static const SkKey gcm(kEncrAesGcm16, Secret(Bytes(20, 0x42)), kIntegNone, Secret());
  static const SkKey cbc(kEncrAesCbc, Secret(Bytes(32, 0x42)), kIntegHmacSha384_192,
                         Secret(Bytes(48, 0x17)));
  return choice & 1 ? cbc : gcm;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ReassemblyLimits limits{8, 4096, 2, std::chrono::seconds(3)};
  Reassembler r(limits);
  const SkKey& k = key(data[0]);
  const auto t0 = Reassembler::Clock::now();
  size_t at = 1;
  for (int i = 0; at + 2 <= size; ++i) {
    const size_t len = static_cast<size_t>(data[at] << 8 | data[at + 1]);
    at += 2;
    if (len > size - at) break;
    const std::span<const uint8_t> wire(data + at, len);
    at += len;
    auto m = parse(wire);
    if (!m) continue;
    auto got = r.open(k, *m, wire, t0 + std::chrono::seconds(i));
    if (got) (void)serialize_payloads(*got);
    if (r.pending() > limits.max_messages ||
        r.pending_bytes() > limits.max_messages * limits.max_bytes)
      std::abort();
  }
  return 0;
}

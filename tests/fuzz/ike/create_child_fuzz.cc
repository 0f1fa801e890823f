// Fuzzes the CREATE_CHILD_SA payload decoder and the Delete payload: the input is a first-payload
// type then a chain of payloads (the inside of an SK payload). Anything must decode or be
// refused, never crash; what decodes must encode into something that decodes again the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "ike/rekey.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sedge::ike;
  if (size < 1) return 0;
  auto payloads = parse_payloads(data[0], std::span<const uint8_t>(data + 1, size - 1));
  if (!payloads.ok()) return 0;
  for (const auto& p : *payloads) {
    if (p.type != kDelete) continue;
    auto d = decode_delete(p.body);
    if (d.ok() && decode_delete(encode_delete(*d))->spis != d->spis) std::abort();
  }
  auto m = decode_create_child(*payloads);
  if (!m.ok() || m->error) return 0;
  auto again = decode_create_child(encode_create_child(*m));
  if (!again.ok() || again->nonce != m->nonce || again->rekey_spi != m->rekey_spi || again->ke_value != m->ke_value ||
      again->proposals.size() != m->proposals.size()) {
    std::abort();
  }
  return 0;
}

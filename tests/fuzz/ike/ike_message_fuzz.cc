// Fuzzes the IKEv2 message codec: any datagram must parse or be refused, never crash.
#include <cstddef>
#include <cstdint>

#include "ike/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sedge::ike;
  auto m = parse(std::span<const uint8_t>(data, size));
  if (m.ok()) {
    for (const auto& p : m->payloads) {
      if (p.type == kSa) (void)decode_sa(p.body);
      if (p.type == kNotify) (void)decode_notify(p.body);
      if (p.type == kTsi || p.type == kTsr) (void)decode_ts(p.body);
    }
    (void)serialize(m->header, m->payloads);
  }
  return 0;
}

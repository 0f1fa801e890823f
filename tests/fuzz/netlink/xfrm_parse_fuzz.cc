// Fuzzes the parsers of kernel XFRM messages (replies and multicast events): whatever the
// bytes, they return a value or an error, never crash or read out of bounds.
#include <cstdint>
#include <cstring>
#include <vector>

#include "netlink/xfrm_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Netlink buffers are aligned: so is this copy (the kernel never hands out odd addresses).
  std::vector<uint64_t> aligned((size + 7) / 8);
  if (size) std::memcpy(aligned.data(), data, size);
  std::span<const uint8_t> message(reinterpret_cast<const uint8_t*>(aligned.data()), size);
  using namespace sedge::netlink;
  if (auto sa = parse_sa(message)) (void)describe(sa->sa.id());
  if (auto policy = parse_policy(message)) (void)describe(policy->id());
  (void)parse_alloc_spi_reply(message);
  (void)parse_event(message);
  return 0;
}

#include "common/bytes.h"

namespace sedge {

uint16_t get16(std::span<const uint8_t> d, size_t at) { return static_cast<uint16_t>(d[at] << 8 | d[at + 1]); }
uint32_t get32(std::span<const uint8_t> d, size_t at) {
  return static_cast<uint32_t>(d[at]) << 24 | static_cast<uint32_t>(d[at + 1]) << 16 | static_cast<uint32_t>(d[at + 2]) << 8 | d[at + 3];
}
uint64_t get64(std::span<const uint8_t> d, size_t at) { return static_cast<uint64_t>(get32(d, at)) << 32 | get32(d, at + 4); }

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
  put32(b, static_cast<uint32_t>(v >> 32));
  put32(b, static_cast<uint32_t>(v));
}

}  // namespace sedge

// Big-endian (network order) integers in byte strings, as IKE, TPM 2.0 structures and WebSocket
// frames carry them: the one set of readers and writers every layer uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sedge {

// The field at byte `at`; the caller has checked that it is there.
uint16_t get16(std::span<const uint8_t> d, size_t at);
uint32_t get32(std::span<const uint8_t> d, size_t at);
uint64_t get64(std::span<const uint8_t> d, size_t at);
// Appends the field.
void put16(std::vector<uint8_t>& b, uint16_t v);
void put32(std::vector<uint8_t>& b, uint32_t v);
void put64(std::vector<uint8_t>& b, uint64_t v);

}  // namespace sedge

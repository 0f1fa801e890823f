// Lower-case hexadecimal, as pins, key hashes and TPM names are written.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sedge {

std::string to_hex(std::span<const uint8_t> data);
// A 32-bit value as "0x%08x" (SPIs, handles, marks) and a 64-bit one as 16 digits (IKE SPIs, as
// strongSwan writes them).
std::string hex32(uint32_t v);
std::string hex64(uint64_t v);
// Either case; an odd length or a non-hex character is an error.
Result<std::vector<uint8_t>> from_hex(std::string_view hex);

}  // namespace sedge

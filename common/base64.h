// Base64 (RFC 4648 section 4) and its URL-safe form without padding (section 5), strict on
// input: whitespace, stray characters and bad padding are errors, not skipped.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sedge {

std::string base64_encode(std::span<const uint8_t> data);
Result<std::vector<uint8_t>> base64_decode(std::string_view text);

std::string base64url_encode(std::span<const uint8_t> data);
Result<std::vector<uint8_t>> base64url_decode(std::string_view text);

}  // namespace sedge

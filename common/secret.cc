#include "common/secret.h"

#include <openssl/crypto.h>

namespace sedge {

Secret::Secret(std::span<const uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}

Secret::Secret(std::string_view text)
    : bytes_(reinterpret_cast<const uint8_t*>(text.data()),
             reinterpret_cast<const uint8_t*>(text.data()) + text.size()) {}

Secret::Secret(size_t size) : bytes_(size, 0) {}

Secret::~Secret() { wipe(); }

Secret::Secret(Secret&& other) noexcept : bytes_(std::move(other.bytes_)) { other.wipe(); }

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.wipe();
  }
  return *this;
}

void Secret::wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sedge

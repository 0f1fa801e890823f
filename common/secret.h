// Secret bytes (PSKs, keys, tokens): zeroised when freed, never printable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sedge {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::span<const uint8_t> bytes);
  explicit Secret(std::string_view text);
  explicit Secret(size_t size);  // zero-filled, to be written through mutable_bytes()
  ~Secret();

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  // Copies are explicit (clone) so that a secret is never duplicated by accident.
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret clone() const { return Secret(bytes()); }

  std::span<const uint8_t> bytes() const { return bytes_; }
  std::span<uint8_t> mutable_bytes() { return bytes_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  void wipe();

  // What logs and --check-config print in its place.
  static constexpr std::string_view kMasked = "(secret)";

 private:
  std::vector<uint8_t> bytes_;
};

// Constant-time comparison, for MACs and tokens.
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace sedge

// A netlink request as bytes, plus the words that name it in errors. Built by the pure
// functions of xfrm_messages.h; sent by NetlinkSocket (socket.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sedge::netlink {

class Request {
 public:
  // Derives the words from the bytes, only when an error needs them (batches of thousands of
  // requests mostly succeed: no string is built for those).
  using Describer = std::string (*)(std::span<const uint8_t> bytes);

  Request() = default;
  Request(std::vector<uint8_t> bytes, std::string what)
      : bytes_(std::move(bytes)), what_(std::move(what)) {}
  Request(std::vector<uint8_t> bytes, Describer describer)
      : bytes_(std::move(bytes)), describer_(describer) {}
  ~Request();  // wipes the bytes: SA requests carry keys
  Request(Request&& other) noexcept;
  Request& operator=(Request&& other) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // A complete netlink message (struct nlmsghdr first); the sender sets nlmsg_seq/pid.
  std::span<const uint8_t> bytes() const { return bytes_; }
  std::span<uint8_t> mutable_bytes() { return bytes_; }
  // "adding SA spi 0xc1a2b3c4 10.0.0.1->10.0.0.2": prefixed to the kernel's error.
  std::string what() const { return describer_ ? describer_(bytes_) : what_; }

 private:
  void wipe();
  std::vector<uint8_t> bytes_;
  std::string what_;
  Describer describer_ = nullptr;
};

}  // namespace sedge::netlink

#include "netlink/request.h"

#include <openssl/crypto.h>

namespace sedge::netlink {

Request::~Request() { wipe(); }

Request::Request(Request&& other) noexcept
    : bytes_(std::move(other.bytes_)), what_(std::move(other.what_)), describer_(other.describer_) {
  other.bytes_.clear();
}

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    what_ = std::move(other.what_);
    describer_ = other.describer_;
    other.bytes_.clear();
  }
  return *this;
}

void Request::wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

}  // namespace sedge::netlink

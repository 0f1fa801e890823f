// Errors as values: every fallible call across a layer boundary returns Result<T>.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace sedge {

// What went wrong, where, and (when known) the errno that caused it. The message is written
// for the operator: it names the object (file:line, peer, netlink request) and what to do.
struct Error {
  std::string message;
  int code = 0;  // errno value, or 0 when the failure is not a system error

  static Error sys(std::string what, int err = errno) { return Error{std::move(what), err}; }
  // Prefixes context as the error travels up: "loading tunnel x: " + inner message.
  Error context(const std::string& where) const { return Error{where + ": " + message, code}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace sedge

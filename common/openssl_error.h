// OpenSSL's error queue as an Error value: the operator sees what OpenSSL said, after what we
// were doing. Header-only so that only the layers that already link libcrypto use it.
#pragma once

#include <openssl/err.h>

#include <string>

#include "common/result.h"

namespace sedge {

inline Error openssl_error(const std::string& what) {
  std::string detail;
  char line[256];
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    ERR_error_string_n(e, line, sizeof line);
    detail += detail.empty() ? "" : "; ";
    detail += line;
  }
  return Error{detail.empty() ? what : what + ": " + detail};
}

}  // namespace sedge

#include "common/base64.h"

#include <openssl/evp.h>

namespace sedge {

std::string base64_encode(std::span<const uint8_t> data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return Error{"base64: length is not a multiple of 4", EBADMSG};
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=' && i + 2 >= text.size()) ++pad;
    else if (!alnum || pad > 0) return Error{"base64: invalid character at offset " + std::to_string(i), EBADMSG};
  }
  std::vector<uint8_t> out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Error{"base64: cannot decode", EBADMSG};
  out.resize(static_cast<size_t>(n) - pad);
  // Canonical only: unused bits must be zero, so that each byte string has one spelling.
  if (base64_encode(out) != text) return Error{"base64: not the canonical encoding", EBADMSG};
  return out;
}

std::string base64url_encode(std::span<const uint8_t> data) {
  std::string out = base64_encode(data);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

Result<std::vector<uint8_t>> base64url_decode(std::string_view text) {
  std::string padded(text);
  for (char& c : padded) {
    if (c == '+' || c == '/' || c == '=') return Error{"base64url: invalid character", EBADMSG};
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  if (padded.size() % 4 == 1) return Error{"base64url: impossible length", EBADMSG};
  padded.append((4 - padded.size() % 4) % 4, '=');
  return base64_decode(padded);
}

}  // namespace sedge

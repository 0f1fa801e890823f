// Wireshark's decryption tables, written as SAs come up: ikev2_decryption_table (IKE SA keys) and
// esp_sa (ESP keys), the files Wireshark's IKEv2 and ESP dissectors read (the format strongSwan's
// save-keys plugin writes too). For debugging a tunnel from a capture. Every key written defeats
// that SA's secrecy: it is off by default (KeyLogDirectory= in [Agent]) and opening it logs a
// loud warning.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "ike/crypto.h"

namespace sedge::ike {

class KeyLog {
 public:
  static Result<std::unique_ptr<KeyLog>> open(const std::string& directory);
  ~KeyLog();
  KeyLog(const KeyLog&) = delete;
  KeyLog& operator=(const KeyLog&) = delete;

  Status ike_sa(uint64_t spi_i, uint64_t spi_r, const IkeKeys& keys);
  // One direction of a CHILD_SA: packets from src to dst carry `spi`.
  Status esp_sa(const std::string& src, const std::string& dst, uint32_t spi, const Suite& suite, const Secret& key,
                const Secret& integ_key);

  // The lines themselves (what the tests compare).
  static std::string ike_line(uint64_t spi_i, uint64_t spi_r, const IkeKeys& keys);
  static std::string esp_line(const std::string& src, const std::string& dst, uint32_t spi, const Suite& suite,
                              const Secret& key, const Secret& integ_key);

 private:
  KeyLog(int ike_fd, int esp_fd) : ike_fd_(ike_fd), esp_fd_(esp_fd) {}
  int ike_fd_, esp_fd_;
};

}  // namespace sedge::ike

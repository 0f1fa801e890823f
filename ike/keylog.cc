#include "ike/keylog.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "common/hex.h"
#include "common/log.h"

namespace sedge::ike {
namespace {

std::string hex(const Secret& s) { return to_hex(s.bytes()); }

// Wireshark's names for the IKEv2 table (its UAT choices).
std::string ike_encr_name(const SkKey& k) {
  if (k.encr() == kEncrAesGcm16) return "AES-GCM-" + std::to_string((k.size() - 4) * 8) + " with 16 octet ICV [RFC5282]";
  if (k.encr() == kEncrAesCbc) return "AES-CBC-" + std::to_string(k.size() * 8) + " [RFC3602]";
  return "NULL [RFC2410]";
}

std::string ike_integ_name(uint16_t integ) {
  switch (integ) {
    case kIntegHmacSha256_128: return "HMAC_SHA2_256_128 [RFC4868]";
    case kIntegHmacSha384_192: return "HMAC_SHA2_384_192 [RFC4868]";
    case kIntegHmacSha512_256: return "HMAC_SHA2_512_256 [RFC4868]";
    default: return "NONE [RFC4306]";
  }
}

std::string esp_encr_name(uint16_t encr) {
  if (encr == kEncrAesGcm16) return "AES-GCM [RFC4106]";
  if (encr == kEncrAesCbc) return "AES-CBC [RFC3602]";
  return "NULL";
}

std::string esp_integ_name(const Suite& suite) {
  if (suite.esp_aead()) return "NULL";  // Wireshark takes AES-GCM with NULL authentication (the ICV is part of GCM)
  switch (suite.esp_integ) {
    case kIntegHmacSha256_128: return "HMAC-SHA-256-128 [RFC4868]";
    case kIntegHmacSha384_192: return "HMAC-SHA-384-192 [RFC4868]";
    case kIntegHmacSha512_256: return "HMAC-SHA-512-256 [RFC4868]";
    default: return "NULL";
  }
}

Status append(int fd, const std::string& line, const char* what) {
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return Error::sys(std::string("writing ") + what);
  return {};
}

}  // namespace

Result<std::unique_ptr<KeyLog>> KeyLog::open(const std::string& directory) {
  const std::string ike = directory + "/ikev2_decryption_table", esp = directory + "/esp_sa";
  int ike_fd = ::open(ike.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (ike_fd < 0) return Error::sys("opening " + ike);
  int esp_fd = ::open(esp.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (esp_fd < 0) {
    ::close(ike_fd);
    return Error::sys("opening " + esp);
  }
  log::warning("!! WARNING: WRITING IKE AND ESP KEYS TO " + directory +
               " (KeyLogDirectory=): anyone who reads them can decrypt these tunnels; for debugging only");
  return std::unique_ptr<KeyLog>(new KeyLog(ike_fd, esp_fd));
}

KeyLog::~KeyLog() {
  ::close(ike_fd_);
  ::close(esp_fd_);
}

std::string KeyLog::ike_line(uint64_t spi_i, uint64_t spi_r, const IkeKeys& k) {
  return hex64(spi_i) + "," + hex64(spi_r) + "," + hex(k.sk_ei) + "," + hex(k.sk_er) + ",\"" + ike_encr_name(k.sk_ei) + "\"," +
         hex(k.sk_ei.integ_key()) + "," + hex(k.sk_er.integ_key()) + ",\"" + ike_integ_name(k.sk_ei.integ()) + "\"\n";
}

std::string KeyLog::esp_line(const std::string& src, const std::string& dst, uint32_t spi, const Suite& suite,
                             const Secret& key, const Secret& integ_key) {
  const char* family = src.find(':') == std::string::npos ? "IPv4" : "IPv6";
  return "\"" + std::string(family) + "\",\"" + src + "\",\"" + dst + "\",\"" + hex32(spi) + "\",\"" +
         esp_encr_name(suite.esp_encr) + "\",\"0x" + hex(key) + "\",\"" + esp_integ_name(suite) + "\",\"0x" +
         hex(integ_key) + "\"\n";
}

Status KeyLog::ike_sa(uint64_t spi_i, uint64_t spi_r, const IkeKeys& keys) {
  return append(ike_fd_, ike_line(spi_i, spi_r, keys), "ikev2_decryption_table");
}

Status KeyLog::esp_sa(const std::string& src, const std::string& dst, uint32_t spi, const Suite& suite,
                      const Secret& key, const Secret& integ_key) {
  return append(esp_fd_, esp_line(src, dst, spi, suite, key, integ_key), "esp_sa");
}

}  // namespace sedge::ike

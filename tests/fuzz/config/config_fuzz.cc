// Fuzzes the configuration parser and loader with arbitrary file contents: any input must
// yield a config or an error, never a crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto loaded = sedge::config::load_text("fuzz.conf", text, sedge::config::Sources::single_directory("/nonexistent"));
  if (loaded.ok()) (void)sedge::config::format_effective(loaded->config);
  return 0;
}

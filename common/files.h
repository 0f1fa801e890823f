// Whole-file reads and crash-safe writes (temporary file, fsync, rename): state files that a
// power cut must leave either old or new, never half written.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace sedge {

Result<std::string> read_fd(int fd);  // to its end, e.g. standard input
Result<std::string> read_file(const std::string& path);
Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode);

}  // namespace sedge

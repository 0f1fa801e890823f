#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sedge {

Result<std::string> read_fd(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return out;
    } else if (errno != EINTR) {
      return Error::sys(std::string("read: ") + std::strerror(errno));
    }
  }
}

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::sys("cannot read " + path + ": " + std::strerror(errno));
  auto out = read_fd(fd);
  ::close(fd);
  if (!out) return out.error().context("cannot read " + path);
  return out;
}

Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return Error::sys("creating " + tmp);
  ::fchmod(fd, static_cast<mode_t>(mode));  // O_CREAT does not change an existing file's mode
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error::sys("writing " + tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Error::sys("writing " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::sys("renaming " + tmp + " to " + path);
  return {};
}

}  // namespace sedge

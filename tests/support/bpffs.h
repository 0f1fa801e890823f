// A private bpffs instance for tests and benchmarks: pins go there, never under /sys/fs/bpf.
#pragma once

#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <string>

namespace sedge::testing {

class PrivateBpffs {
 public:
  PrivateBpffs() {
    char tmpl[] = "/tmp/sedge-bpffs.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    if (mount("bpf", tmpl, "bpf", 0, nullptr) == 0) {
      dir_ = tmpl;
    } else {
      rmdir(tmpl);
    }
  }
  ~PrivateBpffs() {
    if (dir_.empty()) return;
    umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }
  PrivateBpffs(const PrivateBpffs&) = delete;
  PrivateBpffs& operator=(const PrivateBpffs&) = delete;

  bool ok() const { return !dir_.empty(); }
  std::string pin_dir() const { return dir_ + "/sedge"; }

 private:
  std::string dir_;
};

}  // namespace sedge::testing

// Netns tests run in a network namespace of their own, entered once per process.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sedge::testing {

// Moves this process into a fresh network namespace with lo up; returns why not (the reason a
// test skips with), or "" when it is in.
inline std::string enter_network_namespace() {
  if (geteuid() != 0) return "needs root (a network namespace, CAP_NET_ADMIN)";
  if (unshare(CLONE_NEWNET) != 0)
    return std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
  if (std::system("ip link set lo up") != 0) return "could not bring lo up";
  return "";
}

}  // namespace sedge::testing

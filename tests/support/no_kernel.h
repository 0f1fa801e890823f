// An IKE peer's kernel that installs nothing: SPIs handed out upwards from `first`, every
// installation accepted. For the responders of tests and benchmarks whose kernel is not looked at.
#pragma once

#include <cstdint>

#include "ike/child_sa.h"

namespace sedge::testing {

class NoKernel final : public ike::ChildSaHandler {
 public:
  explicit NoKernel(uint32_t first) : next_spi_(first) {}
  Result<uint32_t> allocate_spi(const ike::ChildSa&) override { return next_spi_++; }
  Status install_inbound(const ike::ChildSa&) override { return {}; }
  Status install_outbound(const ike::ChildSa&) override { return {}; }
  Status install_policies(const ike::ChildSa&) override { return {}; }
  void remove_policies(const ike::ChildSa&) override {}
  void remove(const ike::ChildSa&) override {}

 private:
  uint32_t next_spi_;
};

}  // namespace sedge::testing

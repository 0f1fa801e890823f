#include "agent/daemon/check.h"

#include <iostream>

namespace sedge::agent {

int check_config(const config::Sources& sources, CheckMode mode) {
  auto loaded = config::load(sources);
  if (!loaded) {
    std::cerr << "sedged: " << loaded.error().message << "\n";
    return 1;
  }
  for (const auto& d : loaded->diagnostics) std::cerr << d.str() << "\n";
  std::cout << config::format_effective(loaded->config);
  if (!loaded->has_errors()) return 0;
  if (mode == CheckMode::startable) {
    std::cerr << "sedged: the objects above with errors are left out; the rest starts\n";
    return 0;
  }
  return 1;
}

}  // namespace sedge::agent

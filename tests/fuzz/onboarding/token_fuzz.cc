// Fuzzes the onboarding token parser: the compact form (split, base64url, length limit, then the
// signature), the router's unverified read of it, and the claims JSON on its own. Nothing the fuzzer makes can carry a valid
// signature, so verify_token must never accept; parse_claims may, and then its claims must be
// ones issue_token accepts too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "onboarding/conductor/token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sedge::conductor;
  static const auto key = Ed25519Key::generate();
  if (!key.ok()) std::abort();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto verified = verify_token(text, key.value(), 1'760'000'000);
  if (verified.ok()) std::abort();
  if (verified.error().code != kTokenMalformed && verified.error().code != kTokenBadSignature) std::abort();

  // The router's unverified read accepts exactly what verification would parse, minus the
  // signature; on fuzzed input it may succeed, and its claims must then re-issue.
  auto unverified = read_claims_unverified(text);
  if (unverified.ok() && !issue_token(*unverified, key.value()).ok()) std::abort();

  auto claims = parse_claims(text);
  if (claims.ok()) {
    auto token = issue_token(*claims, key.value());
    if (!token.ok()) std::abort();
    auto back = verify_token(*token, key.value(), claims->iat);
    if (!back.ok() || !(*back == *claims)) std::abort();
  }
  return 0;
}

// Fuzzes the attestation parsers that read what a router (or anyone on port 930) sends the
// conductor: TPM2B_PUBLIC, TPMS_ATTEST (quote and certify), TPMT_SIGNATURE and the credential file.
// Any input must parse or be refused, never crash; a public area that parses must marshal back to
// the same bytes, and its key (if any) must load or be refused.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <openssl/evp.h>

#include "onboarding/credential.h"
#include "onboarding/quote.h"
#include "onboarding/tpm_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sedge::onboarding;
  const ByteView in(data, size);
  if (auto p = parse_public(in); p.ok()) {
    const Bytes again = marshal_public(*p);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
    (void)object_name(*p);
    (void)check_ak_attributes(*p);
    (void)check_idevid_attributes(*p);
    (void)public_key(*p);
  }
  if (auto a = parse_attest(in); a.ok()) (void)pcr_select_bits(a->pcr_select.empty() ? PcrSelection{} : a->pcr_select[0]);
  if (auto c = parse_certify(in); c.ok() && c->name.empty())
    std::abort();  // a certify names its object
  (void)parse_signature(in);
  (void)parse_credential_file(in);
  return 0;
}

#include "onboarding/tpm.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstring>

namespace sedge::onboarding {
namespace {

Error tpm_error(const std::string& what, TSS2_RC rc) {
  return Error{what + ": " + Tss2_RC_Decode(rc), EIO};
}

// TCG EK Credential Profile: the authPolicy of the standard EK templates (PolicySecret with
// TPM_RH_ENDORSEMENT), SHA-256.
constexpr uint8_t kEkPolicy[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
                                   0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
                                   0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

TPM2B_PUBLIC ek_rsa_template() {
  TPM2B_PUBLIC t{};
  t.publicArea.type = TPM2_ALG_RSA;
  t.publicArea.nameAlg = TPM2_ALG_SHA256;
  t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                  TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  t.publicArea.authPolicy.size = sizeof kEkPolicy;
  std::memcpy(t.publicArea.authPolicy.buffer, kEkPolicy, sizeof kEkPolicy);
  auto& rsa = t.publicArea.parameters.rsaDetail;
  rsa.symmetric.algorithm = TPM2_ALG_AES;
  rsa.symmetric.keyBits.aes = 128;
  rsa.symmetric.mode.aes = TPM2_ALG_CFB;
  rsa.scheme.scheme = TPM2_ALG_NULL;
  rsa.keyBits = 2048;
  rsa.exponent = 0;
  t.publicArea.unique.rsa.size = 256;  // 256 zero bytes, as the template requires
  return t;
}

}  // namespace

struct Tpm::Impl {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  ESYS_CONTEXT* esys = nullptr;
  ~Impl() {
    if (esys) Esys_Finalize(&esys);
    if (tcti) Tss2_TctiLdr_Finalize(&tcti);
  }
};

Result<std::unique_ptr<Tpm>> Tpm::open(const std::string& tcti) {
  std::unique_ptr<Tpm> t(new Tpm());
  t->impl_ = std::make_unique<Impl>();
  if (TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &t->impl_->tcti); rc != TSS2_RC_SUCCESS) {
    return tpm_error("opening the TPM through TCTI '" + tcti + "'", rc);
  }
  if (TSS2_RC rc = Esys_Initialize(&t->impl_->esys, t->impl_->tcti, nullptr); rc != TSS2_RC_SUCCESS) {
    return tpm_error("initialising ESAPI", rc);
  }
  return t;
}

Tpm::~Tpm() = default;

Result<Bytes> Tpm::read_nv(uint32_t index) {
  ESYS_TR nv = ESYS_TR_NONE;
  if (TSS2_RC rc = Esys_TR_FromTPMPublic(impl_->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv); rc != TSS2_RC_SUCCESS) {
    return tpm_error("no NV index 0x" + std::to_string(index), rc);
  }
  TPM2B_NV_PUBLIC* pub = nullptr;
  if (TSS2_RC rc = Esys_NV_ReadPublic(impl_->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, nullptr); rc != TSS2_RC_SUCCESS) {
    return tpm_error("reading the NV index's public area", rc);
  }
  const uint16_t size = pub->nvPublic.dataSize;
  Esys_Free(pub);
  Bytes out;
  constexpr uint16_t kChunk = 512;  // below every TPM's TPM2_PT_NV_BUFFER_MAX
  while (out.size() < size) {
    const auto want = static_cast<uint16_t>(std::min<size_t>(kChunk, size - out.size()));
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    // The EK certificate index is readable with its own (empty) authorization.
    TSS2_RC rc = Esys_NV_Read(impl_->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, want,
                              static_cast<uint16_t>(out.size()), &data);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("reading NV index data", rc);
    out.insert(out.end(), data->buffer, data->buffer + data->size);
    Esys_Free(data);
  }
  return out;
}

Result<EkPublic> Tpm::create_ek_rsa() {
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC in_public = ek_rsa_template();
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION pcrs{};
  ESYS_TR handle = ESYS_TR_NONE;
  TPM2B_PUBLIC* out_public = nullptr;
  TSS2_RC rc = Esys_CreatePrimary(impl_->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &sensitive, &in_public, &outside, &pcrs, &handle, &out_public, nullptr, nullptr, nullptr);
  if (rc != TSS2_RC_SUCCESS) return tpm_error("creating the EK from the standard template", rc);
  EkPublic ek;
  ek.modulus.assign(out_public->publicArea.unique.rsa.buffer,
                    out_public->publicArea.unique.rsa.buffer + out_public->publicArea.unique.rsa.size);
  TPM2B_NAME* name = nullptr;
  if (Esys_TR_GetName(impl_->esys, handle, &name) == TSS2_RC_SUCCESS) {
    ek.name.assign(name->name, name->name + name->size);
    Esys_Free(name);
  }
  Esys_Free(out_public);
  Esys_FlushContext(impl_->esys, handle);
  return ek;
}

Result<Bytes> certificate_rsa_modulus(const Bytes& der) {
  const unsigned char* p = der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (!cert) return Error{"the EK certificate is not valid DER X.509", EBADMSG};
  EVP_PKEY* key = X509_get0_pubkey(cert);
  BIGNUM* n = nullptr;
  Bytes out;
  if (key && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) > 0) {
    out.resize(static_cast<size_t>(BN_num_bytes(n)));
    BN_bn2bin(n, out.data());
    BN_free(n);
  }
  X509_free(cert);
  if (out.empty()) return Error{"the EK certificate does not hold an RSA key", EBADMSG};
  return out;
}

}  // namespace sedge::onboarding

#include "onboarding/tpm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/openssl.h"

namespace sedge::onboarding {
namespace {

Error tpm_error(const std::string& what, TSS2_RC rc) { return Error{what + ": " + Tss2_RC_Decode(rc), EIO}; }

std::string hex_handle(uint32_t h) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", h);
  return buf;
}

// Our wire form and the TSS's structures meet through the TSS's own marshalling.
Result<TPM2B_PUBLIC> to_tss(const PublicArea& p) {
  const Bytes wire = marshal_public(p);
  TPM2B_PUBLIC out{};
  size_t off = 0;
  if (TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(wire.data(), wire.size(), &off, &out); rc != TSS2_RC_SUCCESS) {
    return tpm_error("encoding a public template", rc);
  }
  return out;
}

Result<Bytes> from_tss(const TPM2B_PUBLIC& p) {
  Bytes wire(sizeof(TPM2B_PUBLIC) + 8);
  size_t off = 0;
  if (TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&p, wire.data(), wire.size(), &off); rc != TSS2_RC_SUCCESS) {
    return tpm_error("encoding the TPM's public area", rc);
  }
  wire.resize(off);
  return wire;
}

// Flushes a transient object or session when it goes out of scope.
struct Flush {
  ESYS_CONTEXT* esys;
  ESYS_TR tr = ESYS_TR_NONE;
  ~Flush() {
    if (tr != ESYS_TR_NONE && tr != ESYS_TR_PASSWORD) Esys_FlushContext(esys, tr);
  }
};

constexpr uint32_t kAkAttributes = attr::kFixedTpm | attr::kFixedParent | attr::kSensitiveDataOrigin |
                                   attr::kUserWithAuth | attr::kRestricted | attr::kSign;

}  // namespace

struct Tpm::Impl {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  ESYS_CONTEXT* esys = nullptr;
  ~Impl() {
    if (esys) Esys_Finalize(&esys);
    if (tcti) Tss2_TctiLdr_Finalize(&tcti);
  }

  // Whether a persistent handle holds an object.
  Result<bool> occupied(uint32_t handle) {
    TPMS_CAPABILITY_DATA* cap = nullptr;
    TSS2_RC rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, handle, 1, nullptr, &cap);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("listing persistent handles", rc);
    const bool found = cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle;
    Esys_Free(cap);
    return found;
  }

  Result<ESYS_TR> persistent(uint32_t handle) {
    ESYS_TR tr = ESYS_TR_NONE;
    if (TSS2_RC rc = Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr); rc != TSS2_RC_SUCCESS) {
      return tpm_error("no object at " + hex_handle(handle), rc);
    }
    return tr;
  }

  // The public area and name of a loaded object, parsed by our own parser and checked against
  // the name the TPM reports.
  Result<KeyPublic> public_of(ESYS_TR tr) {
    TPM2B_PUBLIC* pub = nullptr;
    TPM2B_NAME* name = nullptr;
    if (TSS2_RC rc = Esys_ReadPublic(esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name, nullptr); rc != TSS2_RC_SUCCESS) {
      return tpm_error("reading an object's public area", rc);
    }
    KeyPublic k;
    auto wire = from_tss(*pub);
    k.name.assign(name->name, name->name + name->size);
    Esys_Free(pub);
    Esys_Free(name);
    if (!wire) return wire.error();
    k.public_area = std::move(*wire);
    auto area = parse_public(k.public_area);
    if (!area) return area.error().context("the TPM's public area");
    k.area = std::move(*area);
    auto computed = object_name(k.area);
    if (!computed || *computed != k.name) return Error{"the TPM's object name does not match its public area", EIO};
    return k;
  }

  Result<ESYS_TR> create_primary(ESYS_TR hierarchy, const PublicArea& tmpl) {
    auto in_public = to_tss(tmpl);
    if (!in_public) return in_public.error();
    TPM2B_SENSITIVE_CREATE sensitive{};
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION pcrs{};
    ESYS_TR handle = ESYS_TR_NONE;
    TSS2_RC rc = Esys_CreatePrimary(esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &*in_public,
                                    &outside, &pcrs, &handle, nullptr, nullptr, nullptr, nullptr);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("creating a primary key", rc);
    return handle;
  }

  // The session that authorises use of the EK (USER role): its empty auth value when the
  // template has userWithAuth (high range), else a policy session satisfying
  // PolicySecret(TPM_RH_ENDORSEMENT) with the EK's nameAlg.
  Result<ESYS_TR> ek_session(const PublicArea& ek) {
    if (ek.attributes & attr::kUserWithAuth) return ESYS_TR(ESYS_TR_PASSWORD);
    TPMT_SYM_DEF symmetric{};
    symmetric.algorithm = TPM2_ALG_NULL;
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                                       TPM2_SE_POLICY, &symmetric, ek.name_alg, &session);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("starting the EK's policy session", rc);
    rc = Esys_PolicySecret(esys, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                           nullptr, nullptr, 0, nullptr, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
      Esys_FlushContext(esys, session);
      return tpm_error("PolicySecret(TPM_RH_ENDORSEMENT)", rc);
    }
    return session;
  }

  // A salted HMAC session that authorises nothing and only encrypts parameters (AES-128-CFB):
  // its salt goes to the TPM encrypted to `tpm_key` (the EK or the storage root key), so the
  // session key, and the key of every parameter it encrypts, is known to this process and the
  // TPM that holds that key only. What crosses the bus between them (a resource manager, an
  // interposer on the TPM's bus, a TCTI log) sees the encrypted form. `attributes`:
  // TPMA_SESSION_DECRYPT for the command's first parameter, TPMA_SESSION_ENCRYPT for the
  // response's.
  Result<ESYS_TR> encryption_session(ESYS_TR tpm_key, TPMA_SESSION attributes) {
    TPMT_SYM_DEF symmetric{};
    symmetric.algorithm = TPM2_ALG_AES;
    symmetric.keyBits.aes = 128;
    symmetric.mode.aes = TPM2_ALG_CFB;
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(esys, tpm_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                                       TPM2_SE_HMAC, &symmetric, TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("starting a salted session for parameter encryption", rc);
    const TPMA_SESSION mask = TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION;
    rc = Esys_TRSess_SetAttributes(esys, session, attributes | TPMA_SESSION_CONTINUESESSION, mask);
    if (rc != TSS2_RC_SUCCESS) {
      Esys_FlushContext(esys, session);
      return tpm_error("setting the session's encryption attributes", rc);
    }
    return session;
  }

  Result<uint32_t> persist(ESYS_TR object, uint32_t handle) {
    ESYS_TR out = ESYS_TR_NONE;
    TSS2_RC rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, object, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle, &out);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("persisting at " + hex_handle(handle), rc);
    Esys_TR_Close(esys, &out);
    return handle;
  }

  // Creates a child of `parent` from `tmpl`, loads it, and returns the loaded handle.
  Result<ESYS_TR> create_child(ESYS_TR parent, const PublicArea* parent_ek, const PublicArea& tmpl) {
    auto in_public = to_tss(tmpl);
    if (!in_public) return in_public.error();
    TPM2B_SENSITIVE_CREATE sensitive{};
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION pcrs{};
    TPM2B_PRIVATE* priv = nullptr;
    TPM2B_PUBLIC* pub = nullptr;
    {
      Flush s{esys};
      if (parent_ek) {
        auto session = ek_session(*parent_ek);
        if (!session) return session.error();
        s.tr = *session;
      }
      // The new key's sensitive data (inSensitive) crosses the bus encrypted, and the response's
      // private part besides the parent's own wrapping, by a session salted to the parent.
      Flush enc{esys};
      auto e = encryption_session(parent, TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT);
      if (!e) return e.error().context("creating a key");
      enc.tr = *e;
      TSS2_RC rc = Esys_Create(esys, parent, parent_ek ? s.tr : ESYS_TR_PASSWORD, enc.tr, ESYS_TR_NONE, &sensitive,
                               &*in_public, &outside, &pcrs, &priv, &pub, nullptr, nullptr, nullptr);
      if (rc != TSS2_RC_SUCCESS) return tpm_error("creating a key", rc);
    }
    Flush s{esys};
    if (parent_ek) {
      auto session = ek_session(*parent_ek);
      if (!session) {
        Esys_Free(priv);
        Esys_Free(pub);
        return session.error();
      }
      s.tr = *session;
    }
    ESYS_TR loaded = ESYS_TR_NONE;
    TSS2_RC rc = Esys_Load(esys, parent, parent_ek ? s.tr : ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &loaded);
    Esys_Free(priv);
    Esys_Free(pub);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("loading the new key", rc);
    return loaded;
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
    return tpm_error("no NV index " + hex_handle(index), rc);
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

Result<EkPublic> Tpm::create_ek(EkProfile profile) {
  auto handle = impl_->create_primary(ESYS_TR_RH_ENDORSEMENT, ek_template(profile));
  if (!handle) return handle.error().context(std::string("creating the EK from the ") + ek_profile_name(profile) + " template");
  Flush f{impl_->esys, *handle};
  auto k = impl_->public_of(*handle);
  if (!k) return k.error();
  EkPublic ek;
  ek.profile = profile;
  ek.name = k->name;
  ek.area = k->area;
  ek.public_area = k->public_area;
  if (ek.area.type == alg::kRsa) ek.modulus = ek.area.rsa_modulus;
  return ek;
}

Result<EkPublic> Tpm::create_ek_rsa() { return create_ek(EkProfile::kRsa2048); }

Result<EkPublic> Tpm::checked_ek(EkProfile profile) {
  auto cert = read_nv(ek_certificate_index(profile));
  if (!cert) return cert.error().context(std::string("reading the ") + ek_profile_name(profile) + " EK certificate");
  auto ek = create_ek(profile);
  if (!ek) return ek.error();
  if (auto ok = ek_matches_certificate(ek->area, *cert); !ok) return ok.error();
  ek->certificate = std::move(*cert);
  return ek;
}

Result<EkPublic> Tpm::persist_ek(EkProfile profile, uint32_t handle) {
  auto used = impl_->occupied(handle);
  if (!used) return used.error();
  auto tr = impl_->create_primary(ESYS_TR_RH_ENDORSEMENT, ek_template(profile));
  if (!tr) return tr.error().context(std::string("creating the EK from the ") + ek_profile_name(profile) + " template");
  Flush f{impl_->esys, *tr};
  auto k = impl_->public_of(*tr);
  if (!k) return k.error();
  if (*used) {
    auto there = read_public(handle);
    if (!there) return there.error();
    if (there->name != k->name) {
      return Error{hex_handle(handle) + " holds another object, not the " + ek_profile_name(profile) + " EK; not replacing it", EEXIST};
    }
  } else if (auto p = impl_->persist(*tr, handle); !p) {
    return p.error().context("the EK");
  }
  EkPublic ek;
  ek.profile = profile;
  ek.name = k->name;
  ek.area = k->area;
  ek.public_area = k->public_area;
  ek.handle = handle;
  ek.created = !*used;
  if (ek.area.type == alg::kRsa) ek.modulus = ek.area.rsa_modulus;
  return ek;
}

Result<KeyPublic> Tpm::read_public(uint32_t handle) {
  auto tr = impl_->persistent(handle);
  if (!tr) return tr.error();
  auto k = impl_->public_of(*tr);
  Esys_TR_Close(impl_->esys, &*tr);
  if (!k) return k.error();
  k->handle = handle;
  return k;
}

Result<KeyPublic> Tpm::create_ak(const AkOptions& options) {
  if (options.type != alg::kRsa && options.type != alg::kEcc) return Error{"an AK is RSA or ECC", EINVAL};
  const PublicArea tmpl = ak_template(options.type);
  auto used = impl_->occupied(options.handle);
  if (!used) return used.error();
  if (*used) {
    auto k = read_public(options.handle);
    if (!k) return k.error();
    if (auto ok = check_ak_attributes(k->area); !ok) {
      return ok.error().context(hex_handle(options.handle) + " is occupied by a key that is not an AK; not replacing it");
    }
    if (k->area.type != tmpl.type || k->area.scheme != tmpl.scheme || k->area.scheme_hash != tmpl.scheme_hash) {
      return Error{hex_handle(options.handle) + " holds an AK of another type or scheme; not replacing it", EEXIST};
    }
    return k;
  }
  // The parent.
  Flush parent{impl_->esys};
  ESYS_TR parent_tr = ESYS_TR_NONE;
  EkPublic ek;
  if (options.parent == AkParent::kEndorsement) {
    auto e = persist_ek(options.ek_profile, options.ek_handle);
    if (!e) return e.error();
    ek = std::move(*e);
    auto tr = impl_->persistent(options.ek_handle);
    if (!tr) return tr.error();
    parent_tr = *tr;
  } else {
    auto tr = impl_->create_primary(ESYS_TR_RH_OWNER, srk_template(options.type));
    if (!tr) return tr.error().context("creating the storage root key");
    parent_tr = parent.tr = *tr;
  }
  auto loaded = impl_->create_child(parent_tr, options.parent == AkParent::kEndorsement ? &ek.area : nullptr, tmpl);
  if (options.parent == AkParent::kEndorsement) Esys_TR_Close(impl_->esys, &parent_tr);
  if (!loaded) return loaded.error().context("creating the AK");
  Flush ak{impl_->esys, *loaded};
  auto k = impl_->public_of(*loaded);
  if (!k) return k.error();
  if (auto ok = check_ak_attributes(k->area); !ok) return ok.error().context("the TPM created");
  if ((k->area.attributes & kAkAttributes) != kAkAttributes) return Error{"the TPM created the AK without the attributes asked for", EIO};
  if (auto p = impl_->persist(*loaded, options.handle); !p) return p.error().context("the AK");
  k->handle = options.handle;
  k->created = true;
  return k;
}

Result<Secret> Tpm::activate_credential(uint32_t ek_handle, uint32_t ak_handle, const Credential& credential) {
  if (auto ok = check_credential(credential); !ok) return ok.error();
  TPM2B_ID_OBJECT blob{};
  TPM2B_ENCRYPTED_SECRET secret{};
  size_t off = 0;
  if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential.id_object.data(), credential.id_object.size(), &off, &blob) != TSS2_RC_SUCCESS) {
    return Error{"the credential blob does not fit a TPM2B_ID_OBJECT", EBADMSG};
  }
  off = 0;
  if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(credential.encrypted_secret.data(), credential.encrypted_secret.size(), &off,
                                               &secret) != TSS2_RC_SUCCESS) {
    return Error{"the encrypted secret does not fit a TPM2B_ENCRYPTED_SECRET", EBADMSG};
  }
  auto ek = impl_->persistent(ek_handle);
  if (!ek) return ek.error().context("the EK");
  auto ak = impl_->persistent(ak_handle);
  if (!ak) {
    Esys_TR_Close(impl_->esys, &*ek);
    return ak.error().context("the AK");
  }
  struct Close {
    ESYS_CONTEXT* esys;
    ESYS_TR a, b;
    ~Close() {
      Esys_TR_Close(esys, &a);
      Esys_TR_Close(esys, &b);
    }
  } close{impl_->esys, *ek, *ak};
  auto ek_pub = impl_->public_of(*ek);
  if (!ek_pub) return ek_pub.error().context("the EK");
  Flush session{impl_->esys};
  auto s = impl_->ek_session(ek_pub->area);
  if (!s) return s.error();
  session.tr = *s;
  // The recovered secret (certInfo, the response's first parameter) comes back encrypted by a
  // session salted to the EK: only this process and the TPM holding the EK see it in clear.
  Flush enc{impl_->esys};
  auto e = impl_->encryption_session(*ek, TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT);
  if (!e) return e.error().context("TPM2_ActivateCredential");
  enc.tr = *e;
  TPM2B_DIGEST* cert_info = nullptr;
  TSS2_RC rc = Esys_ActivateCredential(impl_->esys, *ak, *ek, ESYS_TR_PASSWORD, session.tr, enc.tr, &blob, &secret, &cert_info);
  OPENSSL_cleanse(&blob, sizeof blob);
  if (rc != TSS2_RC_SUCCESS) return tpm_error("TPM2_ActivateCredential (a credential for another EK or AK, or altered)", rc);
  Secret out(std::span<const uint8_t>(cert_info->buffer, cert_info->size));
  OPENSSL_cleanse(cert_info->buffer, cert_info->size);
  Esys_Free(cert_info);
  return out;
}

namespace {

// The TPMT_SIGNATURE in its wire form.
Result<Bytes> marshal_signature(const TPMT_SIGNATURE& signature) {
  Bytes out(sizeof(TPMT_SIGNATURE) + 8);
  size_t off = 0;
  if (TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&signature, out.data(), out.size(), &off);
      rc != TSS2_RC_SUCCESS)
    return tpm_error("encoding a signature", rc);
  out.resize(off);
  return out;
}

}  // namespace

Result<Quote> Tpm::quote(uint32_t ak_handle, ByteView nonce, const std::vector<PcrSelection>& pcrs) {
  TPM2B_DATA qualifying{};
  if (nonce.size() > 64) return Error{"the quote nonce is longer than 64 bytes", EINVAL};
  qualifying.size = static_cast<uint16_t>(nonce.size());
  std::copy(nonce.begin(), nonce.end(), qualifying.buffer);
  TPML_PCR_SELECTION selection{};
  if (pcrs.size() > TPM2_NUM_PCR_BANKS) return Error{"too many PCR banks", EINVAL};
  for (const PcrSelection& sel : pcrs) {
    const Bytes bits = pcr_select_bits(sel);
    if (bits.size() > sizeof selection.pcrSelections[0].pcrSelect) return Error{"PCR number out of range", EINVAL};
    auto& s = selection.pcrSelections[selection.count++];
    s.hash = sel.hash;
    s.sizeofSelect = static_cast<uint8_t>(bits.size());
    std::copy(bits.begin(), bits.end(), s.pcrSelect);
  }
  auto ak = impl_->persistent(ak_handle);
  if (!ak) return ak.error().context("the AK");
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // the AK's own
  TPM2B_ATTEST* attest = nullptr;
  TPMT_SIGNATURE* signature = nullptr;
  TSS2_RC rc = Esys_Quote(impl_->esys, *ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qualifying, &scheme, &selection,
                          &attest, &signature);
  Esys_TR_Close(impl_->esys, &*ak);
  if (rc != TSS2_RC_SUCCESS) return tpm_error("TPM2_Quote", rc);
  Quote q;
  q.attest.assign(attest->attestationData, attest->attestationData + attest->size);
  auto wire = marshal_signature(*signature);
  Esys_Free(attest);
  Esys_Free(signature);
  if (!wire) return wire.error().context("the quote");
  q.signature = std::move(*wire);
  return q;
}

Result<Quote> Tpm::certify(uint32_t sign_handle, uint32_t object_handle, ByteView qualifying) {
  if (qualifying.size() > 64)
    return Error{"the certify qualifying data is longer than 64 bytes", EINVAL};
  TPM2B_DATA data{};
  data.size = static_cast<uint16_t>(qualifying.size());
  std::copy(qualifying.begin(), qualifying.end(), data.buffer);
  auto signer = read_public(sign_handle);
  if (!signer) return signer.error().context("the IDevID key");
  if ((signer->area.attributes & attr::kSign) == 0)
    return Error{"the key at " + hex_handle(sign_handle) + " cannot sign", EINVAL};
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // the key's own, when it has one
  if (signer->area.scheme == alg::kNull) {
    scheme.scheme = signer->area.type == alg::kEcc ? TPM2_ALG_ECDSA : TPM2_ALG_RSASSA;
    scheme.details.any.hashAlg = TPM2_ALG_SHA256;
  }
  auto sign = impl_->persistent(sign_handle);
  if (!sign) return sign.error().context("the IDevID key");
  auto object = impl_->persistent(object_handle);
  if (!object) {
    Esys_TR_Close(impl_->esys, &*sign);
    return object.error().context("the AK");
  }
  TPM2B_ATTEST* attest = nullptr;
  TPMT_SIGNATURE* signature = nullptr;
  TSS2_RC rc = Esys_Certify(impl_->esys, *object, *sign, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
                            ESYS_TR_NONE, &data, &scheme, &attest, &signature);
  Esys_TR_Close(impl_->esys, &*object);
  Esys_TR_Close(impl_->esys, &*sign);
  if (rc != TSS2_RC_SUCCESS) return tpm_error("TPM2_Certify", rc);
  Quote q;
  q.attest.assign(attest->attestationData, attest->attestationData + attest->size);
  auto wire = marshal_signature(*signature);
  Esys_Free(attest);
  Esys_Free(signature);
  if (!wire) return wire.error();
  q.signature = std::move(*wire);
  return q;
}

Result<KeyPublic> Tpm::create_tls_key(const TlsKeyOptions& options) {
  if (options.type != alg::kRsa && options.type != alg::kEcc) return Error{"the TLS key is RSA or ECC", EINVAL};
  const PublicArea tmpl = tls_key_template(options.type);
  auto used = impl_->occupied(options.handle);
  if (!used) return used.error();
  if (*used) {
    auto k = read_public(options.handle);
    if (!k) return k.error();
    if (k->area.type != tmpl.type || k->area.attributes != tmpl.attributes || k->area.scheme != alg::kNull) {
      return Error{hex_handle(options.handle) + " holds a key that is not a " + alg_name(tmpl.type) +
                       " TLS signing key of ours; not replacing it",
                   EEXIST};
    }
    return k;
  }
  auto srk = impl_->create_primary(ESYS_TR_RH_OWNER, srk_template(options.type));
  if (!srk) return srk.error().context("creating the storage root key");
  Flush parent{impl_->esys, *srk};
  auto loaded = impl_->create_child(*srk, nullptr, tmpl);
  if (!loaded) return loaded.error().context("creating the TLS key");
  Flush key{impl_->esys, *loaded};
  auto k = impl_->public_of(*loaded);
  if (!k) return k.error();
  if (k->area.attributes != tmpl.attributes) return Error{"the TPM created the TLS key without the attributes asked for", EIO};
  if (auto p = impl_->persist(*loaded, options.handle); !p) return p.error().context("the TLS key");
  k->handle = options.handle;
  k->created = true;
  return k;
}

Status Tpm::evict(uint32_t handle) {
  auto tr = impl_->persistent(handle);
  if (!tr) return tr.error();
  ESYS_TR out = ESYS_TR_NONE;
  TSS2_RC rc = Esys_EvictControl(impl_->esys, ESYS_TR_RH_OWNER, *tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle, &out);
  if (rc != TSS2_RC_SUCCESS) {
    Esys_TR_Close(impl_->esys, &*tr);
    return tpm_error("evicting " + hex_handle(handle), rc);
  }
  return {};
}

Result<Bytes> certificate_rsa_modulus(const Bytes& der) {
  const unsigned char* p = der.data();
  const X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return Error{"the EK certificate is not valid DER X.509", EBADMSG};
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  BIGNUM* n = nullptr;
  Bytes out;
  if (key && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) > 0) {
    const BignumPtr owned(n);
    out.resize(static_cast<size_t>(BN_num_bytes(n)));
    BN_bn2bin(n, out.data());
  }
  if (out.empty()) return Error{"the EK certificate does not hold an RSA key", EBADMSG};
  return out;
}

Status ek_matches_certificate(const PublicArea& ek, const Bytes& der) {
  const unsigned char* p = der.data();
  const X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return Error{"the EK certificate is not valid DER X.509", EBADMSG};
  if (!same_key(ek, X509_get0_pubkey(cert.get()))) return Error{"the EK created from the standard template does not match the EK certificate", EACCES};
  return {};
}

}  // namespace sedge::onboarding

// OpenSSL objects owned by std::unique_ptr: the one deleter, and an alias for each kind of object
// the tree holds, so that every early return frees what was allocated. (sedge_common links
// libcrypto; libssl's objects take the same Deleter where they are used, in onboarding/tls.cc.)
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace sedge {

// Frees with OpenSSL's function `Free` (whatever it returns: BIO_free's int is dropped).
template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    (void)Free(p);
  }
};
template <class T, auto Free>
using OpenSslPtr = std::unique_ptr<T, Deleter<Free>>;

using PkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using CipherCtxPtr = OpenSslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using BioPtr = OpenSslPtr<BIO, BIO_free>;
using BignumPtr = OpenSslPtr<BIGNUM, BN_free>;
using SecretBignumPtr = OpenSslPtr<BIGNUM, BN_clear_free>;  // a private value: cleared first
using ParamBldPtr = OpenSslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamsPtr = OpenSslPtr<OSSL_PARAM, OSSL_PARAM_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using X509ExtensionPtr = OpenSslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509NamePtr = OpenSslPtr<X509_NAME, X509_NAME_free>;
using X509StorePtr = OpenSslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OpenSslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509AlgorPtr = OpenSslPtr<X509_ALGOR, X509_ALGOR_free>;
using EcdsaSigPtr = OpenSslPtr<ECDSA_SIG, ECDSA_SIG_free>;
using RsaPssParamsPtr = OpenSslPtr<RSA_PSS_PARAMS, RSA_PSS_PARAMS_free>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
// A stack of certificates it does not own (sk_X509_free is a macro, so it has a function here).
inline void free_x509_stack(STACK_OF(X509)* s) { sk_X509_free(s); }
using X509StackPtr = OpenSslPtr<STACK_OF(X509), free_x509_stack>;

}  // namespace sedge

// sedge-tpm: what the router's TPM says about itself, for operators and tests.
//   sedge-tpm [--tcti TCTI] ek     the EK certificate's subject check: the EK recreated from
//                                  the standard template matches the certificate's key; prints
//                                  the EK name (hex) and writes nothing secret
//   sedge-tpm [--tcti TCTI] ekcert FILE   the DER EK certificate from NV 0x01c00002
//   sedge-tpm [--tcti TCTI] idtoken ROUTER_ID INTERFACE   the device ID token (JSON) for the
//                                  conductor, with the MAC address of INTERFACE
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "onboarding/idtoken.h"
#include "onboarding/tpm.h"

int main(int argc, char** argv) {
  using namespace sedge::onboarding;
  std::string tcti = "device:/dev/tpmrm0";
  int i = 1;
  if (argc > 2 && std::strcmp(argv[1], "--tcti") == 0) {
    tcti = argv[2];
    i = 3;
  }
  if (i >= argc) {
    std::cerr << "usage: sedge-tpm [--tcti TCTI] ek | ekcert FILE | idtoken ROUTER_ID INTERFACE\n";
    return 2;
  }
  auto tpm = Tpm::open(tcti);
  if (!tpm) {
    std::cerr << "sedge-tpm: " << tpm.error().message << "\n";
    return 1;
  }
  if (std::strcmp(argv[i], "idtoken") == 0 && i + 2 < argc) {
    auto mac = interface_mac(argv[i + 2]);
    if (!mac) {
      std::cerr << "sedge-tpm: " << mac.error().message << "\n";
      return 1;
    }
    auto token = device_id_token(**tpm, argv[i + 1], *mac);
    if (!token) {
      std::cerr << "sedge-tpm: " << token.error().message << "\n";
      return 1;
    }
    std::cout << *token << "\n";
    return 0;
  }
  auto cert = (*tpm)->read_nv(kEkCertRsa2048Index);
  if (!cert) {
    std::cerr << "sedge-tpm: EK certificate: " << cert.error().message << "\n";
    return 1;
  }
  if (std::strcmp(argv[i], "ekcert") == 0 && i + 1 < argc) {
    std::ofstream(argv[i + 1], std::ios::binary).write(reinterpret_cast<const char*>(cert->data()), static_cast<long>(cert->size()));
    std::printf("EK certificate: %zu bytes\n", cert->size());
    return 0;
  }
  if (std::strcmp(argv[i], "ek") != 0) {
    std::cerr << "sedge-tpm: unknown command " << argv[i] << "\n";
    return 2;
  }
  auto ek = (*tpm)->create_ek_rsa();
  if (!ek) {
    std::cerr << "sedge-tpm: " << ek.error().message << "\n";
    return 1;
  }
  auto modulus = certificate_rsa_modulus(*cert);
  if (!modulus) {
    std::cerr << "sedge-tpm: " << modulus.error().message << "\n";
    return 1;
  }
  if (*modulus != ek->modulus) {
    std::cerr << "sedge-tpm: the EK created from the standard template does not match the EK certificate\n";
    return 1;
  }
  std::printf("EK matches its certificate\nEK name: ");
  for (uint8_t b : ek->name) std::printf("%02x", b);
  std::printf("\n");
  return 0;
}

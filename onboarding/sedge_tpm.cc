// sedge-tpm: the router's TPM for operators and tests, and the conductor's software checks.
// See docs/onboarding.md for every command; in short:
//   router (TPM, --tcti TCTI, default device:/dev/tpmrm0):
//     ek [PROFILE] [--persist HANDLE] [--public FILE]   check the EK against its NV certificate
//     ekcert FILE [PROFILE]                              write the DER EK certificate
//     idtoken ROUTER_ID INTERFACE                        the device ID token (JSON)
//     ak [--type rsa|ecc] [--parent ek|storage] [--ek-profile P] [--ek-handle H] [--handle H]
//        [--public FILE]                                 create or reuse the persisted AK
//     activate [--ek-handle H] [--ak-handle H] CREDENTIAL SECRET_OUT
//     quote [--ak-handle H] NONCE_HEX PCRS ATTEST_OUT SIGNATURE_OUT    (PCRS: sha256:0,1,7)
//     tlskey [--type ecc|rsa] [--handle H] SPKI_OUT      create or reuse the persisted TLS key
//     readpublic HANDLE FILE | evict HANDLE
//   conductor (software only, no TPM):
//     makecred (--ek-public FILE | --ek-cert FILE [--ek-profile P]) AK_NAME_HEX SECRET_FILE OUT
//     verifyquote AK_PUBLIC NONCE_HEX ATTEST SIGNATURE
//     checkak AK_PUBLIC
// Files: public areas are TPM2B_PUBLIC, credentials tpm2-tools' layout, signatures
// TPMT_SIGNATURE, attestations TPMS_ATTEST — the formats tpm2-tools reads and writes.
#include <getopt.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include "common/files.h"
#include "common/openssl.h"
#include "onboarding/credential.h"
#include "onboarding/idtoken.h"
#include "onboarding/quote.h"
#include "onboarding/tpm.h"

namespace {

using namespace sedge::onboarding;
using sedge::Error;
using sedge::Result;
using sedge::X509Ptr;

struct Args {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opt;
  std::string get(const std::string& k, const std::string& def) const {
    auto it = opt.find(k);
    return it == opt.end() ? def : it->second;
  }
};

int fail(const std::string& message) {
  std::cerr << "sedge-tpm: " << message << "\n";
  return 1;
}

int usage();

int arg_error(const std::string& message) {
  std::cerr << "sedge-tpm: " << message << "\n";
  return usage();
}

int usage() {
  std::cerr << "usage: sedge-tpm [--tcti TCTI] COMMAND ...\n"
               "  ek [PROFILE] [--persist HANDLE] [--public FILE] | ekcert FILE [PROFILE] | idtoken ROUTER_ID INTERFACE\n"
               "  ak [--type rsa|ecc] [--parent ek|storage] [--ek-profile P] [--ek-handle H] [--handle H] [--public FILE]\n"
               "  activate [--ek-handle H] [--ak-handle H] CREDENTIAL SECRET_OUT\n"
               "  quote [--ak-handle H] NONCE_HEX PCRS ATTEST_OUT SIGNATURE_OUT\n"
               "  tlskey [--type ecc|rsa] [--handle H] SPKI_OUT | readpublic HANDLE FILE | evict HANDLE\n"
               "  makecred (--ek-public FILE | --ek-cert FILE [--ek-profile P]) AK_NAME_HEX SECRET_FILE OUT\n"
               "  verifyquote AK_PUBLIC NONCE_HEX ATTEST SIGNATURE | checkak AK_PUBLIC\n"
               "PROFILE: rsa2048 (default), ecc-p256, ecc-p384\n";
  return 2;
}

Result<Bytes> read_file(const std::string& path) {
  auto text = sedge::read_file(path);
  if (!text) return text.error();
  return Bytes(text->begin(), text->end());
}

bool write_file(const std::string& path, sedge::onboarding::ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(out);
}

Result<uint32_t> parse_handle(const std::string& s) {
  try {
    size_t used = 0;
    const unsigned long v = std::stoul(s, &used, 0);
    if (used != s.size() || v > 0xffffffffUL) throw std::invalid_argument(s);
    return static_cast<uint32_t>(v);
  } catch (const std::exception&) {
    return Error{"not a handle: '" + s + "'", EINVAL};
  }
}

Result<uint16_t> parse_type(const std::string& s) {
  if (s == "rsa") return alg::kRsa;
  if (s == "ecc") return alg::kEcc;
  return Error{"key type '" + s + "' is not rsa or ecc", EINVAL};
}

// "sha256:0,1,7" or "sha1:0+sha256:7,8".
Result<std::vector<PcrSelection>> parse_pcrs(const std::string& spec) {
  std::vector<PcrSelection> out;
  std::stringstream banks(spec);
  std::string bank;
  while (std::getline(banks, bank, '+')) {
    const auto colon = bank.find(':');
    if (colon == std::string::npos) return Error{"PCR selection '" + bank + "' is not HASH:N,N,...", EINVAL};
    PcrSelection sel;
    const std::string hash = bank.substr(0, colon);
    if (hash == "sha1") sel.hash = alg::kSha1;
    else if (hash == "sha256") sel.hash = alg::kSha256;
    else if (hash == "sha384") sel.hash = alg::kSha384;
    else return Error{"unknown PCR bank " + hash, EINVAL};
    std::stringstream nums(bank.substr(colon + 1));
    std::string n;
    while (std::getline(nums, n, ',')) {
      auto v = parse_handle(n);
      if (!v || *v > 23) return Error{"PCR '" + n + "' is not 0..23", EINVAL};
      sel.pcrs.push_back(*v);
    }
    out.push_back(std::move(sel));
  }
  return out;
}

// Each command's options, all with a value; a handle's value is checked here, so that a bad
// one is an argument error (exit 2) before the TPM is opened.
const std::map<std::string, std::vector<std::string>, std::less<>> kCommandOptions = {
    {"ek", {"persist", "public"}},
    {"ekcert", {}},
    {"idtoken", {}},
    {"ak", {"type", "parent", "ek-profile", "ek-handle", "handle", "public"}},
    {"activate", {"ek-handle", "ak-handle"}},
    {"quote", {"ak-handle"}},
    {"tlskey", {"type", "handle"}},
    {"readpublic", {}},
    {"evict", {}},
    {"makecred", {"ek-public", "ek-cert", "ek-profile"}},
    {"verifyquote", {}},
    {"checkak", {}},
};

bool is_handle_option(const std::string& name) {
  return name == "persist" || name == "ek-handle" || name == "ak-handle" || name == "handle";
}

// The offending option of a getopt_long '?' or ':' (opterr off).
std::string bad_option(char** argv) {
  const char* arg = optind > 0 ? argv[optind - 1] : "";
  if (std::strncmp(arg, "--", 2) == 0 || optopt == 0) return arg;
  return std::string("-") + static_cast<char>(optopt);
}

// argv[0] is the command.
Result<Args> parse_args(int argc, char** argv) {
  const auto spec = kCommandOptions.find(argv[0]);
  if (spec == kCommandOptions.end()) return Error{std::string("unknown command '") + argv[0] + "'", EINVAL};
  std::vector<option> longs;
  for (size_t k = 0; k < spec->second.size(); ++k) {
    longs.push_back({spec->second[k].c_str(), required_argument, nullptr, static_cast<int>(256 + k)});
  }
  longs.push_back({nullptr, 0, nullptr, 0});
  Args a;
  opterr = 0;
  optind = 0;  // glibc: start over
  int c;
  while ((c = getopt_long(argc, argv, ":", longs.data(), nullptr)) != -1) {
    if (c == ':') return Error{"option '" + bad_option(argv) + "' needs a value", EINVAL};
    if (c < 256) return Error{"unknown option '" + bad_option(argv) + "' for " + spec->first, EINVAL};
    const std::string& name = spec->second[static_cast<size_t>(c - 256)];
    if (is_handle_option(name)) {
      if (auto h = parse_handle(optarg); !h) return Error{"--" + name + ": " + h.error().message, EINVAL};
    }
    a.opt[name] = optarg;
  }
  for (int i = optind; i < argc; ++i) a.pos.emplace_back(argv[i]);
  return a;
}

void print_key(const char* what, const KeyPublic& k) {
  std::printf("%s %s at 0x%08x\n%s name: %s\n", what, k.created ? "created" : "reused", k.handle, what, to_hex(k.name).c_str());
}

// ---- conductor side: no TPM ----

int makecred(const Args& a) {
  if (a.pos.size() != 3) return usage();
  PublicArea ek;
  if (a.opt.count("ek-public")) {
    auto bytes = read_file(a.opt.at("ek-public"));
    if (!bytes) return fail(bytes.error().message);
    auto p = parse_public(*bytes);
    if (!p) return fail(p.error().message);
    ek = *p;
  } else if (a.opt.count("ek-cert")) {
    auto der = read_file(a.opt.at("ek-cert"));
    if (!der) return fail(der.error().message);
    auto profile = parse_ek_profile(a.get("ek-profile", "rsa2048"));
    if (!profile) return fail(profile.error().message);
    const unsigned char* p = der->data();
    const X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der->size())));
    if (!cert) return fail("the EK certificate is not DER X.509");
    auto area = ek_public_from_key(*profile, X509_get0_pubkey(cert.get()));
    if (!area) return fail(area.error().message);
    ek = *area;
  } else {
    return usage();
  }
  auto name = from_hex(a.pos[0]);
  if (!name) return fail("AK name: " + name.error().message);
  auto secret = read_file(a.pos[1]);
  if (!secret) return fail(secret.error().message);
  auto cred = make_credential(ek, *name, sedge::Secret(*secret));
  if (!cred) return fail(cred.error().message);
  if (!write_file(a.pos[2], credential_file(*cred))) return fail("cannot write " + a.pos[2]);
  std::printf("credential for AK %s written to %s\n", a.pos[0].c_str(), a.pos[2].c_str());
  return 0;
}

Result<PublicArea> read_public_file(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  return parse_public(*bytes);
}

int verifyquote(const Args& a) {
  if (a.pos.size() != 4) return usage();
  auto ak = read_public_file(a.pos[0]);
  if (!ak) return fail(ak.error().message);
  auto nonce = from_hex(a.pos[1]);
  if (!nonce) return fail("nonce: " + nonce.error().message);
  auto attest = read_file(a.pos[2]);
  if (!attest) return fail(attest.error().message);
  auto sig = read_file(a.pos[3]);
  if (!sig) return fail(sig.error().message);
  auto q = verify_quote(*ak, *attest, *sig, *nonce);
  if (!q) return fail(q.error().message);
  std::printf("quote verified\npcr digest: %s\nclock: %llu\n", to_hex(q->pcr_digest).c_str(), static_cast<unsigned long long>(q->clock));
  return 0;
}

int checkak(const Args& a) {
  if (a.pos.size() != 1) return usage();
  auto ak = read_public_file(a.pos[0]);
  if (!ak) return fail(ak.error().message);
  if (auto ok = check_ak_attributes(*ak); !ok) return fail(ok.error().message);
  auto name = object_name(*ak);
  std::printf("AK accepted\nAK name: %s\n", name ? to_hex(*name).c_str() : "?");
  return 0;
}

// ---- router side: the TPM ----

int ek_command(Tpm& tpm, const Args& a) {
  auto profile = parse_ek_profile(a.pos.empty() ? "rsa2048" : a.pos[0]);
  if (!profile) return fail(profile.error().message);
  auto ek = tpm.checked_ek(*profile);
  if (!ek) return fail(ek.error().message);
  if (a.opt.count("persist")) {
    auto h = parse_handle(a.opt.at("persist"));
    if (!h) return fail(h.error().message);
    auto p = tpm.persist_ek(*profile, *h);
    if (!p) return fail(p.error().message);
    std::printf("EK %s at 0x%08x\n", p->created ? "persisted" : "reused", *h);
  }
  if (a.opt.count("public") && !write_file(a.opt.at("public"), ek->public_area)) return fail("cannot write " + a.opt.at("public"));
  std::printf("EK matches its certificate\nEK name: %s\n", to_hex(ek->name).c_str());
  return 0;
}

int ak_command(Tpm& tpm, const Args& a) {
  AkOptions o;
  auto type = parse_type(a.get("type", "rsa"));
  if (!type) return fail(type.error().message);
  o.type = *type;
  const std::string parent = a.get("parent", "ek");
  if (parent == "storage") o.parent = AkParent::kStorage;
  else if (parent != "ek") return fail("--parent is ek or storage");
  auto profile = parse_ek_profile(a.get("ek-profile", "rsa2048"));
  if (!profile) return fail(profile.error().message);
  o.ek_profile = *profile;
  auto ekh = parse_handle(a.get("ek-handle", "0x81010001"));
  auto akh = parse_handle(a.get("handle", "0x81008002"));
  if (!ekh || !akh) return fail("bad handle");
  o.ek_handle = *ekh;
  o.handle = *akh;
  auto k = tpm.create_ak(o);
  if (!k) return fail(k.error().message);
  if (a.opt.count("public") && !write_file(a.opt.at("public"), k->public_area)) return fail("cannot write " + a.opt.at("public"));
  print_key("AK", *k);
  return 0;
}

int activate_command(Tpm& tpm, const Args& a) {
  if (a.pos.size() != 2) return usage();
  auto ekh = parse_handle(a.get("ek-handle", "0x81010001"));
  auto akh = parse_handle(a.get("ak-handle", "0x81008002"));
  if (!ekh || !akh) return fail("bad handle");
  auto file = read_file(a.pos[0]);
  if (!file) return fail(file.error().message);
  auto cred = parse_credential_file(*file);
  if (!cred) return fail(cred.error().message);
  auto secret = tpm.activate_credential(*ekh, *akh, *cred);
  if (!secret) return fail(secret.error().message);
  if (!write_file(a.pos[1], secret->bytes())) return fail("cannot write " + a.pos[1]);
  std::printf("credential activated: %zu-byte secret written to %s\n", secret->size(), a.pos[1].c_str());
  return 0;
}

int quote_command(Tpm& tpm, const Args& a) {
  if (a.pos.size() != 4) return usage();
  auto akh = parse_handle(a.get("ak-handle", "0x81008002"));
  if (!akh) return fail(akh.error().message);
  auto nonce = from_hex(a.pos[0]);
  if (!nonce) return fail("nonce: " + nonce.error().message);
  auto pcrs = parse_pcrs(a.pos[1]);
  if (!pcrs) return fail(pcrs.error().message);
  auto q = tpm.quote(*akh, *nonce, *pcrs);
  if (!q) return fail(q.error().message);
  if (!write_file(a.pos[2], q->attest) || !write_file(a.pos[3], q->signature)) return fail("cannot write the quote");
  std::printf("quote: %zu-byte attestation, %zu-byte signature\n", q->attest.size(), q->signature.size());
  return 0;
}

int tlskey_command(Tpm& tpm, const Args& a) {
  if (a.pos.size() != 1) return usage();
  TlsKeyOptions o;
  auto type = parse_type(a.get("type", "ecc"));
  if (!type) return fail(type.error().message);
  o.type = *type;
  auto h = parse_handle(a.get("handle", "0x81008003"));
  if (!h) return fail(h.error().message);
  o.handle = *h;
  auto k = tpm.create_tls_key(o);
  if (!k) return fail(k.error().message);
  auto spki = public_key_der(k->area);
  if (!spki) return fail(spki.error().message);
  if (!write_file(a.pos[0], *spki)) return fail("cannot write " + a.pos[0]);
  print_key("TLS key", *k);
  std::printf("OpenSSL tpm2 provider key: handle:0x%08x\n", k->handle);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tcti = "device:/dev/tpmrm0";
  static const option kGlobal[] = {{"tcti", required_argument, nullptr, 't'}, {"help", no_argument, nullptr, 'h'},
                                   {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "+:h", kGlobal, nullptr)) != -1) {
    if (c == 't') tcti = optarg;
    else if (c == 'h') return usage(), 0;
    else if (c == ':') return arg_error("option '" + bad_option(argv) + "' needs a value");
    else return arg_error("unknown option '" + bad_option(argv) + "'");
  }
  if (optind >= argc) return usage();
  const std::string cmd = argv[optind];
  auto parsed = parse_args(argc - optind, argv + optind);
  if (!parsed) return arg_error(parsed.error().message);
  const Args& a = *parsed;
  if (cmd == "makecred") return makecred(a);
  if (cmd == "verifyquote") return verifyquote(a);
  if (cmd == "checkak") return checkak(a);

  auto tpm = Tpm::open(tcti);
  if (!tpm) return fail(tpm.error().message);
  Tpm& t = **tpm;
  if (cmd == "idtoken" && a.pos.size() == 2) {
    auto mac = interface_mac(a.pos[1]);
    if (!mac) return fail(mac.error().message);
    auto token = device_id_token(t, a.pos[0], *mac);
    if (!token) return fail(token.error().message);
    std::cout << *token << "\n";
    return 0;
  }
  if (cmd == "ekcert" && !a.pos.empty()) {
    auto profile = parse_ek_profile(a.pos.size() > 1 ? a.pos[1] : "rsa2048");
    if (!profile) return fail(profile.error().message);
    auto cert = t.read_nv(ek_certificate_index(*profile));
    if (!cert) return fail("EK certificate: " + cert.error().message);
    if (!write_file(a.pos[0], *cert)) return fail("cannot write " + a.pos[0]);
    std::printf("EK certificate: %zu bytes\n", cert->size());
    return 0;
  }
  if (cmd == "ek") return ek_command(t, a);
  if (cmd == "ak") return ak_command(t, a);
  if (cmd == "activate") return activate_command(t, a);
  if (cmd == "quote") return quote_command(t, a);
  if (cmd == "tlskey") return tlskey_command(t, a);
  if (cmd == "readpublic" && a.pos.size() == 2) {
    auto h = parse_handle(a.pos[0]);
    if (!h) return fail(h.error().message);
    auto k = t.read_public(*h);
    if (!k) return fail(k.error().message);
    if (!write_file(a.pos[1], k->public_area)) return fail("cannot write " + a.pos[1]);
    std::printf("name: %s\n", to_hex(k->name).c_str());
    return 0;
  }
  if (cmd == "evict" && a.pos.size() == 1) {
    auto h = parse_handle(a.pos[0]);
    if (!h) return fail(h.error().message);
    if (auto ok = t.evict(*h); !ok) return fail(ok.error().message);
    std::printf("evicted 0x%08x\n", *h);
    return 0;
  }
  return arg_error("wrong arguments for " + cmd);
}

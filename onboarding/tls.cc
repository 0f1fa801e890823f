#include "onboarding/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>

#include "common/hex.h"
#include "common/openssl.h"
#include "common/openssl_error.h"

namespace sedge::onboarding::tls {
namespace {

using Clock = std::chrono::steady_clock;

// libssl's and OSSL_STORE's objects (common/openssl.h has libcrypto's).
using CtxPtr = OpenSslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = OpenSslPtr<SSL, SSL_free>;
using StorePtr = OpenSslPtr<OSSL_STORE_CTX, OSSL_STORE_close>;
using StoreInfoPtr = OpenSslPtr<OSSL_STORE_INFO, OSSL_STORE_INFO_free>;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Runs one non-blocking SSL operation to completion, waiting on the socket for what OpenSSL
// asks for, until the deadline. Returns the operation's positive result, 0 for a clean close.
template <typename Op>
Result<int> drive(SSL* ssl, int fd, Clock::time_point deadline, const char* what, Op op) {
  for (;;) {
    ERR_clear_error();
    int rc = op();
    if (rc > 0) return rc;
    int err = SSL_get_error(ssl, rc);
    short events = 0;
    if (err == SSL_ERROR_WANT_READ) events = POLLIN;
    else if (err == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    else if (err == SSL_ERROR_ZERO_RETURN) return 0;
    else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return Error::sys(std::string(what) + ": connection lost");
    // The peer vanished without a close_notify (killed, or the link cut): a lost connection,
    // which the router retries, not a TLS failure.
    else if (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
      return ERR_clear_error(), Error{std::string(what) + ": connection lost (no close_notify)", ECONNRESET};
    else return openssl_error(what);
    pollfd p{fd, events, 0};
    int left = remaining_ms(deadline);
    if (left == 0 || ::poll(&p, 1, left) == 0) return Error{std::string(what) + ": timed out", ETIMEDOUT};
  }
}

// A key held by the TPM is only usable through the provider that holds it; OpenSSL 3.0 would
// otherwise fetch the default provider's signer and hand it a key it cannot export ("missing
// private key"). Preferring tpm2 ("?") still leaves everything else to the default provider.
const char* property_query(const std::string& key_uri) {
  return key_uri.rfind("handle:", 0) == 0 || key_uri.rfind("object:", 0) == 0 ? "?provider=tpm2" : nullptr;
}

Result<PkeyPtr> load_key(const std::string& uri) {
  StorePtr store(
      OSSL_STORE_open_ex(uri.c_str(), nullptr, property_query(uri), nullptr, nullptr, nullptr, nullptr, nullptr));
  if (store == nullptr) return openssl_error("opening private key " + uri);
  PkeyPtr key;
  while (!key && OSSL_STORE_eof(store.get()) == 0) {
    StoreInfoPtr info(OSSL_STORE_load(store.get()));
    if (info == nullptr) {
      if (OSSL_STORE_error(store.get()) != 0) break;
      continue;
    }
    if (OSSL_STORE_INFO_get_type(info.get()) == OSSL_STORE_INFO_PKEY) key.reset(OSSL_STORE_INFO_get1_PKEY(info.get()));
  }
  store.reset();
  if (!key) return openssl_error("no private key in " + uri);
  return key;
}

Result<CtxPtr> new_context(const SSL_METHOD* method, const char* propq) {
  CtxPtr ctx(SSL_CTX_new_ex(nullptr, propq, method));
  if (!ctx) return openssl_error("creating a TLS context");
  // TLS 1.3 only: nothing older is ever negotiated, whatever the peer offers.
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_num_tickets(ctx.get(), 0);  // no resumption: every session is fully authenticated
  return ctx;
}

Status use_identity(SSL_CTX* ctx, const Identity& id) {
  if (SSL_CTX_use_certificate_chain_file(ctx, id.certificate_file.c_str()) != 1)
    return openssl_error("loading certificate " + id.certificate_file);
  auto key = load_key(id.key_uri);
  if (!key) return key.error();
  if (SSL_CTX_use_PrivateKey(ctx, key->get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return openssl_error("key " + id.key_uri + " does not match certificate " + id.certificate_file);
  return {};
}

struct PinCheck {
  Bytes pin;
  bool mismatch = false;
  Bytes seen;
};

// Replaces chain building: the conductor is trusted because its key is the one the token names.
int verify_pin(X509_STORE_CTX* store, void* arg) {
  auto* check = static_cast<PinCheck*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  check->seen = leaf != nullptr ? spki_sha256(leaf) : Bytes{};
  check->mismatch = check->seen.size() != check->pin.size() ||
                    CRYPTO_memcmp(check->seen.data(), check->pin.data(), check->pin.size()) != 0;
  if (!check->mismatch) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

Result<int> tcp_connect(const std::string& host, uint16_t port, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0)
    return Error{"resolving " + host + ": " + gai_strerror(rc)};
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(list, freeaddrinfo);
  Error last{"no address for " + host};
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) continue;
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = Error::sys("connecting to " + host + ":" + service + ": " + std::strerror(errno));
      continue;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
      last = Error{"connecting to " + host + ":" + service + ": timed out", ETIMEDOUT};
      continue;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) {
      last = Error::sys("connecting to " + host + ":" + service + ": " + std::strerror(soerr), soerr);
      continue;
    }
    return fd.release();
  }
  return last;
}

std::string address_of(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  return std::string(text) + ":" + std::to_string(port);
}

}  // namespace

Status load_providers(bool tpm2) {
  static std::mutex lock;
  std::lock_guard guard(lock);
  if (OSSL_PROVIDER_available(nullptr, "default") == 0 && OSSL_PROVIDER_load(nullptr, "default") == nullptr)
    return openssl_error("loading OpenSSL's default provider");
  if (tpm2 && OSSL_PROVIDER_available(nullptr, "tpm2") == 0 && OSSL_PROVIDER_load(nullptr, "tpm2") == nullptr)
    return openssl_error("loading OpenSSL's tpm2 provider (Debian package tpm2-openssl)");
  return {};
}

Bytes spki_sha256(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  Bytes out(32);
  if (len <= 0) return {};
  EVP_Digest(der, static_cast<size_t>(len), out.data(), nullptr, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return out;
}

Result<Bytes> spki_sha256_pem_file(const std::string& path) {
  std::unique_ptr<FILE, decltype(&fclose)> f(fopen(path.c_str(), "re"), fclose);
  if (!f) return Error::sys("opening " + path);
  const X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return openssl_error("reading certificate " + path);
  return spki_sha256(cert.get());
}

Connection::~Connection() {
  // A best-effort close_notify: the peer learns the session ended on purpose.
  SSL_shutdown(ssl_);
  SSL_free(ssl_);
  ::close(fd_);
}

Status Connection::write(std::span<const uint8_t> data) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!data.empty()) {
    auto n = drive(ssl_, fd_, deadline, "sending to the peer", [&] {
      return SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
    });
    if (!n) return n.error();
    if (*n == 0) return Error{"sending to the peer: the connection was closed"};
    data = data.subspan(static_cast<size_t>(*n));
  }
  return {};
}

Result<size_t> Connection::read(std::span<uint8_t> data, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto n = drive(ssl_, fd_, deadline, "receiving from the peer",
                 [&] { return SSL_read(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20))); });
  if (!n) return n.error();
  return static_cast<size_t>(*n);
}

Result<Bytes> Connection::exporter(size_t length) const {
  Bytes out(length);
  if (SSL_export_keying_material(ssl_, out.data(), out.size(), kExporterLabel.data(), kExporterLabel.size(), nullptr,
                                 0, 0) != 1)
    return openssl_error("deriving the TLS exporter");
  return out;
}

X509* Connection::peer_certificate() const { return SSL_get0_peer_certificate(ssl_); }

std::string Connection::cipher() const {
  return std::string(SSL_get_version(ssl_)) + " " + SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
}

Result<std::unique_ptr<Connection>> connect(const ClientOptions& options) {
  if (options.pin.size() != 32) return Error{"no pin for the conductor's key"};
  if (auto s = load_providers(false); !s) return s.error();
  auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  auto ctx = new_context(TLS_client_method(), options.identity ? property_query(options.identity->key_uri) : nullptr);
  if (!ctx) return ctx.error();
  if (options.identity != nullptr) {
    if (auto s = use_identity(ctx->get(), *options.identity); !s) return s.error();
  }
  PinCheck pin{options.pin, false, {}};
  SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx->get(), verify_pin, &pin);
  std::string where = options.host + ":" + std::to_string(options.port);
  auto fd = tcp_connect(options.host, options.port, deadline);
  if (!fd) return fd.error();
  Fd owned(*fd);
  SslPtr ssl(SSL_new(ctx->get()));
  if (ssl == nullptr) return openssl_error("creating a TLS session");
  SSL_set_fd(ssl.get(), owned.get());
  SSL_set_tlsext_host_name(ssl.get(), options.host.c_str());
  auto done = drive(ssl.get(), owned.get(), deadline, "TLS handshake", [&] { return SSL_connect(ssl.get()); });
  if (!done || *done == 0) {
    if (pin.mismatch)
      return Error{"TLS handshake with " + where + ": the conductor's key " + to_hex(pin.seen) +
                   " is not the one the token pins (" + to_hex(pin.pin) + ")"};
    return (done ? Error{"TLS handshake: closed by the peer", ECONNRESET} : done.error()).context("connecting to " + where);
  }
  return std::unique_ptr<Connection>(new Connection(owned.release(), ssl.release(), where));
}

Result<std::unique_ptr<Server>> Server::listen(const ServerOptions& options) {
  if (auto s = load_providers(false); !s) return s.error();
  auto ctx = new_context(TLS_server_method(), property_query(options.identity.key_uri));
  if (!ctx) return ctx.error();
  if (auto s = use_identity(ctx->get(), options.identity); !s) return s.error();
  if (!options.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx->get(), options.client_ca_file.c_str(), nullptr) != 1)
      return openssl_error("loading client CA " + options.client_ca_file);
    SSL_CTX_set_client_CA_list(ctx->get(), SSL_load_client_CA_file(options.client_ca_file.c_str()));
    SSL_CTX_set_verify(ctx->get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(options.port);
  std::string address = options.address;
  if (address == "0.0.0.0" || address == "::") address = "::";
  else if (address.find(':') == std::string::npos) address = "::ffff:" + address;
  if (::inet_pton(AF_INET6, address.c_str(), &addr.sin6_addr) != 1) return Error{"bad listen address " + options.address};
  Fd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Error::sys("creating a TCP socket");
  int one = 1, zero = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  std::string where = options.address + ":" + std::to_string(options.port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Error::sys("binding " + where);
  if (::listen(fd.get(), 128) != 0) return Error::sys("listening on " + where);
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return std::unique_ptr<Server>(new Server(fd.release(), ctx->release(), ntohs(addr.sin6_port)));
}

Server::~Server() {
  SSL_CTX_free(ctx_);
  ::close(fd_);
}

std::optional<Server::Accepted> Server::accept_tcp(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  sockaddr_storage from{};
  socklen_t len = sizeof from;
  int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return std::nullopt;
  return Accepted{fd, address_of(from)};
}

Result<std::unique_ptr<Connection>> Server::accept(int timeout_ms) {
  auto accepted = accept_tcp(timeout_ms);
  if (!accepted) return std::unique_ptr<Connection>();
  return handshake(*accepted);
}

Result<std::unique_ptr<Connection>> Server::handshake(Accepted accepted) {
  Fd fd(accepted.fd);
  const std::string peer = accepted.peer;
  SslPtr ssl(SSL_new(ctx_));
  if (ssl == nullptr) return openssl_error("creating a TLS session");
  SSL_set_fd(ssl.get(), fd.get());
  auto deadline = Clock::now() + std::chrono::seconds(10);
  auto done = drive(ssl.get(), fd.get(), deadline, "TLS handshake", [&] { return SSL_accept(ssl.get()); });
  if (!done || *done == 0) {
    return (done ? Error{"TLS handshake: closed by the peer"} : done.error()).context("client " + peer);
  }
  return std::unique_ptr<Connection>(new Connection(fd.release(), ssl.release(), peer));
}

}  // namespace sedge::onboarding::tls

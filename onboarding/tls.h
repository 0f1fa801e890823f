// TLS 1.3 over TCP for the onboarding channels (OpenSSL 3): the conductor's listeners on 930 and
// 933, and the router's connections to them. The router trusts the conductor by a pin (SHA-256
// of its SubjectPublicKeyInfo, carried by the signed onboarding token), not by a web PKI; on 933
// the conductor requires a client certificate issued by its own CA. Private keys are loaded by
// URI through OSSL_STORE, so "file:/…" and the tpm2 provider's "handle:0x81…" are the same call
// and a TPM key never leaves the TPM.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace sedge::onboarding::tls {

using Bytes = std::vector<uint8_t>;

// The label both ends feed to the TLS exporter (RFC 8446 7.5) to bind the attestation to this
// very session: a quote made for one TLS session is worthless in another.
inline constexpr std::string_view kExporterLabel = "EXPORTER-sedge-onboarding-v1";

// Loads the providers a key URI needs ("handle:" keys need tpm2; its TCTI comes from
// TPM2OPENSSL_TCTI). Idempotent.
Status load_providers(bool tpm2);

// SHA-256 of a certificate's SubjectPublicKeyInfo (DER): what pins compare.
Bytes spki_sha256(X509* cert);
Result<Bytes> spki_sha256_pem_file(const std::string& path);

struct Identity {
  std::string certificate_file;  // PEM, leaf first (then any intermediates)
  std::string key_uri;           // PEM path, or an OSSL_STORE URI such as "handle:0x81008003"
};

class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status write(std::span<const uint8_t> data);
  // Up to data.size() bytes; 0 when the peer closed; an error on timeout or a TLS failure.
  Result<size_t> read(std::span<uint8_t> data, int timeout_ms);
  // Keying material from the TLS exporter (both ends derive the same bytes).
  Result<Bytes> exporter(size_t length) const;
  // The peer's certificate (nullptr when it sent none); owned by the connection.
  X509* peer_certificate() const;
  std::string peer_address() const { return peer_; }
  std::string cipher() const;

 private:
  friend class Server;
  friend Result<std::unique_ptr<Connection>> connect(const struct ClientOptions&);
  Connection(int fd, SSL* ssl, std::string peer) : fd_(fd), ssl_(ssl), peer_(std::move(peer)) {}
  int fd_;
  SSL* ssl_;
  std::string peer_;
};

struct ClientOptions {
  std::string host;
  uint16_t port = 930;
  Bytes pin;                        // required: SHA-256 of the conductor's SPKI
  const Identity* identity = nullptr;  // a client certificate (port 933)
  int timeout_ms = 10000;
};

// Connects and completes a TLS 1.3 handshake; a server whose key does not match the pin is
// refused during the handshake, before anything is sent to it.
Result<std::unique_ptr<Connection>> connect(const ClientOptions& options);

struct ServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 930;
  Identity identity;
  std::string client_ca_file;  // set: clients must present a certificate issued by this CA
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> listen(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Waits up to timeout_ms for a client and completes its handshake. An empty pointer means
  // the wait ran out; a failed handshake is an error (the listener stays open).
  Result<std::unique_ptr<Connection>> accept(int timeout_ms);
  // The same in two steps, so that a server can run handshakes off its accept loop (a slow or
  // silent client then delays only itself): the TCP connection, then its TLS handshake, which
  // owns and closes the socket whatever happens.
  struct Accepted {
    int fd;
    std::string peer;
  };
  std::optional<Accepted> accept_tcp(int timeout_ms);
  Result<std::unique_ptr<Connection>> handshake(Accepted accepted);
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }

 private:
  Server(int fd, SSL_CTX* ctx, uint16_t port) : fd_(fd), ctx_(ctx), port_(port) {}
  int fd_;
  SSL_CTX* ctx_;
  uint16_t port_;
};

}  // namespace sedge::onboarding::tls

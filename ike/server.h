// A multi-SA IKEv2 responder: one pair of UDP endpoints (500 and 4500) and many concurrent IKE
// SAs, keyed by our SPI (half-open ones also by the initiator's SPI and address), on an sd-event
// loop in the calling thread. The costly steps (the Diffie-Hellman of IKE_SA_INIT, AUTH and the
// CHILD_SA keys of IKE_AUTH) run on a WorkerPool; their results come back to the loop through
// an eventfd. The exchanges themselves are the Responder's (ike/responder.h), step by step.
//
// Retransmitted requests get the cached response. With `cookie_threshold` or more half-open SAs,
// IKE_SA_INIT without a valid COOKIE is answered with one (RFC 7296 2.6): stateless, a keyed
// hash of Ni, the initiator's address and SPIi under a secret that is rotated (the previous one
// is still accepted). A per-SA handler, which the caller implements, installs the first CHILD_SA.
// Established SAs answer INFORMATIONAL (liveness, the peer's delete); CREATE_CHILD_SA is refused
// with NO_ADDITIONAL_SAS (rekeys run in ike::serve for single tunnels).
#pragma once

#include <netinet/in.h>
#include <systemd/sd-event.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>

#include "common/result.h"
#include "ike/endpoint.h"
#include "ike/responder.h"
#include "ike/worker_pool.h"

namespace sedge::ike {

// What the caller does with the kernel for each IKE SA; called on the loop's thread.
class SaHandler {
 public:
  virtual ~SaHandler() = default;
  virtual Result<uint32_t> allocate_spi(const sockaddr_in& peer) = 0;  // our inbound ESP SPI
  // The first CHILD_SA of a new IKE SA (both directions); an error deletes the IKE SA here.
  virtual Status install(const EstablishedSa& sa, const sockaddr_in& peer) = 0;
  // The peer deleted the IKE SA (its CHILD_SA goes with it).
  virtual void remove(const EstablishedSa& sa, const sockaddr_in& peer) = 0;
};

struct ServerConfig {
  sockaddr_in local{};  // the address to listen on
  uint16_t ike_port = 500, natt_port = 4500;
  Suite suite;             // the one suite accepted
  TunnelLookup tunnel_for;  // the tunnel of an initiator identity (null: refused)
  SaHandler* handler = nullptr;
  unsigned workers = 0;    // 0: one per core
  size_t cookie_threshold = 256;  // half-open SAs from which IKE_SA_INIT needs a COOKIE (0: always)
  std::chrono::seconds cookie_secret_lifetime{60};
  std::chrono::seconds half_open_timeout{30};
};

struct ServerStats {
  size_t established = 0;  // IKE SAs up now
  size_t half_open = 0;
  uint64_t setups = 0;       // CHILD_SAs installed since the start
  uint64_t cookies_sent = 0;
  uint64_t refused = 0;      // requests answered with an error notify
  uint64_t dropped = 0;      // malformed, unknown SPI, does not decrypt, bad COOKIE, ...
  uint64_t retransmits_answered = 0;
  uint64_t deleted = 0;      // IKE SAs the peer deleted
  uint64_t expired = 0;      // half-open SAs that timed out
};

class Server {
 public:
  // Opens both endpoints and starts the worker pool.
  static Result<std::unique_ptr<Server>> create(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds the server's sources to `event` (the loop of the calling thread, which runs it).
  Status attach(sd_event* event);
  // A loop of its own in the calling thread, until stop().
  Status run();
  void stop();  // from any thread
  ServerStats stats() const;  // from any thread

 private:
  struct Sa;
  using HalfOpenKey = std::tuple<uint64_t, uint32_t, uint16_t>;  // SPIi, address, port
  explicit Server(ServerConfig config) : config_(std::move(config)) {}
  static int on_packet(sd_event_source* s, int fd, uint32_t revents, void* self);
  static int on_completions(sd_event_source* s, int fd, uint32_t revents, void* self);
  static int on_wake(sd_event_source* s, int fd, uint32_t revents, void* self);
  static int on_tick(sd_event_source* s, uint64_t usec, void* self);
  void handle(const Endpoint& endpoint, Bytes wire, const sockaddr_in& from);
  void handle_init(const Endpoint& endpoint, Bytes wire, Message m, const sockaddr_in& from);
  void handle_auth(Sa& sa, const Endpoint& endpoint, Bytes wire, const Message& m, const sockaddr_in& from);
  void handle_established(Sa& sa, const Endpoint& endpoint, Bytes wire, const Message& m, const sockaddr_in& from);
  void init_done(const std::shared_ptr<Sa>& sa, Result<HalfOpenSa> half);
  void auth_done(const std::shared_ptr<Sa>& sa, Result<AuthAnswer> answer, Refusal refusal);
  void respond(Sa& sa, Bytes response);
  void erase(uint64_t spi_r);
  Bytes cookie_for(uint32_t version, const Secret& secret, const Bytes& ni, const sockaddr_in& from, uint64_t spi_i) const;
  bool cookie_ok(const Message& m, const sockaddr_in& from) const;
  void rotate_cookie_secret();
  void publish_stats();

  ServerConfig config_;
  Endpoint ike_port_, natt_port_;
  std::unique_ptr<WorkerPool> pool_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  sd_event* event_ = nullptr;
  sd_event_source* sources_[5] = {};
  std::unordered_map<uint64_t, std::shared_ptr<Sa>> sas_;  // by our SPI
  std::map<HalfOpenKey, uint64_t> half_open_;              // -> our SPI
  Secret cookie_secret_, previous_cookie_secret_;
  uint32_t cookie_version_ = 0;
  std::chrono::steady_clock::time_point cookie_rotated_;
  ServerStats counters_;  // the loop's own; copied out under the lock
  mutable std::mutex stats_mutex_;
  ServerStats published_;
};

}  // namespace sedge::ike

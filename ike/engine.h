// The IKE engine of a process on its sd-event loop: the shared sockets (ike/socket.h), every IKE
// SA of every tunnel (ike/ike_sa.h) demultiplexed by our SPI, one timer for all of them, and the
// responder's protection: COOKIEs above a half-open threshold (RFC 7296 2.6), caps on half-open
// SAs per source address and in total, and half-open SAs given up after a timeout. sedged,
// sedge-connect and the benchmarks all run this.
#pragma once

#include <systemd/sd-event.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "common/result.h"
#include "common/secret.h"
#include "ike/ike_sa.h"
#include "ike/socket.h"

namespace sedge::ike {

// The accuracy of the loop's timers: sd-event's default (0 asks for it) is 250 ms, which would
// make retransmissions, DPD verdicts and failovers late.
inline constexpr uint64_t kTimerAccuracyUsec = 1000;

// strongSwan's defaults where it has them (charon.cookie_threshold, block_threshold,
// half_open_timeout); a total cap so a flood cannot take the memory.
struct ResponderLimits {
  size_t cookie_threshold = 10;      // half-open SAs from which IKE_SA_INIT must carry a COOKIE
  size_t half_open_per_source = 5;   // half-open SAs one address may hold
  size_t half_open_max = 10000;      // half-open SAs in all
  std::chrono::seconds half_open_timeout{30};
  // The COOKIE secret changes this often (RFC 7296 2.6); COOKIEs of the previous one are still
  // accepted, so one stays good for one to two lifetimes. 0: never changed.
  std::chrono::seconds cookie_secret_lifetime{60};
};

struct EngineOptions {
  SocketOptions sockets;
  ResponderLimits limits;
};

class Engine {
 public:
  // Events of every IKE SA; `down` is the last one, after which the SA is destroyed.
  using Observer = std::function<void(IkeSa& sa, const SaEvent& event)>;

  static Result<std::unique_ptr<Engine>> open(sd_event* loop, const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void observe(Observer observer) { observer_ = std::move(observer); }
  // Accept initiators: `init_config` answers IKE_SA_INIT (suite, fragmentation, CAs), `lookup`
  // picks the tunnel at IKE_AUTH. Without it, IKE_SA_INIT requests are dropped.
  void listen(SaConfig init_config, ConfigLookup lookup, SaEnvironment env);
  // An initiator from `local` (its address; the port is the engine's) to `remote`'s IKE port.
  IkeSa* initiate(SaConfig config, SaEnvironment env, const Address& local, const Address& remote);
  // Deletes an IKE SA (INFORMATIONAL Delete) or, `abandon`, forgets it leaving its kernel objects.
  void close(IkeSa* sa, bool abandon = false);

  Time now() const;
  size_t size() const { return sas_.size(); }
  size_t half_open() const { return half_open_.size(); }
  uint16_t ike_port() const { return sockets_->ike_port(); }
  uint16_t natt_port() const { return sockets_->natt_port(); }
  // The local address the kernel would use towards `remote` (a connected UDP socket's).
  static Result<Address> source_for(const Address& remote);
  struct Stats {
    uint64_t received = 0, dropped = 0, cookies_sent = 0, refused_half_open = 0, half_open_expired = 0;
    uint64_t refused = 0;               // IKE_SA_INIT requests refused (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN)
    uint64_t retransmits_answered = 0;  // the peers' requests sent again, answered from the cached response
    uint64_t retransmitted = 0;         // requests of ours sent again (no response in time)
    uint64_t cookies_received = 0;      // COOKIEs responders asked our IKE_SA_INIT requests for
  };
  const Stats& stats() const { return stats_; }

 private:
  explicit Engine(sd_event* loop);
  void receive(Datagram&& d);
  void on_init_request(const Message& m, Datagram& d);
  bool cookie_ok(const Message& m, const Datagram& d);
  Bytes cookie_for(const Message& m, const Datagram& d, uint8_t version) const;
  void rotate_cookie_secret(Time now);
  // After an SA ran: its sends out, its SPIs indexed, its events delivered, its timer set;
  // destroyed if it closed.
  void settle(IkeSa* sa);
  size_t flush(IkeSa* sa);  // the IKE datagrams sent (keepalives left out)
  void forget(IkeSa* sa);
  void drop_half_open(IkeSa* sa);
  void note_refusal(Time t);
  void arm();
  static int on_timer(sd_event_source* source, uint64_t usec, void* engine);
  void expire_half_open(Time now);

  sd_event* loop_;
  sd_event_source* timer_ = nullptr;
  std::unique_ptr<Sockets> sockets_;
  ResponderLimits limits_;
  std::optional<SaConfig> listen_config_;
  ConfigLookup lookup_;
  SaEnvironment listen_env_;
  Observer observer_;
  std::unordered_map<IkeSa*, std::unique_ptr<IkeSa>> sas_;
  std::unordered_map<uint64_t, IkeSa*> by_spi_;             // our SPI of every generation
  std::map<IkeSa*, std::vector<uint64_t>> spis_of_;
  std::set<std::pair<Time, IkeSa*>> timers_;
  std::map<IkeSa*, Time> timer_of_;
  // Half-open responder SAs: by the initiator's address and SPI (a retransmitted IKE_SA_INIT
  // gets the same response), with when they started and their source.
  struct HalfOpen {
    Address from;
    uint64_t spi_i = 0;
    Time started{};
  };
  std::map<IkeSa*, HalfOpen> half_open_;
  std::map<std::pair<Address, uint64_t>, IkeSa*> half_open_by_init_;  // kept until the SA goes
  std::map<IkeSa*, std::pair<Address, uint64_t>> init_of_;
  std::deque<Time> refusals_;  // IKE_SA_INIT refusals of the last second (at most cookie_threshold)
  std::map<Address, size_t> half_open_per_source_;  // by address without port
  Secret cookie_secret_, cookie_previous_;  // of cookie_version_ and the version before it
  uint8_t cookie_version_ = 0;
  Time cookie_secret_born_{};
  Stats stats_;
};

}  // namespace sedge::ike

// One IKE SA and its CHILD_SAs, free of I/O: datagrams and the time go in (`process`, `tick`),
// datagrams to send and events come out (`take_sends`, `take_events`), and the kernel is asked
// for CHILD_SAs through a ChildSaHandler. No sockets, no clock reads, no threads: the socket
// layer and the event loop drive it, and tests drive it on a fake clock.
//
// Each exchange is a task (ike/tasks/): the task manager here owns message IDs (one request of
// ours outstanding at a time), retransmission with backoff as strongSwan does it, the cache of
// our last response to the peer, and the queue of tasks this side wants to start (rekeys,
// deletes, liveness checks, new CHILD_SAs). Requests from the peer are answered by the task of
// their exchange in its responder role.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "ike/address.h"
#include "ike/auth.h"
#include "ike/certs.h"
#include "ike/child_sa.h"
#include "ike/crypto.h"
#include "ike/fragment.h"
#include "ike/message.h"
#include "ike/tunnel.h"

namespace sedge::ike {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;

class KeyLog;

// Retransmission of our requests, as strongSwan's charon.retransmit_*: the n-th retransmission
// (n from 0) after timeout * base^n, each shortened by up to `jitter` of itself; after `tries`
// retransmissions and one more wait the peer is given up.
struct RetransmitConfig {
  std::chrono::milliseconds timeout{4000};
  double base = 1.8;
  int tries = 5;
  double jitter = 0.0;  // 0 to 0.5
};

// How one IKE SA runs: its tunnel, algorithms, timers and CHILD_SAs.
struct SaConfig {
  TunnelSpec tunnel;
  Suite suite;  // the first proposals; once negotiated, what was chosen
  // Every proposal in order of preference (IkeProposal=, EspProposal= lists, strongSwan's
  // order): the IKE algorithms of `ike_offers`, the ESP ones of `esp_offers`. Empty: `suite`.
  std::vector<Suite> ike_offers, esp_offers;
  uint16_t pfs_group = 0;     // DH group of CREATE_CHILD_SA (0: no PFS)
  bool nat_traversal = true;  // detect NAT and float to the NAT-T port (RFC 7296 2.23)
  RetransmitConfig retransmit;
  std::chrono::seconds keepalive{20};    // NAT keepalives, when a NAT is detected
  std::chrono::seconds dpd_interval{0};  // liveness check after this much silence (0: off)
  std::chrono::seconds dpd_timeout{0};   // a request unanswered this long: the peer is dead (0: retransmission decides)
  // Rekeying (RFC 7296 2.8): at `rekey_fraction` of the lifetime less a random jitter of up to
  // `rekey_jitter` of it; the tunnel is given up if that has not succeeded when the lifetime
  // runs out. 0: this side does not rekey (it still answers the peer's rekeys).
  std::chrono::milliseconds child_lifetime{0};
  std::chrono::milliseconds ike_lifetime{0};
  double rekey_jitter = 0.1;
  double rekey_fraction = 0.9;
  // More CHILD_SAs (RFC 7296 1.3.1): this side creates one for each pair after IKE_AUTH, and
  // accepts the peer's, narrowed to one of `local_ts` x `remote_ts` (TS_UNACCEPTABLE if none
  // fits), up to `max_children` in all (NO_ADDITIONAL_SAS beyond). Empty `local_ts`/`remote_ts`:
  // the tunnel's own.
  std::vector<SelectorPair> create_children;
  std::vector<TrafficSelector> local_ts, remote_ts;
  size_t max_children = 8;
};

// What an IKE SA acts on besides its datagrams.
struct SaEnvironment {
  ChildSaHandler* children = nullptr;  // the kernel (required)
  KeyLog* key_log = nullptr;           // set: every IKE SA's and CHILD_SA's keys are written (debugging)
  uint64_t seed = 0;                   // of the rekey and retransmission jitter (0: random)
};

// A datagram to send: `from`'s port says which socket (the NAT-T one adds the non-ESP marker).
struct Outgoing {
  Bytes data;
  Address from, to;
  bool keepalive = false;  // a NAT keepalive (one 0xFF byte), not an IKE message
};

enum class SaEventKind : uint8_t { up, child_up, child_rekeyed, child_down, ike_rekeyed, down };
struct SaEvent {
  SaEventKind kind = SaEventKind::up;
  std::string text;
  uint32_t child_index = 0;
};

enum class SaState : uint8_t { connecting, established, closed };

// The responder's choice of tunnel by the initiator's identity (IKE_AUTH); null: refused.
using ConfigLookup = std::function<const SaConfig*(uint8_t id_type, const std::string& id)>;

class Task;
struct Generation;
struct Child;

// ---- The state of the SA, a plain value the tasks work on ----

// One IKE SA's keys and message IDs: the current one, and during a rekey the one it replaces.
struct Generation {
  bool initiator = true;  // we are the original initiator of this IKE SA
  uint64_t spi_i = 0, spi_r = 0;
  IkeKeys keys;
  uint32_t next_id = 0;       // our next request
  uint32_t peer_next_id = 0;  // the peer's next request
  uint64_t iv = 1;            // SK payload IV counter: never repeated under one key
  std::optional<uint32_t> answered;  // the peer's last request, and our response to it
  std::vector<Bytes> answer;
  bool dying = false;         // replaced by a rekey: deleted by whoever initiated it
  bool delete_by_us = false;
  Time delete_by = Time::max();  // replaced, the peer to delete it: given up on then
  uint64_t our_spi() const { return initiator ? spi_i : spi_r; }
  const SkKey& in() const { return initiator ? keys.sk_er : keys.sk_ei; }
  const SkKey& out() const { return initiator ? keys.sk_ei : keys.sk_er; }
  uint8_t role() const { return initiator ? kFlagInitiator : 0; }
  std::string name() const;  // "0123456789abcdef_i fedcba9876543210_r"
};

struct Child {
  ChildSa sa;
  bool outbound = false;      // its outbound SA is installed
  bool superseded = false;    // rekeyed: being deleted
  bool redundant = false;     // lost a rekey collision
  bool delete_by_us = false;  // we send its Delete
  Time outbound_by = Time::max();  // a responder's rekeyed pair: outbound at the latest then
  Time rekey_at = Time::max(), expire_at = Time::max();
  bool live() const { return !superseded && !redundant; }
};

// What IKE_SA_INIT left for IKE_AUTH.
struct InitExchange {
  Bytes request, response;  // both messages, as AUTH signs them
  Bytes ni, nr;
  std::vector<uint16_t> peer_hashes;  // the peer's SIGNATURE_HASH_ALGORITHMS
};

class IkeSa {
 public:
  // An initiator: its IKE_SA_INIT request is in take_sends() at once.
  static std::unique_ptr<IkeSa> initiate(SaConfig config, SaEnvironment env, Address local, Address remote, Time now);
  // A responder for an IKE_SA_INIT request that the caller has parsed (and checked for a
  // COOKIE): answers it, or returns the refusal to send (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN)
  // as an error whose message says why, with `refusal` set. `init_config` gives the suite,
  // fragmentation and CAs of IKE_SA_INIT; `lookup` the tunnel at IKE_AUTH.
  static Result<std::unique_ptr<IkeSa>> respond(const SaConfig& init_config, ConfigLookup lookup, SaEnvironment env,
                                                const Message& request, std::span<const uint8_t> wire, Address local,
                                                Address remote, Time now, Outgoing* refusal);
  ~IkeSa();
  IkeSa(const IkeSa&) = delete;
  IkeSa& operator=(const IkeSa&) = delete;

  // One datagram from the peer (already parsed; `wire` its bytes, `to` where it arrived).
  void process(const Message& message, std::span<const uint8_t> wire, const Address& from, const Address& to, Time now);
  // Timers: retransmissions, rekeys, liveness checks, keepalives, lifetimes.
  void tick(Time now);
  // When tick() has something to do next (Time::max(): nothing).
  Time next_timer() const;
  // This side starts a rekey of the IKE SA or of CHILD_SA `index` now (as if its timer fired).
  void rekey_ike(Time now);
  void rekey_child(uint32_t index, Time now);
  // Deletes the IKE SA (an INFORMATIONAL with Delete; closed when answered or given up).
  void close(Time now);
  // The caller stops running it (the process exits): nothing is sent or removed; its kernel
  // objects stay until their hard lifetime.
  void abandon();

  std::vector<Outgoing> take_sends();
  std::vector<SaEvent> take_events();

  SaState state() const { return state_; }
  const Error& failure() const { return failure_; }  // why it closed
  const Generation* current() const;
  std::vector<uint64_t> local_spis() const;  // our SPI of every generation (for demultiplexing)
  const Child* child(uint32_t index) const;  // the active pair of a CHILD_SA
  std::vector<const Child*> children() const;
  const SaConfig& config() const { return config_; }
  bool encapsulated() const { return encapsulated_; }
  const Address& local() const { return local_; }
  const Address& remote() const { return remote_; }
  std::string name() const;  // the peer and our SPI, for logs

  // ---- For the tasks (ike/tasks/) ----
  SaConfig& mutable_config() { return config_; }
  const SaEnvironment& env() const { return env_; }
  std::list<Generation>& generations() { return generations_; }
  Generation* current_generation();
  std::list<Child>& child_list() { return children_; }
  InitExchange& init() { return init_; }
  const Task* outstanding() const;
  Task* outstanding_task();
  void enqueue(std::unique_ptr<Task> task);
  void emit(SaEventKind kind, std::string text, uint32_t child_index = 0);
  void established(Time now);  // IKE_AUTH done: timers start
  void fail(Error why);        // closes the SA: every CHILD_SA out of the kernel
  void float_to_natt();        // NAT detected: IKE and ESP move to the NAT-T port
  void set_config(const SaConfig& config) { config_ = config; }
  Time soft(std::chrono::milliseconds lifetime, Time now);  // rekey time with jitter
  Time hard(std::chrono::milliseconds lifetime, Time now) const;
  Time retry_soon(Time now);  // 1 to 4 s: after TEMPORARY_FAILURE or a busy SA
  void start_child_timers(Child& c, Time now);
  Time ike_rekey_at = Time::max(), ike_expire_at = Time::max();
  uint16_t child_group = 0;  // PFS group of our next CHILD_SA exchange (INVALID_KE_PAYLOAD may change it)
  uint16_t ike_group = 0;    // DH group of our next IKE SA rekey
  uint32_t next_index = 1;   // of the next new CHILD_SA
  size_t next_create = 0;    // the next of config.create_children to create
  Time create_at = Time::max();
  Generation* deleted_generation = nullptr;  // a replaced IKE SA the peer deleted in the request being answered
  bool peer_deleted = false;                 // the peer deleted the current IKE SA
  ConfigLookup lookup;                       // responder: the tunnel by the initiator's identity
  uint16_t natt_port = kNattPort;

  // The datagrams of a protected message of `g` (fragmented when negotiated).
  std::vector<Bytes> seal_for(Generation& g, const Header& header, const std::vector<Payload>& payloads);
  void send_datagrams(const std::vector<Bytes>& datagrams);

  bool fragmentation = false;  // we announced it and the peer did: its fragments are reassembled
  size_t fragment_size = 0;    // our protected messages' largest datagram (0: never fragmented)

 private:
  IkeSa(SaConfig config, SaEnvironment env, Address local, Address remote);
  void on_request(Generation& g, const Message& m, const std::vector<Payload>& inner, Time now);
  void on_response(Generation& g, const Message& m, std::span<const uint8_t> wire, const std::vector<Payload>& inner, Time now);
  void start_next(Time now);
  void retransmit(Time now);
  void check_lifetimes(Time now);
  void install_due_outbound(Time now);
  void forget_undeleted_generations(Time now);
  Time retransmit_delay(int n);

  SaConfig config_;
  SaEnvironment env_;
  Address local_, remote_;
  bool encapsulated_ = false;
  SaState state_ = SaState::connecting;
  Error failure_;
  std::list<Generation> generations_;  // the current one first
  std::list<Child> children_;
  InitExchange init_;
  Reassembler fragments_;
  std::mt19937_64 rng_;
  std::deque<std::unique_ptr<Task>> queue_;
  // Our outstanding request.
  struct Outstanding {
    std::unique_ptr<Task> task;
    Generation* on = nullptr;
    uint32_t id = 0;
    Exchange exchange = Exchange::informational;
    std::vector<Bytes> wire;
    Time first_sent{}, next_retransmit{};
    int retransmitted = 0;
  };
  std::optional<Outstanding> out_;
  Time last_heard_{};
  Time next_keepalive_ = Time::max();
  std::vector<Outgoing> sends_;
  std::vector<SaEvent> events_;
  friend class Task;
};

}  // namespace sedge::ike

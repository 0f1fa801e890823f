// A task is one exchange (RFC 7296 section 1), as strongSwan's libcharon/sa/ikev2/tasks: as
// initiator it builds its request and processes the response; as responder the exchange's
// answer function (below) turns the peer's request into our response. The task manager in
// IkeSa (ike/ike_sa.cc) sends, numbers and retransmits the requests.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/hex.h"
#include "ike/ike_sa.h"

namespace sedge::ike {

// A request a task wants sent: on which IKE SA generation, which exchange, what payloads (the
// inside of the SK payload; IKE_SA_INIT's go in the clear).
struct Request {
  Generation* on = nullptr;
  Exchange exchange = Exchange::informational;
  std::vector<Payload> payloads;
};

enum class TaskKind : uint8_t { ike_init, ike_auth, child_create, child_rekey, ike_rekey, child_delete, ike_delete, liveness, notify };

class Task {
 public:
  virtual ~Task() = default;
  virtual TaskKind kind() const = 0;
  virtual const char* name() const = 0;  // for logs: "CHILD_SA rekey"
  // The request, or nothing: the task has nothing to do after all (it logged why).
  virtual std::optional<Request> build(IkeSa& sa, Time now) = 0;
  // The peer's response (`inner`: decrypted payloads, IKE_SA_INIT's plain ones): done, or
  // build and send again (a COOKIE, another DH group).
  enum class Next : uint8_t { done, again };
  virtual Next process(IkeSa& sa, const Message& m, std::span<const uint8_t> wire, const std::vector<Payload>& inner,
                       Time now) = 0;
  // No response after every retransmission (the SA is being failed).
  virtual void abort(IkeSa& /*sa*/) {}
  // Retransmissions of this request at most (-1: as configured).
  virtual int max_tries() const { return -1; }
};

// ---- The tasks this side starts ----
std::unique_ptr<Task> make_ike_init();
std::unique_ptr<Task> make_ike_auth();
std::unique_ptr<Task> make_child_create(SelectorPair selectors);   // a new CHILD_SA
std::unique_ptr<Task> make_child_rekey(uint32_t spi_in);            // the pair with this inbound SPI
std::unique_ptr<Task> make_ike_rekey();
std::unique_ptr<Task> make_child_delete(uint32_t spi_in);
std::unique_ptr<Task> make_ike_delete(Generation* generation);
std::unique_ptr<Task> make_liveness();
// Tells the responder its AUTH failed (2.21.2), then fails the SA with `why`.
std::unique_ptr<Task> make_auth_failed_notify(Error why);

// ---- The answers to the peer's requests: the inner payloads of our response ----
// IKE_AUTH (responder): authenticates the initiator, creates the first CHILD_SA.
std::vector<Payload> answer_ike_auth(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time now);
// CREATE_CHILD_SA: a new CHILD_SA, a CHILD_SA rekey or an IKE SA rekey.
std::vector<Payload> answer_create_child(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time now);
std::vector<Payload> answer_ike_rekey(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time now);
// INFORMATIONAL: deletes, notifies, liveness checks.
std::vector<Payload> answer_informational(IkeSa& sa, Generation& g, const std::vector<Payload>& inner, Time now);

// ---- Shared by the tasks ----
// A notify payload (`protocol` and `spi` for the CHILD_SA it concerns).
Payload notify_payload(uint16_t type, Bytes data = {}, uint8_t protocol = 0, Bytes spi = {});
// A response that refuses the peer's request with one error notify (logged).
std::vector<Payload> refuse(const char* what, uint16_t type, Bytes data = {}, uint8_t protocol = 0, Bytes spi = {});
// The first error notify (type below 16384) among payloads.
std::optional<Notify> error_notify(const std::vector<Payload>& payloads);
const Payload* find_payload(const std::vector<Payload>& payloads, uint8_t type);
// The notifies of a type.
std::optional<Notify> find_notify(const std::vector<Payload>& payloads, uint16_t type);
// A CHILD_SA of `shape` (index, selectors, outer addresses, suite) with its SPIs and its keys
// from KEYMAT; `initiator`: this side initiated the exchange that made it.
ChildSa keyed_pair(ChildKeys keys, bool initiator, const ChildSa& shape, uint32_t spi_in, uint32_t spi_out);
// The suite's ESP transforms with a DH group for PFS (0: none); IKE transforms with `group`.
std::vector<Transform> esp_with(const Suite& suite, uint16_t group);
std::vector<Transform> ike_with(const Suite& suite, uint16_t group);
Proposal esp_proposal(uint32_t spi, const Suite& suite, uint16_t group);
// The first of our selector pairs (`c.local_ts` x `c.remote_ts`) that overlaps what the peer
// asks for (TSi: its side, our remote), narrowed to the overlap (RFC 7296 2.9).
std::optional<SelectorPair> narrowed_pair(const SaConfig& c, const std::vector<TrafficSelector>& tsi,
                                          const std::vector<TrafficSelector>& tsr);
// The offers of a configuration (its suite alone when it lists none), and what choosing one
// changes in a suite: the IKE SA's algorithms, or the CHILD_SAs'.
std::vector<Suite> ike_offers(const SaConfig& config);
std::vector<Suite> esp_offers(const SaConfig& config);
void take_ike_part(Suite& to, const Suite& from);
void take_esp_part(Suite& to, const Suite& from);
Proposal ike_proposal(Bytes spi, const Suite& suite, uint16_t group);
// An INVALID_KE_PAYLOAD asking for another group we support: `group` becomes it.
bool take_group(const std::optional<Notify>& refusal, uint16_t& group);
Bytes group_data(uint16_t group);  // INVALID_KE_PAYLOAD's data
// A CHILD_SA of `sa` without keys: index, selectors and the outer addresses and encapsulation.
ChildSa child_shape(const IkeSa& sa, uint32_t index, const TrafficSelector& local, const TrafficSelector& remote);

}  // namespace sedge::ike

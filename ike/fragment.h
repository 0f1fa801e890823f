// IKE fragmentation (RFC 7383): a protected message too large for one IP datagram is sent as
// Encrypted Fragment (SKF) payloads, each separately encrypted and integrity-protected, and the
// peer's fragments are authenticated one by one, then reassembled into the inner payloads.
// Used only when both sides announced IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/result.h"
#include "ike/crypto.h"
#include "ike/message.h"
#include "ike/protocol.h"

namespace sedge::ike {

// strongSwan's names and meanings (its `fragmentation` option): yes announces support and
// fragments our messages when the peer announced it too; accept announces support (the peer may
// fragment) but never fragments ours; force is yes for IKEv2 (IKE_SA_INIT is never fragmented,
// so there is nothing to force); no neither announces nor accepts fragments.
enum class FragmentMode : uint8_t { yes, accept, force, no };
std::string_view to_string(FragmentMode mode);

struct FragmentConfig {
  FragmentMode mode = FragmentMode::yes;
  size_t size = 1280;  // the largest IP datagram a fragment may need (IPv4 + UDP + IKE), as
                       // charon.fragment_size
  static constexpr size_t kMinSize = 576,
                          kMaxSize = 65535;  // RFC 7383 2.5.1; the largest IP datagram
  bool announces() const { return mode != FragmentMode::no; }
  bool sends() const { return mode == FragmentMode::yes || mode == FragmentMode::force; }
};

// The IKEV2_FRAGMENTATION_SUPPORTED notify (no data), and whether a peer's payloads carry it.
Payload fragmentation_supported_notify();
bool announces_fragmentation(const std::vector<Payload>& payloads);
// The size our fragments may take after IKE_SA_INIT: `config.size` when we send fragments and
// the peer announced support, else 0 (never fragment).
size_t fragment_size_for(const FragmentConfig& config,
                         const std::vector<Payload>& peer_init_payloads);

// A protected message as it goes on the wire: one SK message if it fits in `max_datagram`
// (or `max_datagram` is 0), else SKF fragments of the same message ID that each fit (IPv4 and
// UDP headers and the non-ESP marker of port 4500 counted), each with its own IV from
// `iv_counter` (advanced). An empty vector if the key does not fit its algorithm.
std::vector<Bytes> seal_message(const SkKey& key, const Header& header, uint8_t inner_first,
                                std::span<const uint8_t> inner, uint64_t& iv_counter,
                                size_t max_datagram);
// The content one fragment carries for this key and datagram size (0: too small).
size_t fragment_capacity(const SkKey& key, size_t max_datagram);

// Reassembly of the peer's fragmented messages (RFC 7383 2.6), by SPIs, message ID and
// direction. Every fragment is authenticated (decrypted) before it is kept; fragments with a
// bad number or total, duplicates, a total smaller than the one kept, a next-payload that is
// not 0 after fragment 1, or past the caps are dropped; a larger total starts the message over
// (2.6.1). Messages not completed within `timeout` are freed.
struct ReassemblyLimits {
  size_t max_fragments = 64;  // Total Fragments above this is refused
  size_t max_bytes = 65535;   // the reassembled content
  size_t max_messages = 4;    // in reassembly at once (the oldest is freed for a new one)
  std::chrono::milliseconds timeout{30000};
};

class Reassembler {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Reassembler(ReassemblyLimits limits = {}) : limits_(limits) {}
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;
  ~Reassembler();

  // The inner payloads of a protected message: an SK message is opened as ike::open does; an
  // SKF message is authenticated and kept, and once all its fragments are there the whole
  // content goes to the payload parser. A fragment kept while others are missing is an error
  // with code EINPROGRESS (not worth a warning); a dropped fragment is an error saying why.
  Result<std::vector<Payload>> open(const SkKey& key, const Message& message,
                                    std::span<const uint8_t> wire,
                                    Clock::time_point now = Clock::now());
  // Frees messages whose first fragment came more than `timeout` ago.
  void expire(Clock::time_point now);
  size_t pending() const { return messages_.size(); }
  size_t pending_bytes() const;

 private:
  using Key = std::tuple<uint64_t, uint64_t, uint32_t, bool>;  // SPIi, SPIr, message ID, response
  struct Partial {
    Exchange exchange{};
    uint16_t total = 0;
    uint8_t inner_first = kNoNext;
    Clock::time_point started{};
    size_t bytes = 0;
    std::map<uint16_t, Bytes> fragments;
  };
  Result<std::vector<Payload>> add(const SkKey& key, const Message& message,
                                   std::span<const uint8_t> wire, Clock::time_point now);
  void make_room();
  static void wipe(Partial& p);
  ReassemblyLimits limits_;
  std::map<Key, Partial> messages_;
};

}  // namespace sedge::ike

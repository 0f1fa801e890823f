#include "ike/fragment.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "common/log.h"

namespace sedge::ike {
namespace {

// What every fragment carries besides its content: IPv4 and UDP headers, the non-ESP marker
// (port 4500), the IKE header, the SKF payload's header with its fragment number and total.
constexpr size_t kIpUdpMarker = 20 + 8 + 4;
constexpr size_t kFixedOverhead = kIpUdpMarker + kHeaderSize + 4 + 4;
constexpr size_t kGcmIv = 8, kGcmIcv = 16, kCbcBlock = 16;

const char* exchange_name(Exchange e) {
  switch (e) {
    case Exchange::ike_sa_init:
      return "IKE_SA_INIT";
    case Exchange::ike_auth:
      return "IKE_AUTH";
    case Exchange::create_child_sa:
      return "CREATE_CHILD_SA";
    case Exchange::informational:
      return "INFORMATIONAL";
  }
  return "an unknown exchange";
}

std::string describe(const Header& h) {
  return std::string(exchange_name(h.exchange)) +
         ((h.flags & kFlagResponse) ? " response" : " request") + " (message ID " +
         std::to_string(h.message_id) + ")";
}

Error dropped(const std::string& why) {
  return Error{"dropped an IKE fragment: " + why, EBADMSG};
}

}  // namespace

std::string_view to_string(FragmentMode mode) {
  switch (mode) {
    case FragmentMode::yes:
      return "yes";
    case FragmentMode::accept:
      return "accept";
    case FragmentMode::force:
      return "force";
    case FragmentMode::no:
      return "no";
  }
  return "yes";
}

Payload fragmentation_supported_notify() {
  return {kNotify, false, encode_notify({0, {}, kNotifyFragmentationSupported, {}})};
}

bool announces_fragmentation(const std::vector<Payload>& payloads) {
  return std::any_of(payloads.begin(), payloads.end(), [](const Payload& p) {
    if (p.type != kNotify) return false;
    auto n = decode_notify(p.body);
    return n && n->type == kNotifyFragmentationSupported;
  });
}

size_t fragment_size_for(const FragmentConfig& config,
                         const std::vector<Payload>& peer_init_payloads) {
  return config.sends() && announces_fragmentation(peer_init_payloads) ? config.size : 0;
}

size_t fragment_capacity(const SkKey& key, size_t max_datagram) {
  if (key.encr() == kEncrAesCbc) {
    const size_t per = kFixedOverhead + kCbcBlock + integ_icv_size(key.integ());
    if (max_datagram < per + kCbcBlock) return 0;
    return (max_datagram - per) / kCbcBlock * kCbcBlock -
           1;  // whole blocks, the pad-length byte last
  }
  const size_t per = kFixedOverhead + kGcmIv + kGcmIcv + 1;  // the pad-length byte
  return max_datagram > per ? max_datagram - per : 0;
}

std::vector<Bytes> seal_message(const SkKey& key, const Header& header, uint8_t inner_first,
                                std::span<const uint8_t> inner, uint64_t& iv_counter,
                                size_t max_datagram) {
  Bytes whole = seal(key, header, inner_first, inner, iv_counter++);
  if (whole.empty()) return {};
  if (max_datagram == 0 || whole.size() + kIpUdpMarker <= max_datagram) return {std::move(whole)};
  const size_t capacity = fragment_capacity(key, max_datagram);
  const size_t total = capacity ? (inner.size() + capacity - 1) / capacity : 0;
  if (total == 0 || total > 0xffff) return {std::move(whole)};  // cannot be split: sent whole
  std::vector<Bytes> out;
  for (size_t i = 0; i < total; ++i) {
    const auto chunk = inner.subspan(i * capacity, std::min(capacity, inner.size() - i * capacity));
    out.push_back(seal_fragment(key, header, i == 0 ? inner_first : kNoNext,
                                static_cast<uint16_t>(i + 1), static_cast<uint16_t>(total), chunk,
                                iv_counter++));
    if (out.back().empty()) return {};
  }
  log::info("sending the " + describe(header) + " in " + std::to_string(total) +
                " IKE fragments (RFC 7383) of at most " + std::to_string(max_datagram) + " bytes",
            {{"IKE_MESSAGE_ID", std::to_string(header.message_id)}});
  return out;
}

Reassembler::~Reassembler() {
  for (auto& [key, p] : messages_) wipe(p);
}

void Reassembler::wipe(Partial& p) {
  for (auto& [n, b] : p.fragments) OPENSSL_cleanse(b.data(), b.size());
  p.fragments.clear();
  p.bytes = 0;
}

size_t Reassembler::pending_bytes() const {
  size_t n = 0;
  for (const auto& [key, p] : messages_) n += p.bytes;
  return n;
}

void Reassembler::expire(Clock::time_point now) {
  for (auto it = messages_.begin(); it != messages_.end();) {
    if (now - it->second.started < limits_.timeout) {
      ++it;
      continue;
    }
    log::warning("IKE fragments of message ID " + std::to_string(std::get<2>(it->first)) + ": " +
                 std::to_string(it->second.fragments.size()) + " of " +
                 std::to_string(it->second.total) +
                 " came; the rest did not within the time limit, freed");
    wipe(it->second);
    it = messages_.erase(it);
  }
}

void Reassembler::make_room() {
  while (!messages_.empty() && messages_.size() >= std::max<size_t>(limits_.max_messages, 1)) {
    auto oldest = std::min_element(
        messages_.begin(), messages_.end(),
        [](const auto& a, const auto& b) { return a.second.started < b.second.started; });
    wipe(oldest->second);
    messages_.erase(oldest);
  }
}

Result<std::vector<Payload>> Reassembler::open(const SkKey& key, const Message& message,
                                               std::span<const uint8_t> wire,
                                               Clock::time_point now) {
  expire(now);
  if (!message.find(kSkf)) return ike::open(key, message, wire);
  return add(key, message, wire, now);
}

Result<std::vector<Payload>> Reassembler::add(const SkKey& key, const Message& m,
                                              std::span<const uint8_t> wire,
                                              Clock::time_point now) {
  const Payload& skf = *m.find(kSkf);
  if (skf.body.size() < 4) return dropped("an SKF payload without its fragment number and total");
  const uint16_t number = get16(skf.body, 0), total = get16(skf.body, 2);
  const std::string which = "fragment " + std::to_string(number) + " of " + std::to_string(total) +
                            " of the " + describe(m.header);
  if (number == 0 || total == 0 || number > total)
    return dropped(which + ": a number out of range");
  if (total > limits_.max_fragments)
    return dropped(which + ": more than " + std::to_string(limits_.max_fragments) + " fragments");
  if ((number == 1) != (skf.inner_first != kNoNext))
    return dropped(which + ": a wrong next payload type");
  const Key k{m.header.spi_i, m.header.spi_r, m.header.message_id,
              (m.header.flags & kFlagResponse) != 0};
  auto it = messages_.find(k);
  if (it != messages_.end()) {
    if (total < it->second.total)
      return dropped(which + ": fewer fragments than the " + std::to_string(it->second.total) +
                     " announced");
    if (total == it->second.total && it->second.fragments.count(number))
      return dropped(which + ": a duplicate");
    if (m.header.exchange != it->second.exchange)
      return dropped(which + ": another exchange type than its other fragments");
  }
  auto content = open_fragment(key, m, wire);  // authenticated before anything is kept (2.6.1)
  if (!content) return dropped(which + ": " + content.error().message);
  if (it != messages_.end() && total > it->second.total) {
    log::info(which + ": more fragments than the " + std::to_string(it->second.total) +
              " announced before; reassembly starts over");
    wipe(it->second);
    messages_.erase(it);
    it = messages_.end();
  }
  if (it == messages_.end()) {
    make_room();
    it = messages_.emplace(k, Partial{m.header.exchange, total, kNoNext, now, 0, {}}).first;
  }
  Partial& p = it->second;
  if (p.bytes + content->size() > limits_.max_bytes) {
    OPENSSL_cleanse(content->data(), content->size());
    wipe(p);
    messages_.erase(it);
    return dropped(which + ": the message would exceed " + std::to_string(limits_.max_bytes) +
                   " bytes; its fragments are freed");
  }
  if (number == 1) p.inner_first = skf.inner_first;
  p.bytes += content->size();
  p.fragments.emplace(number, std::move(*content));
  if (p.fragments.size() < p.total) return Error{which + " kept", EINPROGRESS};
  Bytes whole;
  whole.reserve(p.bytes);
  for (const auto& [n, b] : p.fragments) whole.insert(whole.end(), b.begin(), b.end());
  const uint8_t first = p.inner_first;
  wipe(p);
  messages_.erase(it);
  auto payloads = parse_payloads(first, whole);
  OPENSSL_cleanse(whole.data(), whole.size());
  if (!payloads) return payloads.error().context("the reassembled " + describe(m.header));
  log::info("received the " + describe(m.header) + " in " + std::to_string(total) +
                " IKE fragments (RFC 7383), reassembled",
            {{"IKE_MESSAGE_ID", std::to_string(m.header.message_id)}});
  return payloads;
}

}  // namespace sedge::ike

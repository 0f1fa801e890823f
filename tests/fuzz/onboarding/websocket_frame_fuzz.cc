// Fuzzes the WebSocket frame decoder. The first byte picks the receiving role and how the rest
// is split into feeds; the same bytes fed whole must give the same messages and error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "onboarding/websocket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sedge::websocket;
  if (size == 0) return 0;
  const Role role = (data[0] & 1) ? Role::server : Role::client;
  const size_t chunk = (data[0] >> 1) + 1u;
  const size_t max = (data[0] & 0x80) ? 64 : kDefaultMaxMessage;
  const std::span<const uint8_t> wire(data + 1, size - 1);

  FrameDecoder whole(role, max);
  const DecodeResult all = whole.feed(wire);

  FrameDecoder pieces(role, max);
  std::vector<Message> got;
  std::optional<ProtocolError> error;
  for (size_t off = 0; off < wire.size() && !error; off += chunk) {
    auto r = pieces.feed(wire.subspan(off, std::min(chunk, wire.size() - off)));
    for (auto& m : r.messages) got.push_back(std::move(m));
    error = r.error;
  }
  if (got.size() != all.messages.size() || error.has_value() != all.error.has_value()) std::abort();
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].opcode != all.messages[i].opcode || got[i].payload != all.messages[i].payload) std::abort();
    const bool control = (static_cast<uint8_t>(got[i].opcode) & 0x8) != 0;
    if (got[i].payload.size() > (control ? kMaxControlPayload : max)) std::abort();
    if (got[i].opcode == Opcode::text && !is_valid_utf8(got[i].payload)) std::abort();
  }
  if (error && error->close_code != all.error->close_code) std::abort();
  return 0;
}

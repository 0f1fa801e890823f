// Fuzzes the WebSocket opening handshake parsers: the head delimiter, the server's parse of a
// request and the client's check of a response. Any bytes must be accepted or refused cleanly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "onboarding/websocket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sedge::websocket;
  const std::span<const uint8_t> buf(data, size);
  auto n = head_length(buf);
  if (n.ok() && *n > size) std::abort();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string_view head = (n.ok() && *n > 0) ? text.substr(0, *n) : text;

  auto req = parse_client_request(head);
  if (req.ok()) {
    const std::string response = accept_response(*req.request, kSubprotocol);
    if (response.rfind("HTTP/1.1 101 ", 0) != 0) std::abort();
  } else {
    if (req.refusal.http_status < 400 || req.refusal.message.empty()) std::abort();
    (void)req.refusal.response();
  }

  static const auto client = ClientHandshake::create("conductor.test:930", "/onboard");
  if (client.ok()) (void)client->check_response(head);
  return 0;
}

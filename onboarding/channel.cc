#include "onboarding/channel.h"

#include <chrono>

namespace sedge::onboarding {
namespace {

constexpr int kHandshakeTimeoutMs = 10000;

std::span<const uint8_t> as_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

}  // namespace

Result<std::string> Channel::read_head(tls::Connection& tls, websocket::Bytes& pending, int timeout_ms) {
  uint8_t chunk[2048];
  for (;;) {
    auto n = websocket::head_length(pending);
    if (!n) return n.error();
    if (*n > 0) {
      std::string head(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(*n));
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(*n));
      return head;
    }
    auto got = tls.read(chunk, timeout_ms);
    if (!got) return got.error();
    if (*got == 0) return Error{"the peer closed the connection during the WebSocket handshake"};
    pending.insert(pending.end(), chunk, chunk + *got);
  }
}

Result<std::unique_ptr<Channel>> Channel::open(std::unique_ptr<tls::Connection> tls, const std::string& host,
                                              const std::string& path) {
  auto hs = websocket::ClientHandshake::create(host, path);
  if (!hs) return hs.error();
  if (auto s = tls->write(as_bytes(hs->request())); !s) return s.error();
  websocket::Bytes pending;
  auto head = read_head(*tls, pending, kHandshakeTimeoutMs);
  if (!head) return head.error().context("WebSocket handshake with " + tls->peer_address());
  if (auto ok = hs->check_response(*head); !ok) return ok.error().context("WebSocket handshake with " + tls->peer_address());
  std::unique_ptr<Channel> ch(new Channel(std::move(tls), websocket::Role::client, path));
  ch->take(pending);
  return ch;
}

Result<std::unique_ptr<Channel>> Channel::accept(std::unique_ptr<tls::Connection> tls, const std::string& path) {
  websocket::Bytes pending;
  auto head = read_head(*tls, pending, kHandshakeTimeoutMs);
  if (!head) return head.error().context("WebSocket handshake from " + tls->peer_address());
  auto req = websocket::parse_client_request(*head);
  std::string refusal;
  if (!req.ok()) refusal = req.refusal.message;
  else if (req.request->path != path) refusal = "no WebSocket service at " + req.request->path;
  else if (!req.request->offers(websocket::kSubprotocol)) refusal = "the client does not speak " + std::string(websocket::kSubprotocol);
  if (!refusal.empty()) {
    websocket::HandshakeRefusal r = req.ok() ? websocket::HandshakeRefusal{404, refusal} : req.refusal;
    (void)tls->write(as_bytes(r.response()));
    return Error{"WebSocket handshake from " + tls->peer_address() + " refused: " + refusal, EPROTO};
  }
  if (auto s = tls->write(as_bytes(websocket::accept_response(*req.request, websocket::kSubprotocol))); !s) return s.error();
  std::unique_ptr<Channel> ch(new Channel(std::move(tls), websocket::Role::server, path));
  ch->take(pending);
  return ch;
}

void Channel::take(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  auto r = decoder_.feed(bytes);
  for (auto& m : r.messages) ready_.push_back(std::move(m));
  if (r.error) broken_ = r.error;
}

Status Channel::send(const nlohmann::json& message) {
  if (closed_) return Error{"the channel is closed"};
  auto frame = websocket::encode_text(role_, message.dump());
  if (!frame) return frame.error();
  return tls_->write(*frame);
}

Status Channel::ping() {
  auto frame = websocket::encode_frame(role_, websocket::Opcode::ping, {});
  if (!frame) return frame.error();
  return tls_->write(*frame);
}

void Channel::close(uint16_t code, const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  if (auto frame = websocket::encode_close(role_, code, reason); frame) (void)tls_->write(*frame);
}

Result<nlohmann::json> Channel::receive(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  uint8_t chunk[4096];
  for (;;) {
    while (!ready_.empty()) {
      websocket::Message m = std::move(ready_.front());
      ready_.erase(ready_.begin());
      switch (m.opcode) {
        case websocket::Opcode::ping:
          if (auto pong = websocket::encode_frame(role_, websocket::Opcode::pong, m.payload); pong) (void)tls_->write(*pong);
          continue;
        case websocket::Opcode::pong:
          continue;
        case websocket::Opcode::close:
          close(websocket::close_code::kNormal, "");
          return Error{"the peer closed the channel (" + std::to_string(m.close_code) +
                           (m.close_reason.empty() ? "" : ": " + m.close_reason) + ")",
                       ECONNRESET};
        case websocket::Opcode::text: {
          auto parsed = nlohmann::json::parse(m.text(), nullptr, false);
          if (parsed.is_discarded() || !parsed.is_object()) {
            close(websocket::close_code::kUnsupportedData, "not a JSON object");
            return Error{"the peer sent a message that is not a JSON object", EPROTO};
          }
          return parsed;
        }
        default:
          close(websocket::close_code::kUnsupportedData, "binary messages are not part of the protocol");
          return Error{"the peer sent a binary message", EPROTO};
      }
    }
    if (broken_) {
      close(broken_->close_code, broken_->message);
      return broken_->to_error();
    }
    if (closed_) return Error{"the channel is closed"};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error{"no message from " + tls_->peer_address() + " in time", ETIMEDOUT};
    auto n = tls_->read(chunk, static_cast<int>(left.count()));
    if (!n) return n.error();
    if (*n == 0) {
      closed_ = true;
      return Error{"the peer closed the connection", ECONNRESET};
    }
    take(std::span<const uint8_t>(chunk, *n));
  }
}

}  // namespace sedge::onboarding

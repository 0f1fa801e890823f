// One WebSocket over one TLS connection, carrying the onboarding protocol's JSON messages:
// the client (router) side opens it with the RFC 6455 handshake, the server (conductor) side
// answers it. Pings are answered here; a close or a protocol violation ends the channel with
// the close code the peer is owed.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "onboarding/tls.h"
#include "onboarding/websocket.h"

namespace sedge::onboarding {

class Channel {
 public:
  // The router's side: sends the opening handshake for `path` and checks the answer.
  static Result<std::unique_ptr<Channel>> open(std::unique_ptr<tls::Connection> tls, const std::string& host,
                                               const std::string& path);
  // The conductor's side: reads the opening handshake and accepts it when it asks for `path`
  // and the sedge subprotocol, or answers with an HTTP error and fails.
  static Result<std::unique_ptr<Channel>> accept(std::unique_ptr<tls::Connection> tls, const std::string& path);

  Status send(const nlohmann::json& message);
  // The next JSON object; pings are answered on the way. An error when the peer closes, breaks
  // the framing (it is sent the close code), sends anything but a JSON object, or is silent
  // for timeout_ms.
  Result<nlohmann::json> receive(int timeout_ms);
  Status ping();
  // Sends a close frame (best effort) and ends the channel.
  void close(uint16_t code, const std::string& reason);

  tls::Connection& connection() { return *tls_; }
  const std::string& path() const { return path_; }

 private:
  Channel(std::unique_ptr<tls::Connection> tls, websocket::Role role, std::string path)
      : tls_(std::move(tls)), role_(role), decoder_(role), path_(std::move(path)) {}
  // Decodes received bytes into ready_ (and broken_, once the framing is broken).
  void take(std::span<const uint8_t> bytes);
  // Reads until an HTTP head is complete; the bytes after it stay in pending_.
  static Result<std::string> read_head(tls::Connection& tls, websocket::Bytes& pending, int timeout_ms);

  std::unique_ptr<tls::Connection> tls_;
  websocket::Role role_;
  websocket::FrameDecoder decoder_;
  std::vector<websocket::Message> ready_;
  std::string path_;
  std::optional<websocket::ProtocolError> broken_;  // reported once the messages before it are read
  bool closed_ = false;
};

}  // namespace sedge::onboarding

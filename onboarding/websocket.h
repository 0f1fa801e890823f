// WebSocket (RFC 6455) without sockets: the opening handshake and the framing, on byte
// buffers, so that the same code runs over the conductor's TLS connection (port 930), in
// tests and under a fuzzer. The caller moves bytes; this layer says what to send and what
// arrived.
//
// Client (router):                         Server (conductor):
//   auto hs = ClientHandshake::create(...)    n = head_length(buf)   (0: read more)
//   send hs->request()                        auto req = parse_client_request(head)
//   n = head_length(buf)   (0: read more)     send req.ok() ? accept_response(*req.request, p)
//   hs->check_response(head)                                : req.refusal.response()
//   FrameDecoder(Role::client)                FrameDecoder(Role::server)
//   encode_message(Role::client, ...)         encode_message(Role::server, ...)
// Bytes after the head (buf[n..]) already belong to the frame stream: feed them to the decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sedge::websocket {

using Bytes = std::vector<uint8_t>;

inline constexpr std::string_view kSubprotocol = "sedge-onboarding.v1";
inline constexpr size_t kDefaultMaxMessage = 64 * 1024;  // reassembled message payload
inline constexpr size_t kMaxHandshakeHead = 8192;         // request or response head, bytes
inline constexpr size_t kMaxControlPayload = 125;

// Close codes (RFC 6455 section 7.4.1).
namespace close_code {
inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;
inline constexpr uint16_t kProtocolError = 1002;
inline constexpr uint16_t kUnsupportedData = 1003;
inline constexpr uint16_t kNoStatus = 1005;  // reported for a close frame without a code; never sent
inline constexpr uint16_t kInvalidPayload = 1007;  // e.g. text that is not UTF-8
inline constexpr uint16_t kPolicyViolation = 1008;
inline constexpr uint16_t kMessageTooBig = 1009;
inline constexpr uint16_t kMandatoryExtension = 1010;
inline constexpr uint16_t kInternalError = 1011;
}  // namespace close_code

// Whether a code may be sent in (and accepted from) a close frame: 1000-1003, 1007-1014,
// 3000-4999.
bool is_valid_close_code(uint16_t code);

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::span<const uint8_t> bytes);

// ---------------------------------------------------------------- opening handshake

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455 GUID)).
std::string accept_key(std::string_view key);

// Length of the HTTP head at the start of buf, through the blank line ("\r\n\r\n"); 0 when it
// has not all arrived yet. An error when kMaxHandshakeHead bytes hold no complete head.
Result<size_t> head_length(std::span<const uint8_t> buf);

// The client side: a fresh random key per handshake.
class ClientHandshake {
 public:
  // host is what goes in Host (e.g. "conductor.example:930"), path the request target
  // ("/onboard"); subprotocol, when given, is offered in Sec-WebSocket-Protocol.
  static Result<ClientHandshake> create(std::string host, std::string path,
                                        std::optional<std::string> subprotocol = std::string(kSubprotocol));

  const std::string& request() const { return request_; }  // the bytes to send
  const std::string& key() const { return key_; }          // Sec-WebSocket-Key

  // Checks the server's response head (as delimited by head_length): status 101, Upgrade and
  // Connection, Sec-WebSocket-Accept for our key, no extension, and a subprotocol only if it is
  // the one offered. When a subprotocol was offered the server must select it. Returns the
  // selected subprotocol ("" when none was offered).
  Result<std::string> check_response(std::string_view head) const;

 private:
  std::string request_;
  std::string key_;
  std::optional<std::string> subprotocol_;
};

// A client's opening handshake as the server parsed it.
struct ClientRequest {
  std::string path;                    // request target
  std::string host;                    // Host header
  std::string key;                     // Sec-WebSocket-Key (base64 of 16 bytes)
  std::vector<std::string> protocols;  // Sec-WebSocket-Protocol, in the client's order
  std::string origin;                  // Origin, when sent

  bool offers(std::string_view protocol) const;
};

// Why the server refuses a handshake, and the HTTP response that says so.
struct HandshakeRefusal {
  int http_status = 400;  // 400, 405 (not GET), 426 (version other than 13), 431 (head too large)
  std::string message;
  std::string response() const;  // "HTTP/1.1 <status> ..." with Sec-WebSocket-Version: 13 for 426
};

struct RequestParse {
  std::optional<ClientRequest> request;  // set when the handshake is acceptable
  HandshakeRefusal refusal;              // otherwise
  bool ok() const { return request.has_value(); }
};

// Parses a request head (as delimited by head_length): GET, HTTP/1.1 or later, Host, Upgrade:
// websocket, Connection: Upgrade, Sec-WebSocket-Version: 13, a Sec-WebSocket-Key of 16 bytes.
RequestParse parse_client_request(std::string_view head);

// The 101 response; subprotocol, when not empty, must be one the client offered.
std::string accept_response(const ClientRequest& request, std::string_view subprotocol = {});

// ---------------------------------------------------------------- frames

enum class Role { client, server };

enum class Opcode : uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

// Encodes one frame as `sender` sends it: a client masks with a fresh random key, a server does
// not. Control frames (close, ping, pong) must be final and carry at most 125 bytes.
Result<Bytes> encode_frame(Role sender, Opcode opcode, std::span<const uint8_t> payload, bool fin = true);

// A whole message, split into frames of at most `fragment` payload bytes (0: one frame).
// Text must be valid UTF-8.
Result<Bytes> encode_message(Role sender, Opcode opcode, std::span<const uint8_t> payload, size_t fragment = 0);
Result<Bytes> encode_text(Role sender, std::string_view text, size_t fragment = 0);

// A close frame with a code (is_valid_close_code) and a reason, cut at a character boundary to
// fit the 125-byte limit.
Result<Bytes> encode_close(Role sender, uint16_t code, std::string_view reason = {});

// A complete message: text or binary reassembled, or a control frame.
struct Message {
  Opcode opcode = Opcode::binary;
  Bytes payload;              // for close: the raw payload (code and reason)
  uint16_t close_code = 0;    // close only: the code, or close_code::kNoStatus when absent
  std::string close_reason;   // close only

  std::string_view text() const {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};
  }
};

// A protocol violation: the close code to send to the peer (then close the connection) and
// what happened, for the log.
struct ProtocolError {
  uint16_t close_code = close_code::kProtocolError;
  std::string message;

  Error to_error() const { return Error{"websocket: " + message + " (close " + std::to_string(close_code) + ")", EPROTO}; }
};

struct DecodeResult {
  std::vector<Message> messages;       // complete messages, in order, before any error
  std::optional<ProtocolError> error;  // set once the stream is broken; later feeds repeat it
};

// Incremental decoder for the frames one endpoint receives. `receiver` is the role of the
// endpoint that owns the decoder: a server requires masked frames, a client refuses them.
// Bytes may arrive in any split; a text or binary message larger than max_message is refused
// (1009) as soon as a frame header announces it, so at most max(max_message, 125) + 14 bytes
// are ever buffered (control frames always may carry up to 125 bytes). After a
// close message the decoder ignores further bytes (closed() is true).
class FrameDecoder {
 public:
  explicit FrameDecoder(Role receiver, size_t max_message = kDefaultMaxMessage);

  DecodeResult feed(std::span<const uint8_t> bytes);

  bool failed() const { return error_.has_value(); }
  bool closed() const { return closed_; }

 private:
  // Decodes one frame from buf_ at offset off; returns false when it needs more bytes.
  bool decode_one(size_t& off, DecodeResult& out);
  void fail(uint16_t code, std::string message);

  Role receiver_;
  size_t max_message_;
  Bytes buf_;                          // unconsumed input
  std::optional<Opcode> partial_op_;   // a fragmented message in progress
  Bytes partial_;
  size_t utf8_checked_ = 0;            // text: partial_[0, this) is whole valid characters
  bool closed_ = false;
  std::optional<ProtocolError> error_;
};

}  // namespace sedge::websocket

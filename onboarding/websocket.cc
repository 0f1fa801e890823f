#include "onboarding/websocket.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/base64.h"
#include "common/bytes.h"

namespace sedge::websocket {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kMaxHeaders = 64;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated list elements (RFC 9110 section 5.6.1), empty elements dropped.
std::vector<std::string_view> list_elements(std::string_view value) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view e = trim(value.substr(0, comma));
    if (!e.empty()) out.push_back(e);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// A Sec-WebSocket-Key: base64 of exactly 16 bytes, canonical (the unused low bits are zero).
bool is_valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  if (!std::all_of(key.begin(), key.begin() + 22, is_base64_char)) return false;
  // The 22nd character carries 2 data bits: its value must be a multiple of 16.
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  return kAlphabet.find(key[21]) % 16 == 0;
}

struct Head {
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased

  // The value of a header that must appear at most once; nullopt when absent.
  std::optional<std::string_view> single(std::string_view name, bool& duplicated) const {
    std::optional<std::string_view> v;
    for (const auto& [n, value] : headers) {
      if (n != name) continue;
      if (v) duplicated = true;
      v = value;
    }
    return v;
  }
  // Every element of every occurrence of a list header.
  std::vector<std::string_view> list(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [n, value] : headers)
      if (n == name)
        for (auto e : list_elements(value)) out.push_back(e);
    return out;
  }
  bool has_token(std::string_view name, std::string_view token) const {
    for (auto e : list(name))
      if (iequals(e, token)) return true;
    return false;
  }
};

// Splits an HTTP/1.1 head into its start line and headers. Refuses bare LF, obsolete line
// folding, control characters, and names that are not tokens.
Result<Head> parse_head(std::string_view head) {
  if (head.size() > kMaxHandshakeHead) return Error{"handshake head is larger than " + std::to_string(kMaxHandshakeHead) + " bytes", EMSGSIZE};
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") return Error{"handshake head does not end with an empty line", EBADMSG};
  head.remove_suffix(2);  // the final CRLF; every line now ends with CRLF
  Head out;
  bool first = true;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    if (eol == std::string_view::npos) return Error{"handshake line without CRLF", EBADMSG};
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    for (char c : line) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return Error{"control character in the handshake", EBADMSG};
    }
    if (first) {
      out.start_line = std::string(line);
      first = false;
      continue;
    }
    if (out.headers.size() >= kMaxHeaders) return Error{"more than " + std::to_string(kMaxHeaders) + " handshake headers", EMSGSIZE};
    if (line.empty() || line.front() == ' ' || line.front() == '\t') return Error{"folded or empty header line in the handshake", EBADMSG};
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return Error{"malformed header line in the handshake", EBADMSG};
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), lower);
    out.headers.emplace_back(std::move(name), std::string(trim(line.substr(colon + 1))));
  }
  if (first) return Error{"empty handshake", EBADMSG};
  return out;
}

std::string reason_phrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 400: return "Bad Request";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

HandshakeRefusal refuse(int status, std::string message) { return HandshakeRefusal{status, std::move(message)}; }

Result<Bytes> random_bytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) return Error{"the random generator failed", EIO};
  return out;
}

bool is_control(Opcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; }

void put_close_payload(Message& m) {
  m.close_code = close_code::kNoStatus;
  if (m.payload.size() >= 2) {
    m.close_code = get16(m.payload, 0);
    m.close_reason.assign(m.payload.begin() + 2, m.payload.end());
  }
}

}  // namespace

namespace {
std::optional<size_t> utf8_check(std::span<const uint8_t> s, bool allow_truncated);
}  // namespace

bool is_valid_close_code(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

bool is_valid_utf8(std::span<const uint8_t> s) { return utf8_check(s, false).has_value(); }

namespace {

// Strict UTF-8: nullopt when invalid, else how many bytes form whole characters. With
// allow_truncated, a sequence cut short at the end passes if what is there can still begin a
// valid character (text arriving in fragments); it is not counted.
std::optional<size_t> utf8_check(std::span<const uint8_t> s, bool allow_truncated) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = s[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;  // overlong
      if (b == 0xED) hi = 0x9F;  // surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;  // overlong
      if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return std::nullopt;
    }
    const size_t have = std::min(len, s.size() - i);
    if (have < len && !allow_truncated) return std::nullopt;
    if (have > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return std::nullopt;
    for (size_t k = 2; k < have; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return std::nullopt;
    if (have < len) return i;
    i += len;
  }
  return i;
}

}  // namespace

std::string accept_key(std::string_view key) {
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr) != 1) return {};
  return base64_encode(std::span<const uint8_t>(digest, len));
}

Result<size_t> head_length(std::span<const uint8_t> buf) {
  static constexpr uint8_t kEnd[] = {'\r', '\n', '\r', '\n'};
  const size_t limit = std::min(buf.size(), kMaxHandshakeHead);
  auto it = std::search(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(limit), std::begin(kEnd), std::end(kEnd));
  if (it != buf.begin() + static_cast<std::ptrdiff_t>(limit)) return static_cast<size_t>(it - buf.begin()) + 4;
  if (buf.size() >= kMaxHandshakeHead)
    return Error{"no end of the handshake head within " + std::to_string(kMaxHandshakeHead) + " bytes", EMSGSIZE};
  return size_t{0};
}

// ---------------------------------------------------------------- client handshake

Result<ClientHandshake> ClientHandshake::create(std::string host, std::string path, std::optional<std::string> subprotocol) {
  auto bad = [](std::string_view s) {
    return s.empty() || std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
  };
  if (bad(host)) return Error{"invalid WebSocket host '" + host + "'", EINVAL};
  if (bad(path) || path.front() != '/') return Error{"invalid WebSocket path '" + path + "' (must start with /)", EINVAL};
  if (subprotocol && !is_token(*subprotocol)) return Error{"invalid WebSocket subprotocol '" + *subprotocol + "'", EINVAL};
  auto nonce = random_bytes(16);
  if (!nonce) return nonce.error();
  ClientHandshake hs;
  hs.key_ = base64_encode(*nonce);
  hs.subprotocol_ = std::move(subprotocol);
  hs.request_ = "GET " + path + " HTTP/1.1\r\n" + "Host: " + host + "\r\n" +
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                "Sec-WebSocket-Key: " + hs.key_ + "\r\n" +
                "Sec-WebSocket-Version: 13\r\n";
  if (hs.subprotocol_) hs.request_ += "Sec-WebSocket-Protocol: " + *hs.subprotocol_ + "\r\n";
  hs.request_ += "\r\n";
  return hs;
}

Result<std::string> ClientHandshake::check_response(std::string_view head) const {
  auto parsed = parse_head(head);
  if (!parsed) return parsed.error().context("WebSocket handshake response");
  const Head& h = *parsed;
  // "HTTP/1.1 101 Switching Protocols"
  const std::string_view line = h.start_line;
  const bool digits = line.size() >= 12 && std::all_of(line.begin() + 9, line.begin() + 12, [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || line.substr(0, 9) != "HTTP/1.1 " || (line.size() > 12 && line[12] != ' '))
    return Error{"WebSocket handshake: malformed status line '" + std::string(line.substr(0, 80)) + "'", EBADMSG};
  if (line.substr(9, 3) != "101")
    return Error{"WebSocket handshake refused by the server: " + std::string(line.substr(9, 80)), ECONNREFUSED};
  if (!h.has_token("upgrade", "websocket")) return Error{"WebSocket handshake: response without Upgrade: websocket", EBADMSG};
  if (!h.has_token("connection", "upgrade")) return Error{"WebSocket handshake: response without Connection: Upgrade", EBADMSG};
  bool dup = false;
  const auto accept = h.single("sec-websocket-accept", dup);
  if (!accept || dup) return Error{"WebSocket handshake: response without exactly one Sec-WebSocket-Accept", EBADMSG};
  if (*accept != accept_key(key_)) return Error{"WebSocket handshake: Sec-WebSocket-Accept does not match our key", EBADMSG};
  if (!h.list("sec-websocket-extensions").empty())
    return Error{"WebSocket handshake: the server selected an extension that was not offered", EBADMSG};
  const auto protocol = h.single("sec-websocket-protocol", dup);
  if (dup) return Error{"WebSocket handshake: more than one Sec-WebSocket-Protocol in the response", EBADMSG};
  if (protocol) {
    if (!subprotocol_ || *protocol != *subprotocol_)
      return Error{"WebSocket handshake: the server selected subprotocol '" + std::string(*protocol) + "' that was not offered", EBADMSG};
    return std::string(*protocol);
  }
  if (subprotocol_) return Error{"WebSocket handshake: the server did not select subprotocol " + *subprotocol_, EPROTONOSUPPORT};
  return std::string();
}

// ---------------------------------------------------------------- server handshake

bool ClientRequest::offers(std::string_view protocol) const {
  return std::find(protocols.begin(), protocols.end(), protocol) != protocols.end();
}

std::string HandshakeRefusal::response() const {
  std::string out = "HTTP/1.1 " + std::to_string(http_status) + " " + reason_phrase(http_status) + "\r\n";
  if (http_status == 426) {
    out += "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n";
  } else {
    if (http_status == 405) out += "Allow: GET\r\n";
    out += "Connection: close\r\n";
  }
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

RequestParse parse_client_request(std::string_view head) {
  RequestParse out;
  auto parsed = parse_head(head);
  if (!parsed) {
    out.refusal = refuse(parsed.error().code == EMSGSIZE ? 431 : 400, parsed.error().message);
    return out;
  }
  const Head& h = *parsed;
  // "GET <target> HTTP/1.1"
  const std::string_view line = h.start_line;
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    out.refusal = refuse(400, "malformed request line");
    return out;
  }
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1") {
    out.refusal = refuse(400, "WebSocket needs HTTP/1.1, got '" + std::string(version.substr(0, 16)) + "'");
    return out;
  }
  if (method != "GET") {
    out.refusal = refuse(405, "WebSocket handshake must be a GET, got " + std::string(method.substr(0, 16)));
    return out;
  }
  if (target.empty() || target.front() != '/') {
    out.refusal = refuse(400, "request target must be a path");
    return out;
  }
  bool dup = false;
  const auto host = h.single("host", dup);
  if (!host || host->empty() || dup) {
    out.refusal = refuse(400, "request without exactly one Host");
    return out;
  }
  if (!h.has_token("upgrade", "websocket")) {
    out.refusal = refuse(400, "request without Upgrade: websocket");
    return out;
  }
  if (!h.has_token("connection", "upgrade")) {
    out.refusal = refuse(400, "request without Connection: Upgrade");
    return out;
  }
  const auto version_header = h.single("sec-websocket-version", dup);
  if (!version_header || dup || *version_header != "13") {
    out.refusal = refuse(426, "Sec-WebSocket-Version must be 13");
    return out;
  }
  const auto key = h.single("sec-websocket-key", dup);
  if (!key || dup || !is_valid_key(*key)) {
    out.refusal = refuse(400, "request without exactly one valid Sec-WebSocket-Key (base64 of 16 bytes)");
    return out;
  }
  ClientRequest req;
  for (auto p : h.list("sec-websocket-protocol")) {
    if (!is_token(p)) {
      out.refusal = refuse(400, "malformed Sec-WebSocket-Protocol");
      return out;
    }
    req.protocols.emplace_back(p);
  }
  req.path = std::string(target);
  req.host = std::string(*host);
  req.key = std::string(*key);
  if (auto origin = h.single("origin", dup)) req.origin = std::string(*origin);
  out.request = std::move(req);
  return out;
}

std::string accept_response(const ClientRequest& request, std::string_view subprotocol) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " + accept_key(request.key) + "\r\n";
  if (!subprotocol.empty() && request.offers(subprotocol)) out += "Sec-WebSocket-Protocol: " + std::string(subprotocol) + "\r\n";
  out += "\r\n";
  return out;
}

// ---------------------------------------------------------------- encoder

Result<Bytes> encode_frame(Role sender, Opcode opcode, std::span<const uint8_t> payload, bool fin) {
  if (is_control(opcode)) {
    if (!fin) return Error{"a WebSocket control frame cannot be fragmented", EINVAL};
    if (payload.size() > kMaxControlPayload) return Error{"a WebSocket control frame carries at most 125 bytes", EMSGSIZE};
  }
  Bytes out;
  out.reserve(payload.size() + 14);
  out.push_back(static_cast<uint8_t>((fin ? 0x80 : 0) | static_cast<uint8_t>(opcode)));
  const uint8_t mask_bit = sender == Role::client ? 0x80 : 0;
  const size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<uint8_t>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(mask_bit | 126);
    put16(out, static_cast<uint16_t>(n));
  } else {
    out.push_back(mask_bit | 127);
    put64(out, n);
  }
  if (sender == Role::server) {
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
  auto key = random_bytes(4);
  if (!key) return key.error();
  out.insert(out.end(), key->begin(), key->end());
  for (size_t i = 0; i < n; ++i) out.push_back(payload[i] ^ (*key)[i % 4]);
  return out;
}

Result<Bytes> encode_message(Role sender, Opcode opcode, std::span<const uint8_t> payload, size_t fragment) {
  if (opcode == Opcode::continuation) return Error{"a WebSocket message cannot start with a continuation frame", EINVAL};
  if (opcode == Opcode::text && !is_valid_utf8(payload)) return Error{"WebSocket text must be UTF-8", EINVAL};
  if (fragment == 0 || payload.size() <= fragment || is_control(opcode)) return encode_frame(sender, opcode, payload, true);
  Bytes out;
  for (size_t off = 0; off < payload.size(); off += fragment) {
    const size_t len = std::min(fragment, payload.size() - off);
    auto frame = encode_frame(sender, off == 0 ? opcode : Opcode::continuation, payload.subspan(off, len), off + len == payload.size());
    if (!frame) return frame.error();
    out.insert(out.end(), frame->begin(), frame->end());
  }
  return out;
}

Result<Bytes> encode_text(Role sender, std::string_view text, size_t fragment) {
  return encode_message(sender, Opcode::text, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), fragment);
}

Result<Bytes> encode_close(Role sender, uint16_t code, std::string_view reason) {
  if (!is_valid_close_code(code)) return Error{"WebSocket close code " + std::to_string(code) + " cannot be sent", EINVAL};
  Bytes payload;
  put16(payload, code);
  auto r = std::span(reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
  if (!is_valid_utf8(r)) return Error{"WebSocket close reason must be UTF-8", EINVAL};
  size_t len = std::min(r.size(), kMaxControlPayload - 2);
  while (len < r.size() && len > 0 && (r[len] & 0xC0) == 0x80) --len;  // keep whole characters
  payload.insert(payload.end(), r.begin(), r.begin() + static_cast<std::ptrdiff_t>(len));
  return encode_frame(sender, Opcode::close, payload, true);
}

// ---------------------------------------------------------------- decoder

FrameDecoder::FrameDecoder(Role receiver, size_t max_message) : receiver_(receiver), max_message_(max_message) {}

void FrameDecoder::fail(uint16_t code, std::string message) {
  error_ = ProtocolError{code, std::move(message)};
  buf_.clear();
  partial_.clear();
}

DecodeResult FrameDecoder::feed(std::span<const uint8_t> bytes) {
  DecodeResult out;
  if (error_) {
    out.error = error_;
    return out;
  }
  if (closed_) return out;
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  size_t off = 0;
  while (!error_ && !closed_ && decode_one(off, out)) {
  }
  if (error_) {
    out.error = error_;
    return out;
  }
  if (closed_) {
    buf_.clear();
  } else {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(off));
  }
  return out;
}

bool FrameDecoder::decode_one(size_t& off, DecodeResult& out) {
  const size_t avail = buf_.size() - off;
  if (avail < 2) return false;
  const uint8_t* p = buf_.data() + off;
  const std::span<const uint8_t> frame(p, avail);
  const bool fin = (p[0] & 0x80) != 0;
  if ((p[0] & 0x70) != 0) {
    fail(close_code::kProtocolError, "reserved bits set without a negotiated extension");
    return false;
  }
  const uint8_t raw_op = p[0] & 0x0F;
  if (raw_op != 0x0 && raw_op != 0x1 && raw_op != 0x2 && raw_op != 0x8 && raw_op != 0x9 && raw_op != 0xA) {
    fail(close_code::kProtocolError, "unknown opcode " + std::to_string(raw_op));
    return false;
  }
  const auto op = static_cast<Opcode>(raw_op);
  const bool masked = (p[1] & 0x80) != 0;
  if (receiver_ == Role::server && !masked) {
    fail(close_code::kProtocolError, "unmasked frame from the client");
    return false;
  }
  if (receiver_ == Role::client && masked) {
    fail(close_code::kProtocolError, "masked frame from the server");
    return false;
  }
  uint64_t len = p[1] & 0x7F;
  size_t header = 2;
  if (len == 126) {
    if (avail < 4) return false;
    len = get16(frame, 2);
    header = 4;
    if (len < 126) {
      fail(close_code::kProtocolError, "16-bit length " + std::to_string(len) + " is not minimally encoded");
      return false;
    }
  } else if (len == 127) {
    if (avail < 10) return false;
    len = get64(frame, 2);
    header = 10;
    if (len >> 63) {
      fail(close_code::kProtocolError, "64-bit length with the most significant bit set");
      return false;
    }
    if (len <= 0xFFFF) {
      fail(close_code::kProtocolError, "64-bit length " + std::to_string(len) + " is not minimally encoded");
      return false;
    }
  }
  if (is_control(op)) {
    if (!fin) {
      fail(close_code::kProtocolError, "fragmented control frame");
      return false;
    }
    if (len > kMaxControlPayload) {
      fail(close_code::kProtocolError, "control frame of " + std::to_string(len) + " bytes (at most 125)");
      return false;
    }
  } else if (op == Opcode::continuation) {
    if (!partial_op_) {
      fail(close_code::kProtocolError, "continuation frame without a message to continue");
      return false;
    }
  } else if (partial_op_) {
    fail(close_code::kProtocolError, "new message while a fragmented message is unfinished");
    return false;
  }
  if (!is_control(op)) {
    const size_t so_far = op == Opcode::continuation ? partial_.size() : 0;
    if (len > max_message_ || so_far + len > max_message_) {
      fail(close_code::kMessageTooBig, "message larger than " + std::to_string(max_message_) + " bytes");
      return false;
    }
  }
  if (masked) header += 4;
  if (avail < header || avail - header < len) return false;
  const size_t n = static_cast<size_t>(len);
  const uint8_t* mask = masked ? p + header - 4 : nullptr;
  const uint8_t* data = p + header;
  auto unmask_into = [&](Bytes& dst) {
    const size_t start = dst.size();
    dst.insert(dst.end(), data, data + n);
    if (mask)
      for (size_t i = 0; i < n; ++i) dst[start + i] ^= mask[i % 4];
  };
  off += header + n;

  if (is_control(op)) {
    Message m;
    m.opcode = op;
    unmask_into(m.payload);
    if (op == Opcode::close) {
      if (m.payload.size() == 1) {
        fail(close_code::kProtocolError, "close frame with a 1-byte payload");
        return false;
      }
      put_close_payload(m);
      if (m.payload.size() >= 2 && !is_valid_close_code(m.close_code)) {
        fail(close_code::kProtocolError, "invalid close code " + std::to_string(m.close_code));
        return false;
      }
      if (!is_valid_utf8(std::span(m.payload).subspan(std::min<size_t>(2, m.payload.size())))) {
        fail(close_code::kInvalidPayload, "close reason is not UTF-8");
        return false;
      }
      closed_ = true;
    }
    out.messages.push_back(std::move(m));
    return true;
  }
  if (op != Opcode::continuation) {
    partial_op_ = op;
    partial_.clear();
    utf8_checked_ = 0;
  }
  unmask_into(partial_);
  if (!fin) {
    // Fail fast: text that can no longer become UTF-8 is refused before the last fragment.
    // Only the bytes after the last whole character are scanned again.
    if (*partial_op_ == Opcode::text) {
      const auto whole = utf8_check(std::span(partial_).subspan(utf8_checked_), true);
      if (!whole) {
        fail(close_code::kInvalidPayload, "text message is not UTF-8");
        return false;
      }
      utf8_checked_ += *whole;
    }
    return true;
  }
  Message m;
  m.opcode = *partial_op_;
  m.payload = std::move(partial_);
  partial_ = Bytes();
  partial_op_.reset();
  if (m.opcode == Opcode::text && !utf8_check(std::span(m.payload).subspan(utf8_checked_), false)) {
    fail(close_code::kInvalidPayload, "text message is not UTF-8");
    return false;
  }
  out.messages.push_back(std::move(m));
  return true;
}

}  // namespace sedge::websocket

#include "onboarding/websocket.h"

#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <string>

namespace sedge::websocket {
namespace {

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::span<const uint8_t> span_of(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// A valid client request head, with one header replaced or removed (value "" drops it).
std::string request_with(const std::string& name = "", const std::string& value = "", const std::string& start = "GET /onboard HTTP/1.1") {
  const std::vector<std::pair<std::string, std::string>> base = {
      {"Host", "conductor.test:930"},
      {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"Sec-WebSocket-Version", "13"},
      {"Sec-WebSocket-Protocol", "sedge-onboarding.v1"},
  };
  std::string out = start + "\r\n";
  for (const auto& [n, v] : base) {
    if (n == name) {
      if (!value.empty()) out += n + ": " + value + "\r\n";
      continue;
    }
    out += n + ": " + v + "\r\n";
  }
  return out + "\r\n";
}

// ------------------------------------------------------------ handshake

TEST(WebSocketHandshake, AcceptKeyIsTheRfc6455Example) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, ClientRequestCarriesAFreshSixteenByteKey) {
  auto a = ClientHandshake::create("conductor.test:930", "/onboard");
  auto b = ClientHandshake::create("conductor.test:930", "/onboard");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->key(), b->key());
  unsigned char raw[32];
  ASSERT_EQ(a->key().size(), 24u);
  EXPECT_EQ(EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(a->key().data()), 24), 18);  // 16 + 2 pad
  const std::string& r = a->request();
  EXPECT_EQ(r.rfind("GET /onboard HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(r.find("\r\nHost: conductor.test:930\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nUpgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nConnection: Upgrade\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nSec-WebSocket-Key: " + a->key() + "\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nSec-WebSocket-Protocol: sedge-onboarding.v1\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");

  auto plain = ClientHandshake::create("h", "/", std::nullopt);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->request().find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(WebSocketHandshake, ClientRefusesBadHostOrPath) {
  EXPECT_FALSE(ClientHandshake::create("", "/").ok());
  EXPECT_FALSE(ClientHandshake::create("a b", "/").ok());
  EXPECT_FALSE(ClientHandshake::create("h\r\nX: y", "/").ok());
  EXPECT_FALSE(ClientHandshake::create("h", "onboard").ok());
  EXPECT_FALSE(ClientHandshake::create("h", "/", "bad protocol").ok());
}

TEST(WebSocketHandshake, ClientAndServerAgreeOnTheSubprotocol) {
  auto hs = ClientHandshake::create("conductor.test:930", "/onboard");
  ASSERT_TRUE(hs.ok());
  auto req = parse_client_request(hs->request());
  ASSERT_TRUE(req.ok()) << req.refusal.message;
  EXPECT_EQ(req.request->path, "/onboard");
  EXPECT_EQ(req.request->host, "conductor.test:930");
  EXPECT_EQ(req.request->key, hs->key());
  EXPECT_TRUE(req.request->offers(kSubprotocol));
  const std::string response = accept_response(*req.request, kSubprotocol);
  EXPECT_NE(response.find("Sec-WebSocket-Accept: " + accept_key(hs->key()) + "\r\n"), std::string::npos);
  auto selected = hs->check_response(response);
  ASSERT_TRUE(selected.ok()) << selected.error().message;
  EXPECT_EQ(*selected, kSubprotocol);

  // Nothing offered, nothing selected.
  auto plain = ClientHandshake::create("h", "/", std::nullopt);
  ASSERT_TRUE(plain.ok());
  auto preq = parse_client_request(plain->request());
  ASSERT_TRUE(preq.ok());
  EXPECT_TRUE(preq.request->protocols.empty());
  auto none = plain->check_response(accept_response(*preq.request, kSubprotocol));
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(*none, "");
}

TEST(WebSocketHandshake, ClientRefusesBadResponses) {
  auto hs = ClientHandshake::create("h", "/onboard");
  ASSERT_TRUE(hs.ok());
  const std::string good_accept = accept_key(hs->key());
  auto response = [&](const std::string& status, const std::string& accept, const std::string& extra) {
    return status + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n" + extra + "\r\n";
  };
  const std::string ok_proto = "Sec-WebSocket-Protocol: sedge-onboarding.v1\r\n";
  ASSERT_TRUE(hs->check_response(response("HTTP/1.1 101 Switching Protocols", good_accept, ok_proto)).ok());

  auto wrong_accept = hs->check_response(response("HTTP/1.1 101 Switching Protocols", accept_key("dGhlIHNhbXBsZSBub25jZQ=="), ok_proto));
  ASSERT_FALSE(wrong_accept.ok());
  EXPECT_NE(wrong_accept.error().message.find("Sec-WebSocket-Accept"), std::string::npos);

  auto refused = hs->check_response("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("403 Forbidden"), std::string::npos);

  EXPECT_FALSE(hs->check_response(response("HTTP/1.1 101 Switching Protocols", good_accept, "")).ok())
      << "offered subprotocol not selected";
  EXPECT_FALSE(hs->check_response(response("HTTP/1.1 101 Switching Protocols", good_accept, "Sec-WebSocket-Protocol: other\r\n")).ok());
  EXPECT_FALSE(hs->check_response(response("HTTP/1.1 101 Switching Protocols", good_accept,
                                            ok_proto + "Sec-WebSocket-Extensions: permessage-deflate\r\n")).ok());
  EXPECT_FALSE(hs->check_response("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + good_accept +
                                  "\r\n" + ok_proto + "\r\n").ok())
      << "no Upgrade header";
  EXPECT_FALSE(hs->check_response(response("HTTP/1.1 101 Switching Protocols", good_accept,
                                            ok_proto + "Sec-WebSocket-Accept: " + good_accept + "\r\n")).ok())
      << "two Accept headers";
  EXPECT_FALSE(hs->check_response(response("HTTP/1.1 1010 Switching", good_accept, ok_proto)).ok());
  EXPECT_FALSE(hs->check_response(response("HTTP/1.1 101 Switching Protocols", good_accept, ok_proto).substr(2)).ok());
}

TEST(WebSocketHandshake, HeadersAreCaseInsensitiveAndListsAreSplit) {
  std::string req =
      "GET /onboard?x=1 HTTP/1.1\r\nhost: c:930\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\r\n"
      "Sec-WebSocket-Protocol: chat, sedge-onboarding.v1\r\nSec-WebSocket-Protocol: other\r\nOrigin: https://x\r\n\r\n";
  auto r = parse_client_request(req);
  ASSERT_TRUE(r.ok()) << r.refusal.message;
  EXPECT_EQ(r.request->path, "/onboard?x=1");
  EXPECT_EQ(r.request->origin, "https://x");
  EXPECT_EQ(r.request->protocols, (std::vector<std::string>{"chat", "sedge-onboarding.v1", "other"}));
  EXPECT_EQ(accept_response(*r.request, "nope").find("Sec-WebSocket-Protocol"), std::string::npos)
      << "the server never selects what the client did not offer";
}

TEST(WebSocketHandshake, ServerRefusesBadRequestsWithTheRightStatus) {
  ASSERT_TRUE(parse_client_request(request_with()).ok());
  struct Case {
    std::string head;
    int status;
  } cases[] = {
      {request_with("", "", "POST /onboard HTTP/1.1"), 405},
      {request_with("", "", "GET /onboard HTTP/1.0"), 400},
      {request_with("", "", "GET onboard HTTP/1.1"), 400},
      {request_with("", "", "GET  /onboard HTTP/1.1"), 400},
      {request_with("Sec-WebSocket-Version", "8"), 426},
      {request_with("Sec-WebSocket-Version", ""), 426},
      {request_with("Sec-WebSocket-Key", ""), 400},
      {request_with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), 400},             // 15 bytes
      {request_with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA"), 400},         // 18 bytes
      {request_with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAB=="), 400},         // non-canonical
      {request_with("Upgrade", ""), 400},
      {request_with("Upgrade", "h2c"), 400},
      {request_with("Connection", "keep-alive"), 400},
      {request_with("Host", ""), 400},
      {request_with("Sec-WebSocket-Protocol", "a b"), 400},
      {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost h\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHo st: h\r\n\r\n", 400},
      {"GET / HTTP/1.1\nHost: h\n\n", 400},
      {"GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", 400},
      {"\r\n\r\n", 400},
      {"", 400},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.head);
    auto r = parse_client_request(c.head);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.refusal.http_status, c.status) << r.refusal.message;
    EXPECT_FALSE(r.refusal.message.empty());
    EXPECT_EQ(r.refusal.response().rfind("HTTP/1.1 " + std::to_string(c.status) + " ", 0), 0u);
  }
  EXPECT_TRUE(parse_client_request(request_with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")).ok())
      << "an all-zero key is still 16 bytes";
  auto dup_host = request_with();
  dup_host.insert(dup_host.size() - 2, "Host: other\r\n");
  EXPECT_FALSE(parse_client_request(dup_host).ok());
  auto v = parse_client_request(request_with("Sec-WebSocket-Version", "8"));
  EXPECT_NE(v.refusal.response().find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
}

TEST(WebSocketHandshake, HeadLengthFindsTheBlankLineIncrementally) {
  const std::string head = request_with();
  const std::string wire = head + "\x81\x05Hello";
  for (size_t cut = 0; cut < head.size(); ++cut) {
    auto n = head_length(span_of(std::string_view(wire).substr(0, cut)));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u) << cut;
  }
  auto n = head_length(span_of(wire));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, head.size());

  std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(kMaxHandshakeHead, 'a');
  auto too_big = head_length(span_of(huge));
  EXPECT_FALSE(too_big.ok());
  huge += "\r\n\r\n";
  EXPECT_FALSE(head_length(span_of(huge)).ok()) << "the blank line is past the limit";
  auto r = parse_client_request(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.refusal.http_status, 431);
}

// ------------------------------------------------------------ frames: RFC 6455 section 5.7 examples

DecodeResult decode(Role receiver, const Bytes& wire, size_t max = kDefaultMaxMessage) {
  FrameDecoder d(receiver, max);
  return d.feed(wire);
}

TEST(WebSocketFrames, Rfc6455Examples) {
  auto unmasked = decode(Role::client, {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  ASSERT_FALSE(unmasked.error);
  ASSERT_EQ(unmasked.messages.size(), 1u);
  EXPECT_EQ(unmasked.messages[0].opcode, Opcode::text);
  EXPECT_EQ(unmasked.messages[0].text(), "Hello");

  auto masked = decode(Role::server, {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  ASSERT_FALSE(masked.error);
  ASSERT_EQ(masked.messages.size(), 1u);
  EXPECT_EQ(masked.messages[0].text(), "Hello");

  auto fragmented = decode(Role::client, {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f});
  ASSERT_FALSE(fragmented.error);
  ASSERT_EQ(fragmented.messages.size(), 1u);
  EXPECT_EQ(fragmented.messages[0].text(), "Hello");

  auto ping = decode(Role::client, {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
  ASSERT_EQ(ping.messages.size(), 1u);
  EXPECT_EQ(ping.messages[0].opcode, Opcode::ping);
  EXPECT_EQ(ping.messages[0].text(), "Hello");

  auto pong = decode(Role::server, {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  ASSERT_EQ(pong.messages.size(), 1u);
  EXPECT_EQ(pong.messages[0].opcode, Opcode::pong);
  EXPECT_EQ(pong.messages[0].text(), "Hello");

  Bytes b256 = {0x82, 0x7E, 0x01, 0x00};
  b256.resize(4 + 256, 0xAB);
  auto bin = decode(Role::client, b256);
  ASSERT_EQ(bin.messages.size(), 1u);
  EXPECT_EQ(bin.messages[0].opcode, Opcode::binary);
  EXPECT_EQ(bin.messages[0].payload, Bytes(256, 0xAB));

  Bytes b64k = {0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
  b64k.resize(10 + 65536, 0x5A);
  auto big = decode(Role::client, b64k);
  ASSERT_FALSE(big.error) << big.error->message;
  ASSERT_EQ(big.messages.size(), 1u);
  EXPECT_EQ(big.messages[0].payload.size(), 65536u);
}

TEST(WebSocketFrames, EncoderWritesTheShortestLengthAndMasksOnlyClientFrames) {
  for (size_t n : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    SCOPED_TRACE(n);
    const Bytes payload(n, 0x42);
    auto server = encode_frame(Role::server, Opcode::binary, payload);
    ASSERT_TRUE(server.ok());
    const size_t hdr = n < 126 ? 2 : n <= 65535 ? 4 : 10;
    ASSERT_EQ(server->size(), hdr + n);
    EXPECT_EQ((*server)[0], 0x82);
    EXPECT_EQ((*server)[1] & 0x80, 0) << "server frames are not masked";
    EXPECT_EQ((*server)[1] & 0x7F, n < 126 ? n : n <= 65535 ? 126u : 127u);
    auto client = encode_frame(Role::client, Opcode::binary, payload);
    ASSERT_TRUE(client.ok());
    ASSERT_EQ(client->size(), hdr + 4 + n);
    EXPECT_EQ((*client)[1] & 0x80, 0x80) << "client frames are masked";

    auto at_server = decode(Role::server, *client, 1 << 20);
    ASSERT_FALSE(at_server.error) << at_server.error->message;
    ASSERT_EQ(at_server.messages.size(), 1u);
    EXPECT_EQ(at_server.messages[0].payload, payload);
    auto at_client = decode(Role::client, *server, 1 << 20);
    ASSERT_FALSE(at_client.error);
    ASSERT_EQ(at_client.messages.size(), 1u);
    EXPECT_EQ(at_client.messages[0].payload, payload);
  }
  // A fresh mask per frame: the same payload encodes differently.
  const Bytes payload(32, 0);
  auto a = encode_frame(Role::client, Opcode::binary, payload);
  auto b = encode_frame(Role::client, Opcode::binary, payload);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(WebSocketFrames, EncoderRefusesWhatTheProtocolForbids) {
  EXPECT_FALSE(encode_frame(Role::server, Opcode::ping, Bytes(126, 0)).ok());
  EXPECT_TRUE(encode_frame(Role::server, Opcode::ping, Bytes(125, 0)).ok());
  EXPECT_FALSE(encode_frame(Role::server, Opcode::pong, Bytes(1, 0), false).ok());
  EXPECT_FALSE(encode_message(Role::server, Opcode::continuation, Bytes(1, 0)).ok());
  EXPECT_FALSE(encode_text(Role::client, "\xC3").ok());
  EXPECT_FALSE(encode_close(Role::server, 1005).ok());
  EXPECT_FALSE(encode_close(Role::server, 1000, "\xFF").ok());
  // A long reason is cut to 123 bytes at a character boundary (é is 2 bytes).
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xC3\xA9";
  auto close = encode_close(Role::server, close_code::kMessageTooBig, reason);
  ASSERT_TRUE(close.ok());
  auto d = decode(Role::client, *close);
  ASSERT_FALSE(d.error) << d.error->message;
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].close_code, 1009);
  EXPECT_EQ(d.messages[0].close_reason.size(), 122u);
}

TEST(WebSocketFrames, ByteAtATimeGivesTheSameMessages) {
  Bytes wire;
  for (const auto& part : {encode_text(Role::client, "first"), encode_frame(Role::client, Opcode::ping, bytes("p")),
                           encode_text(Role::client, std::string(300, 'x'), 7),
                           encode_message(Role::client, Opcode::binary, Bytes(70000, 3), 30000),
                           encode_close(Role::client, 1000, "bye")}) {
    ASSERT_TRUE(part.ok());
    wire.insert(wire.end(), part->begin(), part->end());
  }
  FrameDecoder d(Role::server, 1 << 20);
  std::vector<Message> got;
  for (uint8_t b : wire) {
    auto r = d.feed(std::span(&b, 1));
    ASSERT_FALSE(r.error) << r.error->message;
    for (auto& m : r.messages) got.push_back(std::move(m));
  }
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].text(), "first");
  EXPECT_EQ(got[1].opcode, Opcode::ping);
  EXPECT_EQ(got[2].text(), std::string(300, 'x'));
  EXPECT_EQ(got[3].payload, Bytes(70000, 3));
  EXPECT_EQ(got[4].opcode, Opcode::close);
  EXPECT_EQ(got[4].close_code, 1000);
  EXPECT_EQ(got[4].close_reason, "bye");
  EXPECT_TRUE(d.closed());
}

TEST(WebSocketFrames, ControlFramesMayInterleaveWithFragments) {
  // "Hel" (not final), ping, "lo" (final)
  auto r = decode(Role::client, {0x01, 0x03, 'H', 'e', 'l', 0x89, 0x01, 'p', 0x80, 0x02, 'l', 'o'});
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].opcode, Opcode::ping);
  EXPECT_EQ(r.messages[1].text(), "Hello");
}

void expect_error(const Bytes& wire, Role receiver, uint16_t code, const std::string& what, size_t max = kDefaultMaxMessage) {
  SCOPED_TRACE(what);
  FrameDecoder d(receiver, max);
  auto r = d.feed(wire);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->close_code, code) << r.error->message;
  EXPECT_FALSE(r.error->message.empty());
  EXPECT_TRUE(d.failed());
  // The error sticks: later bytes change nothing.
  auto again = d.feed(Bytes{0x81, 0x00});
  ASSERT_TRUE(again.error.has_value());
  EXPECT_EQ(again.error->close_code, code);
  EXPECT_TRUE(again.messages.empty());
}

TEST(WebSocketFrames, ProtocolViolationsCloseWith1002) {
  expect_error({0xC1, 0x00}, Role::client, 1002, "RSV1");
  expect_error({0xA1, 0x00}, Role::client, 1002, "RSV2");
  expect_error({0x91, 0x00}, Role::client, 1002, "RSV3");
  expect_error({0x83, 0x00}, Role::client, 1002, "opcode 3");
  expect_error({0x8B, 0x00}, Role::client, 1002, "opcode 0xB");
  expect_error({0x80, 0x01, 'x'}, Role::client, 1002, "continuation with nothing to continue");
  expect_error({0x01, 0x01, 'a', 0x81, 0x01, 'b'}, Role::client, 1002, "new text inside a fragmented message");
  expect_error({0x09, 0x00}, Role::client, 1002, "fragmented ping");
  expect_error({0x08, 0x00}, Role::client, 1002, "fragmented close");
  Bytes ping126 = {0x89, 0x7E, 0x00, 0x7E};
  ping126.resize(4 + 126, 0);
  expect_error(ping126, Role::client, 1002, "ping of 126 bytes");
  Bytes short16 = {0x82, 0x7E, 0x00, 0x05, 1, 2, 3, 4, 5};
  expect_error(short16, Role::client, 1002, "16-bit length 5");
  Bytes short64 = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0xC8};
  short64.resize(10 + 200, 0);
  expect_error(short64, Role::client, 1002, "64-bit length 200");
  Bytes fits16 = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  expect_error(fits16, Role::client, 1002, "64-bit length 65535");
  expect_error({0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}, Role::client, 1002, "64-bit length with the top bit set");
}

TEST(WebSocketFrames, MaskingMustMatchTheDirection) {
  expect_error({0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}, Role::server, 1002, "unmasked frame at the server");
  expect_error({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, Role::client, 1002, "masked frame at the client");
}

TEST(WebSocketFrames, OversizedMessagesCloseWith1009) {
  auto exact = encode_message(Role::server, Opcode::binary, Bytes(kDefaultMaxMessage, 1));
  ASSERT_TRUE(exact.ok());
  auto r = decode(Role::client, *exact);
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.messages.size(), 1u);

  auto over = encode_message(Role::server, Opcode::binary, Bytes(kDefaultMaxMessage + 1, 1));
  ASSERT_TRUE(over.ok());
  expect_error(*over, Role::client, 1009, "one byte over the default");
  // Refused from the header alone, before the payload arrives.
  expect_error(Bytes(over->begin(), over->begin() + 10), Role::client, 1009, "header only");
  expect_error({0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, Role::client, 1009, "2^63 - 1 bytes announced");

  auto fragments = encode_message(Role::server, Opcode::text, Bytes(11, 'a'), 4);
  ASSERT_TRUE(fragments.ok());
  expect_error(*fragments, Role::client, 1009, "fragments adding up past a max of 10", 10);
  auto fits = decode(Role::client, *fragments, 11);
  ASSERT_FALSE(fits.error);
  EXPECT_EQ(fits.messages.size(), 1u);
}

TEST(WebSocketFrames, TextMustBeUtf8) {
  expect_error({0x81, 0x02, 0xC3, 0x28}, Role::client, 1007, "bad continuation byte");
  expect_error({0x81, 0x02, 0xC0, 0x80}, Role::client, 1007, "overlong NUL");
  expect_error({0x81, 0x03, 0xED, 0xA0, 0x80}, Role::client, 1007, "surrogate");
  expect_error({0x81, 0x04, 0xF4, 0x90, 0x80, 0x80}, Role::client, 1007, "above U+10FFFF");
  expect_error({0x81, 0x01, 0xC3}, Role::client, 1007, "truncated sequence");
  // A character split across two fragments is fine; binary is not checked.
  auto split = decode(Role::client, {0x01, 0x01, 0xC3, 0x80, 0x01, 0xA9});
  ASSERT_FALSE(split.error) << split.error->message;
  EXPECT_EQ(split.messages[0].text(), "\xC3\xA9");
  // Refused at the first fragment that cannot become UTF-8, before the message ends.
  expect_error({0x01, 0x02, 'o', 0xFF}, Role::client, 1007, "bad byte in the first fragment");
  expect_error({0x01, 0x02, 0xE2, 0x28}, Role::client, 1007, "bad continuation inside the first fragment");
  expect_error({0x01, 0x01, 0xE2, 0x00, 0x01, 0x28}, Role::client, 1007, "bad continuation in the second fragment");
  auto split3 = decode(Role::client, {0x01, 0x01, 0xE2, 0x00, 0x01, 0x82, 0x80, 0x01, 0xAC});
  ASSERT_FALSE(split3.error) << split3.error->message;
  EXPECT_EQ(split3.messages[0].text(), "\xE2\x82\xAC");
  expect_error({0x01, 0x01, 0xE2, 0x80, 0x00}, Role::client, 1007, "message ends inside a character");
  // One byte per fragment, multi-byte characters throughout.
  std::string euros;
  for (int i = 0; i < 2000; ++i) euros += "\xE2\x82\xAC";
  auto tiny = encode_text(Role::server, euros, 1);
  ASSERT_TRUE(tiny.ok());
  auto many = decode(Role::client, *tiny);
  ASSERT_FALSE(many.error) << many.error->message;
  ASSERT_EQ(many.messages.size(), 1u);
  EXPECT_EQ(many.messages[0].text(), euros);
  auto bin = decode(Role::client, {0x82, 0x02, 0xC0, 0x80});
  EXPECT_FALSE(bin.error);
}

TEST(WebSocketFrames, Utf8Validator) {
  EXPECT_TRUE(is_valid_utf8(span_of("")));
  EXPECT_TRUE(is_valid_utf8(span_of("plain ascii")));
  EXPECT_TRUE(is_valid_utf8(span_of("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF")));
  EXPECT_TRUE(is_valid_utf8(span_of("\xED\x9F\xBF")));  // U+D7FF
  EXPECT_FALSE(is_valid_utf8(span_of("\xE0\x80\xAF")));  // overlong '/'
  EXPECT_FALSE(is_valid_utf8(span_of("\xF0\x80\x80\xAF")));
  EXPECT_FALSE(is_valid_utf8(span_of("\xF5\x80\x80\x80")));
  EXPECT_FALSE(is_valid_utf8(span_of("\x80")));
  EXPECT_FALSE(is_valid_utf8(span_of("\xFF")));
  EXPECT_FALSE(is_valid_utf8(span_of("\xE2\x82")));
}

TEST(WebSocketFrames, CloseFrames) {
  auto normal = decode(Role::client, {0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'});
  ASSERT_FALSE(normal.error);
  ASSERT_EQ(normal.messages.size(), 1u);
  EXPECT_EQ(normal.messages[0].close_code, 1000);
  EXPECT_EQ(normal.messages[0].close_reason, "bye");

  auto empty = decode(Role::client, {0x88, 0x00});
  ASSERT_EQ(empty.messages.size(), 1u);
  EXPECT_EQ(empty.messages[0].close_code, close_code::kNoStatus);

  auto app = decode(Role::client, {0x88, 0x02, 0x0F, 0xA0});  // 4000
  ASSERT_FALSE(app.error);
  EXPECT_EQ(app.messages[0].close_code, 4000);

  expect_error({0x88, 0x01, 0x03}, Role::client, 1002, "1-byte close payload");
  expect_error({0x88, 0x02, 0x03, 0xED}, Role::client, 1002, "close code 1005 on the wire");
  expect_error({0x88, 0x02, 0x03, 0xEE}, Role::client, 1002, "close code 1006 on the wire");
  expect_error({0x88, 0x02, 0x03, 0xE7}, Role::client, 1002, "close code 999");
  expect_error({0x88, 0x02, 0x07, 0xD0}, Role::client, 1002, "close code 2000");
  expect_error({0x88, 0x02, 0x13, 0x88}, Role::client, 1002, "close code 5000");
  expect_error({0x88, 0x03, 0x03, 0xE8, 0xFF}, Role::client, 1007, "close reason not UTF-8");

  // After a close, nothing more is decoded.
  FrameDecoder d(Role::client);
  auto r = d.feed(Bytes{0x81, 0x01, 'a', 0x88, 0x00, 0x81, 0x01, 'b'});
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].text(), "a");
  EXPECT_EQ(r.messages[1].opcode, Opcode::close);
  EXPECT_TRUE(d.closed());
  auto after = d.feed(Bytes{0x81, 0x01, 'c'});
  EXPECT_FALSE(after.error);
  EXPECT_TRUE(after.messages.empty());
}

TEST(WebSocketFrames, MessagesBeforeAnErrorAreDelivered) {
  auto r = decode(Role::client, {0x81, 0x02, 'o', 'k', 0xC1, 0x00});
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->close_code, 1002);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].text(), "ok");
  const Error e = r.error->to_error();
  EXPECT_NE(e.message.find("1002"), std::string::npos);
}

}  // namespace
}  // namespace sedge::websocket

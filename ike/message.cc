#include "ike/message.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace sedge::ike {

namespace {
Error malformed(const std::string& what) { return Error{"malformed IKE message: " + what, EBADMSG}; }

// Payload types this implementation understands; an unknown one marked critical fails.
bool known(uint8_t type) { return (type >= kSa && type <= kEap) || type == kSkf; }

}  // namespace

const Payload* Message::find(uint8_t type) const {
  auto it = std::find_if(payloads.begin(), payloads.end(), [type](const Payload& p) { return p.type == type; });
  return it == payloads.end() ? nullptr : &*it;
}

Result<std::vector<Payload>> parse_payloads(uint8_t next, std::span<const uint8_t> d) {
  std::vector<Payload> out;
  size_t at = 0;
  while (next != kNoNext) {
    if (at + 4 > d.size()) return malformed("payload header truncated");
    const uint16_t length = get16(d, at + 2);
    if (length < 4 || at + length > d.size()) return malformed("payload length " + std::to_string(length) + " out of bounds");
    Payload p;
    p.type = next;
    p.critical = (d[at + 1] & 0x80) != 0;
    if (!known(p.type) && p.critical) {
      return Error{"unsupported critical payload " + std::to_string(p.type), EPROTONOSUPPORT};
    }
    p.body.assign(d.begin() + static_cast<long>(at + 4), d.begin() + static_cast<long>(at + length));
    next = d[at];
    at += length;
    const bool sk = p.type == kSk || p.type == kSkf;
    if (sk) p.inner_first = next;
    if (known(p.type)) out.push_back(std::move(p));
    if (sk) return out;  // the SK (or SKF) payload is last; its next-payload names the first inner one
  }
  if (at != d.size()) return malformed("trailing bytes after the last payload");
  return out;
}

Result<Message> parse(std::span<const uint8_t> d) {
  if (d.size() < kHeaderSize) return malformed("shorter than the IKE header");
  if (d.size() > kMaxMessageSize) return malformed("larger than 65535 bytes");
  Message m;
  Header& h = m.header;
  h.spi_i = get64(d, 0);
  h.spi_r = get64(d, 8);
  h.first_payload = d[16];
  if (d[17] >> 4 != 2) return Error{"IKE major version " + std::to_string(d[17] >> 4) + " (only 2 is supported)", EPROTONOSUPPORT};
  h.exchange = static_cast<Exchange>(d[18]);
  h.flags = d[19];
  h.message_id = get32(d, 20);
  h.length = get32(d, 24);
  if (h.length != d.size()) return malformed("header length " + std::to_string(h.length) + " but " + std::to_string(d.size()) + " bytes");
  if (h.spi_i == 0) return malformed("initiator SPI is zero");
  auto payloads = parse_payloads(h.first_payload, d.subspan(kHeaderSize));
  if (!payloads) return payloads.error();
  m.payloads = std::move(*payloads);
  return m;
}

Bytes serialize_header(const Header& h) {
  Bytes b;
  b.reserve(kHeaderSize);
  put64(b, h.spi_i);
  put64(b, h.spi_r);
  b.push_back(h.first_payload);
  b.push_back(0x20);
  b.push_back(static_cast<uint8_t>(h.exchange));
  b.push_back(h.flags);
  put32(b, h.message_id);
  put32(b, h.length);
  return b;
}

Bytes serialize_payloads(const std::vector<Payload>& payloads) {
  Bytes b;
  for (size_t i = 0; i < payloads.size(); ++i) {
    const uint8_t next = payloads[i].type == kSk ? payloads[i].inner_first
                         : i + 1 < payloads.size() ? payloads[i + 1].type
                                                   : kNoNext;
    b.push_back(next);
    b.push_back(payloads[i].critical ? 0x80 : 0x00);
    put16(b, static_cast<uint16_t>(payloads[i].body.size() + 4));
    b.insert(b.end(), payloads[i].body.begin(), payloads[i].body.end());
  }
  return b;
}

Bytes serialize(Header h, const std::vector<Payload>& payloads) {
  const Bytes body = serialize_payloads(payloads);
  h.first_payload = payloads.empty() ? kNoNext : payloads.front().type;
  h.length = static_cast<uint32_t>(kHeaderSize + body.size());
  Bytes out = serialize_header(h);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes encode_sa(const std::vector<Proposal>& proposals) {
  Bytes b;
  for (size_t p = 0; p < proposals.size(); ++p) {
    const Proposal& pr = proposals[p];
    Bytes transforms;
    for (size_t t = 0; t < pr.transforms.size(); ++t) {
      const Transform& tr = pr.transforms[t];
      transforms.push_back(t + 1 < pr.transforms.size() ? 3 : 0);
      transforms.push_back(0);
      put16(transforms, static_cast<uint16_t>(tr.key_length ? 12 : 8));
      transforms.push_back(tr.type);
      transforms.push_back(0);
      put16(transforms, tr.id);
      if (tr.key_length) {
        put16(transforms, 0x8000 | 14);
        put16(transforms, *tr.key_length);
      }
    }
    b.push_back(p + 1 < proposals.size() ? 2 : 0);
    b.push_back(0);
    put16(b, static_cast<uint16_t>(8 + pr.spi.size() + transforms.size()));
    b.push_back(pr.number);
    b.push_back(pr.protocol);
    b.push_back(static_cast<uint8_t>(pr.spi.size()));
    b.push_back(static_cast<uint8_t>(pr.transforms.size()));
    b.insert(b.end(), pr.spi.begin(), pr.spi.end());
    b.insert(b.end(), transforms.begin(), transforms.end());
  }
  return b;
}

Result<std::vector<Proposal>> decode_sa(std::span<const uint8_t> d) {
  std::vector<Proposal> out;
  size_t at = 0;
  bool more = !d.empty();
  while (more) {
    if (at + 8 > d.size()) return malformed("proposal truncated");
    more = d[at] == 2;
    const uint16_t len = get16(d, at + 2);
    if (len < 8 || at + len > d.size()) return malformed("proposal length out of bounds");
    Proposal p;
    p.number = d[at + 4];
    p.protocol = d[at + 5];
    const uint8_t spi_size = d[at + 6], count = d[at + 7];
    if (8u + spi_size > len) return malformed("proposal SPI larger than the proposal");
    p.spi.assign(d.begin() + static_cast<long>(at + 8), d.begin() + static_cast<long>(at + 8 + spi_size));
    size_t t = at + 8 + spi_size;
    for (uint8_t i = 0; i < count; ++i) {
      if (t + 8 > at + len) return malformed("transform truncated");
      const uint16_t tlen = get16(d, t + 2);
      if (tlen < 8 || t + tlen > at + len) return malformed("transform length out of bounds");
      Transform tr;
      tr.type = d[t + 4];
      tr.id = get16(d, t + 6);
      for (size_t a = t + 8; a + 4 <= t + tlen;) {
        const uint16_t attr = get16(d, a);
        if (attr & 0x8000) {
          if ((attr & 0x7fff) == 14) tr.key_length = get16(d, a + 2);
          a += 4;
        } else {
          a += 4u + get16(d, a + 2);
        }
      }
      p.transforms.push_back(tr);
      t += tlen;
    }
    out.push_back(std::move(p));
    at += len;
  }
  return out;
}

Bytes encode_notify(const Notify& n) {
  Bytes b{n.protocol, static_cast<uint8_t>(n.spi.size())};
  put16(b, n.type);
  b.insert(b.end(), n.spi.begin(), n.spi.end());
  b.insert(b.end(), n.data.begin(), n.data.end());
  return b;
}

Result<Notify> decode_notify(std::span<const uint8_t> d) {
  if (d.size() < 4 || 4u + d[1] > d.size()) return malformed("notify truncated");
  Notify n;
  n.protocol = d[0];
  n.type = get16(d, 2);
  n.spi.assign(d.begin() + 4, d.begin() + 4 + d[1]);
  n.data.assign(d.begin() + 4 + d[1], d.end());
  return n;
}

Bytes encode_ts(const std::vector<TrafficSelector>& selectors) {
  Bytes b{static_cast<uint8_t>(selectors.size()), 0, 0, 0};
  for (const auto& s : selectors) {
    const size_t n = s.address_size();
    b.insert(b.end(), {s.type, s.protocol});
    put16(b, static_cast<uint16_t>(8 + 2 * n));
    put16(b, s.start_port);
    put16(b, s.end_port);
    b.insert(b.end(), s.start, s.start + n);
    b.insert(b.end(), s.end, s.end + n);
  }
  return b;
}

// Selectors of a type we do not know are skipped (the peer may offer more than we take).
Result<std::vector<TrafficSelector>> decode_ts(std::span<const uint8_t> d) {
  if (d.size() < 4) return malformed("traffic selectors truncated");
  std::vector<TrafficSelector> out;
  size_t at = 4;
  for (uint8_t i = 0; i < d[0]; ++i) {
    if (at + 4 > d.size()) return malformed("traffic selector truncated");
    const uint16_t len = get16(d, at + 2);
    if (len < 8 || at + len > d.size()) return malformed("traffic selector length out of bounds");
    const uint8_t type = d[at];
    if (type == kTsIpv4AddrRange || type == kTsIpv6AddrRange) {
      TrafficSelector s;
      s.type = type;
      const size_t n = s.address_size();
      if (len != 8 + 2 * n) return malformed("traffic selector of type " + std::to_string(type) + " with length " + std::to_string(len));
      s.protocol = d[at + 1];
      s.start_port = get16(d, at + 4);
      s.end_port = get16(d, at + 6);
      std::copy_n(d.begin() + static_cast<long>(at + 8), n, s.start);
      std::copy_n(d.begin() + static_cast<long>(at + 8 + n), n, s.end);
      out.push_back(s);
    }
    at += len;
  }
  return out;
}

bool TrafficSelector::contains(const TrafficSelector& inner) const {
  const size_t n = address_size();
  return inner.type == type && (protocol == 0 || inner.protocol == protocol) && inner.start_port >= start_port &&
         inner.end_port <= end_port && std::memcmp(inner.start, start, n) >= 0 && std::memcmp(inner.end, end, n) <= 0;
}

std::optional<TrafficSelector> intersect(const TrafficSelector& a, const TrafficSelector& b) {
  if (a.type != b.type || (a.protocol && b.protocol && a.protocol != b.protocol)) return std::nullopt;
  const size_t n = a.address_size();
  TrafficSelector r = a;
  r.protocol = a.protocol ? a.protocol : b.protocol;
  r.start_port = std::max(a.start_port, b.start_port);
  r.end_port = std::min(a.end_port, b.end_port);
  std::memcpy(r.start, std::memcmp(a.start, b.start, n) >= 0 ? a.start : b.start, n);
  std::memcpy(r.end, std::memcmp(a.end, b.end, n) <= 0 ? a.end : b.end, n);
  if (r.start_port > r.end_port || std::memcmp(r.start, r.end, n) > 0) return std::nullopt;
  return r;
}

Bytes encode_ke(uint16_t group, std::span<const uint8_t> public_value) {
  Bytes b;
  put16(b, group);
  put16(b, 0);
  b.insert(b.end(), public_value.begin(), public_value.end());
  return b;
}

Result<KePayload> decode_ke(std::span<const uint8_t> body) {
  if (body.size() < 5) return Error{"KE payload without a public value", EBADMSG};
  KePayload ke{get16(body, 0), Bytes(body.begin() + 4, body.end())};
  if (ke.group == 0) return Error{"KE payload for DH group 0", EBADMSG};
  return ke;
}

Bytes encode_typed(uint8_t type, std::span<const uint8_t> data) {
  Bytes b{type, 0, 0, 0};
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

}  // namespace sedge::ike

// ike-load: many IKE SAs in flight from one process against a responder (sedge's ike::Server or
// charon), for the IKE benchmark. One UDP socket, responses demultiplexed by the initiator's
// SPI; IKE_SA_INIT (answering a COOKIE) then IKE_AUTH with a PSK and one CHILD_SA, the
// responder's AUTH verified. Prints the setups per second.
//   ike-load LOCAL_IP REMOTE_IP GROUP COUNT [CONCURRENCY [PSK_FILE]]  (the key: the file's first line)
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "ike/crypto.h"
#include "ike/initiator.h"

using namespace sedge;
using namespace sedge::ike;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint16_t kCookie = 16390;
constexpr uint8_t kAuthSharedKey = 2;

struct Attempt {
  uint64_t spi_i = 0;
  std::optional<KeyExchange> dh;
  Bytes ni, nr, init_request, request;
  IkeKeys keys;
  Bytes init_response;
  int stage = 0;  // 0 IKE_SA_INIT, 1 IKE_AUTH
  int tries = 0;
  Clock::time_point sent;
};

std::string group_name(uint16_t g) {
  switch (g) {
    case 14: return "modp2048";
    case 19: return "ecp256";
    case 31: return "curve25519";
    default: return "";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: ike-load LOCAL_IP REMOTE_IP GROUP COUNT [CONCURRENCY [PSK_FILE]]  (the key: the file's first line)\n");
    return 2;
  }
  sockaddr_in local{}, remote{};
  local.sin_family = remote.sin_family = AF_INET;
  remote.sin_port = htons(500);
  if (inet_pton(AF_INET, argv[1], &local.sin_addr) != 1 || inet_pton(AF_INET, argv[2], &remote.sin_addr) != 1) {
    std::fprintf(stderr, "ike-load: bad address\n");
    return 2;
  }
  const auto group = static_cast<uint16_t>(std::stoi(argv[3]));
  const long count = std::stol(argv[4]);
  const long window = argc > 5 ? std::stol(argv[5]) : 32;
  std::string psk_text = "sedge ike benchmark pre-shared key";
  if (argc > 6) {
    std::ifstream f(argv[6]);
    std::getline(f, psk_text);
  }
  const Secret psk{std::string_view(psk_text)};
  auto suite = parse_suite("aes128gcm16-prfsha256-" + group_name(group), "aes128gcm16");
  if (!suite) {
    std::fprintf(stderr, "ike-load: group %u: %s\n", group, suite.error().message.c_str());
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  const int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    std::perror("ike-load: socket");
    return 1;
  }
  const std::string idi_text = "load@example.com", idr_text = "pop.example.net";
  const Bytes idi = encode_typed(kIdRfc822, Bytes(idi_text.begin(), idi_text.end()));
  const Bytes idr = encode_typed(kIdFqdn, Bytes(idr_text.begin(), idr_text.end()));
  const TrafficSelector tsi{{10, 99, 99, 0}, {10, 99, 99, 255}}, tsr{{10, 201, 0, 0}, {10, 201, 0, 255}};

  std::unordered_map<uint64_t, std::unique_ptr<Attempt>> inflight;
  long started = 0, established = 0, failed = 0, cookies = 0, retransmits = 0;
  uint32_t next_child_spi = 0xd0000000u;
  auto send = [&](const Bytes& b) { (void)sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&remote), sizeof remote); };
  auto init_payloads = [&](const Attempt& a, const Bytes& cookie) {
    std::vector<Payload> p = {{kSa, false, encode_sa({{1, 1, {}, ike_transforms(*suite)}})},
                              {kKe, false, encode_ke(group, a.dh->public_value())},
                              {kNonce, false, a.ni}};
    if (!cookie.empty()) p.insert(p.begin(), {kNotify, false, encode_notify({0, {}, kCookie, cookie})});
    return serialize({a.spi_i, 0, 0, Exchange::ike_sa_init, kFlagInitiator, 0, 0}, p);
  };
  const auto t0 = Clock::now();
  std::vector<uint8_t> buf(65535);
  while (established + failed < count) {
    while (started < count && static_cast<long>(inflight.size()) < window) {
      auto a = std::make_unique<Attempt>();
      for (uint8_t b : random_bytes(8)) a->spi_i = a->spi_i << 8 | b;
      auto dh = KeyExchange::generate(group);
      if (!dh) {
        std::fprintf(stderr, "ike-load: %s\n", dh.error().message.c_str());
        return 1;
      }
      a->dh.emplace(std::move(*dh));
      a->ni = random_bytes(32);
      a->init_request = a->request = init_payloads(*a, {});
      a->sent = Clock::now();
      send(a->request);
      ++started;
      inflight.emplace(a->spi_i, std::move(a));
    }
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, 20);
    for (;;) {
      const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      auto m = parse(std::span(buf.data(), static_cast<size_t>(n)));
      if (!m || !(m->header.flags & kFlagResponse)) continue;
      auto it = inflight.find(m->header.spi_i);
      if (it == inflight.end()) continue;
      Attempt& a = *it->second;
      if (a.stage == 0 && m->header.exchange == Exchange::ike_sa_init) {
        const Payload* n0 = m->find(kNotify);
        const Payload* ke = m->find(kKe);
        const Payload* nr = m->find(kNonce);
        if (!ke && n0) {
          auto notify = decode_notify(n0->body);
          if (notify && notify->type == kCookie) {
            ++cookies;
            a.init_request = a.request = init_payloads(a, notify->data);
            send(a.request);
            a.sent = Clock::now();
            continue;
          }
        }
        auto kep = ke && nr ? decode_ke(ke->body) : Result<KePayload>(Error{"no KE", 0});
        auto g_ir = kep ? a.dh->shared_secret(kep->public_value) : Result<Secret>(kep.error());
        if (!g_ir) {
          ++failed;
          inflight.erase(it);
          continue;
        }
        a.nr = nr->body;
        a.keys = derive_ike_keys(*suite, g_ir->bytes(), a.ni, a.nr, a.spi_i, m->header.spi_r);
        a.init_response.assign(buf.begin(), buf.begin() + n);
        const uint32_t spi = next_child_spi++;
        const Bytes spi_bytes{static_cast<uint8_t>(spi >> 24), static_cast<uint8_t>(spi >> 16), static_cast<uint8_t>(spi >> 8),
                              static_cast<uint8_t>(spi)};
        const std::vector<Payload> inner = {{kIdi, false, idi},
                                            {kIdr, false, idr},
                                            {kAuth, false, encode_typed(kAuthSharedKey, psk_auth(psk, a.init_request, a.nr, a.keys.sk_pi, idi))},
                                            {kSa, false, encode_sa({{1, 3, spi_bytes, esp_transforms(*suite)}})},
                                            {kTsi, false, encode_ts({tsi})},
                                            {kTsr, false, encode_ts({tsr})}};
        a.request = seal(a.keys.sk_ei, {a.spi_i, m->header.spi_r, kSk, Exchange::ike_auth, kFlagInitiator, 1, 0}, kIdi,
                         serialize_payloads(inner), 1);
        a.stage = 1;
        a.tries = 0;
        a.sent = Clock::now();
        send(a.request);
      } else if (a.stage == 1 && m->header.exchange == Exchange::ike_auth) {
        auto inner = open(a.keys.sk_er, *m, std::span(buf.data(), static_cast<size_t>(n)));
        bool ok = false;
        if (inner) {
          const Payload *id = nullptr, *auth = nullptr;
          for (const auto& q : *inner) {
            if (q.type == kIdr) id = &q;
            if (q.type == kAuth) auth = &q;
          }
          ok = id && auth && auth->body.size() > 4 &&
               constant_time_equal(std::span(auth->body).subspan(4), psk_auth(psk, a.init_response, a.ni, a.keys.sk_pr, id->body));
        }
        ok ? ++established : ++failed;
        inflight.erase(it);
      }
    }
    const auto now = Clock::now();
    for (auto it = inflight.begin(); it != inflight.end();) {
      Attempt& a = *it->second;
      if (now - a.sent < std::chrono::seconds(5)) {
        ++it;
        continue;
      }
      if (++a.tries > 3) {
        ++failed;
        it = inflight.erase(it);
        continue;
      }
      ++retransmits;
      a.sent = now;
      send(a.request);
      ++it;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("ike-load: group %u: %ld established, %ld failed, %ld cookies, %ld retransmissions in %.3f s: %.1f setups/s\n", group,
              established, failed, cookies, retransmits, seconds, static_cast<double>(established) / seconds);
  return failed == 0 ? 0 : 1;
}

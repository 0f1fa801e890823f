// nl-driver: a small test daemon that programs the kernel through sedge's netlink layer only.
// The lab scenarios drive it; keys arrive on stdin inside the JSON spec, never in argv.
//
//   nl-driver apply   < spec.json   reconcile (adopt what the spec names, remove other sedge
//                                   objects), then install the spec; prints one JSON report
//   nl-driver daemon  < spec.json   the same, then prints "ready" and stays (kill -9 target);
//                                   holds a UDP_ENCAP socket when the spec has "encap_port"
//   nl-driver events N SECONDS      prints "listening", then up to N XFRM events, one per line
//   nl-driver sa DST SPI [MARK]     prints an SA's counters as JSON (GETSA with stats)
//   nl-driver allocspi SRC DST REQID   prints the SPI the kernel allocated
//   nl-driver encap-socket PORT     holds UDP sockets (IPv4, IPv6) with UDP_ENCAP_ESPINUDP
#include <linux/udp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/files.h"
#include "netlink/ownership.h"
#include "netlink/reconcile.h"
#include "netlink/route.h"
#include "netlink/xfrm_client.h"
#include "netlink/xfrm_messages.h"

using namespace sedge;
using namespace sedge::netlink;
using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "nl-driver: %s\n", message.c_str());
  std::exit(1);
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r) fail(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}

IpAddress addr(const json& j) { return must(IpAddress::parse(j.get<std::string>()), "address"); }
IpPrefix prefix(const json& j) { return must(IpPrefix::parse(j.get<std::string>()), "prefix"); }

uint32_t number(const json& j) {
  if (j.is_string()) return static_cast<uint32_t>(std::stoul(j.get<std::string>(), nullptr, 0));
  return j.get<uint32_t>();
}

Secret hex_key(const json& j) {
  std::string hex = j.get<std::string>();
  if (hex.rfind("0x", 0) == 0) hex = hex.substr(2);
  Secret key(hex.size() / 2);
  for (size_t i = 0; i < key.size(); ++i) {
    key.mutable_bytes()[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  }
  return key;
}

std::optional<XfrmMark> mark(const json& j) {
  if (!j.contains("mark")) return std::nullopt;
  const json& m = j["mark"];
  return XfrmMark{number(m["value"]), m.contains("mask") ? number(m["mask"]) : 0xffffffff};
}

XfrmMode mode(const json& j) {
  return j.value("mode", "tunnel") == "transport" ? XfrmMode::Transport : XfrmMode::Tunnel;
}

XfrmSa sa_from(const json& j) {
  XfrmSa sa;
  sa.src = addr(j["src"]);
  sa.dst = addr(j["dst"]);
  sa.spi = number(j["spi"]);
  sa.reqid = number(j["reqid"]);
  sa.mode = mode(j);
  if (j.contains("aead")) {
    sa.aead = XfrmAead{j["aead"]["name"], hex_key(j["aead"]["key"]), j["aead"].value("icv", 128u)};
  }
  if (j.contains("crypt")) sa.crypt = XfrmCrypt{j["crypt"]["name"], hex_key(j["crypt"]["key"])};
  if (j.contains("auth")) {
    sa.auth = XfrmAuth{j["auth"]["name"], hex_key(j["auth"]["key"]), j["auth"].value("trunc", 0u)};
  }
  sa.esn = j.value("esn", false);
  sa.replay_window = j.value("replay_window", 32u);
  if (j.contains("lifetime")) {
    const json& l = j["lifetime"];
    sa.lifetime.soft_packets = l.value("soft_packets", kXfrmInfinite);
    sa.lifetime.hard_packets = l.value("hard_packets", kXfrmInfinite);
    sa.lifetime.soft_bytes = l.value("soft_bytes", kXfrmInfinite);
    sa.lifetime.hard_bytes = l.value("hard_bytes", kXfrmInfinite);
    sa.lifetime.soft_add_seconds = l.value("soft_seconds", uint64_t{0});
    sa.lifetime.hard_add_seconds = l.value("hard_seconds", uint64_t{0});
  }
  if (j.contains("encap")) {
    sa.encap = XfrmEncap{2, static_cast<uint16_t>(j["encap"].value("sport", 4500)),
                         static_cast<uint16_t>(j["encap"].value("dport", 4500)), std::nullopt};
  }
  sa.mark = mark(j);
  return sa;
}

XfrmPolicy policy_from(const json& j) {
  XfrmPolicy p;
  p.selector.src = prefix(j["src"]);
  p.selector.dst = prefix(j["dst"]);
  p.selector.proto = static_cast<uint8_t>(j.value("proto", 0));
  std::string dir = j.value("dir", "out");
  p.dir = dir == "in" ? XfrmDir::In : dir == "fwd" ? XfrmDir::Fwd : XfrmDir::Out;
  p.priority = j.value("priority", 1000u);
  p.mark = mark(j);
  for (const auto& t : j.value("tmpl", json::array())) {
    XfrmTemplate tmpl;
    tmpl.mode = mode(t);
    if (t.contains("src")) tmpl.src = addr(t["src"]);
    if (t.contains("dst")) tmpl.dst = addr(t["dst"]);
    tmpl.reqid = number(t["reqid"]);
    p.templates.push_back(tmpl);
  }
  return p;
}

Route route_from(const json& j) {
  Route r;
  r.dst = prefix(j["dst"]);
  r.table = number(j["table"]);
  r.device = j.value("dev", "");
  if (j.contains("via")) r.gateway = addr(j["via"]);
  if (j.contains("src")) r.prefsrc = addr(j["src"]);
  return r;
}

Rule rule_from(const json& j) {
  return Rule{j.value("family", 4) == 6 ? AF_INET6 : AF_INET, number(j["priority"]),
              number(j["fwmark"]), j.contains("mask") ? number(j["mask"]) : 0xffffffff,
              number(j["table"])};
}

int open_encap_socket(int port, int family) {
  int s = socket(family, SOCK_DGRAM, 0);
  if (s < 0) fail("socket: " + std::string(strerror(errno)));
  int one = 1;
  if (family == AF_INET6 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
    fail("IPV6_V6ONLY: " + std::string(strerror(errno)));
  }
  int type = UDP_ENCAP_ESPINUDP;
  if (setsockopt(s, IPPROTO_UDP, UDP_ENCAP, &type, sizeof type) < 0) {
    fail("UDP_ENCAP: " + std::string(strerror(errno)));
  }
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *a;
  }
  if (bind(s, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    fail("bind UDP " + std::to_string(port) + ": " + strerror(errno));
  }
  return s;
}

// Reconcile against the spec, then install what is missing (SAs and policies in one batch,
// rolled back if any of it fails). Returns the report.
json apply(const json& spec) {
  auto xfrm = must(XfrmClient::open(), "xfrm");
  auto routes = must(RouteClient::open(), "route");
  std::vector<XfrmSa> sas;
  std::vector<XfrmPolicy> policies;
  std::vector<Route> route_list;
  std::vector<Rule> rules;
  KeepSet keep;
  for (const auto& j : spec.value("sas", json::array())) {
    sas.push_back(sa_from(j));
    keep.sas.push_back(sas.back().id());
  }
  for (const auto& j : spec.value("policies", json::array())) {
    policies.push_back(policy_from(j));
    keep.policies.push_back(policies.back().id());
  }
  for (const auto& j : spec.value("links", json::array())) keep.links.push_back(j["name"]);
  for (const auto& j : spec.value("routes", json::array())) {
    route_list.push_back(route_from(j));
    keep.routes.push_back(route_list.back());
  }
  for (const auto& j : spec.value("rules", json::array())) {
    rules.push_back(rule_from(j));
    keep.rules.push_back(rules.back());
  }
  auto report = must(reconcile(xfrm, routes, keep), "reconcile");

  json out = {{"sas_adopted", report.sas_adopted},
              {"sas_removed", report.sas_removed},
              {"policies_adopted", report.policies_adopted},
              {"policies_removed", report.policies_removed},
              {"links_adopted", report.links_adopted},
              {"links_removed", report.links_removed},
              {"routes_adopted", report.routes_adopted},
              {"routes_removed", report.routes_removed},
              {"rules_adopted", report.rules_adopted},
              {"rules_removed", report.rules_removed}};

  auto existing_links = must(routes.list_links(), "links");
  for (const auto& j : spec.value("links", json::array())) {
    std::string name = j["name"];
    bool present = std::any_of(existing_links.begin(), existing_links.end(),
                               [&](const LinkInfo& l) { return l.name == name; });
    if (present) continue;
    Status s;
    if (j.value("kind", "vti") == "vti") {
      VtiLink v{name, addr(j["local"]), addr(j["remote"]), number(j["ikey"]), number(j["okey"]),
                j.value("underlay", ""), 0, std::nullopt};
      if (j.contains("address")) {
        v.address = must(IpPrefix::parse_interface(j["address"].get<std::string>()), "address");
      }
      s = routes.add_vti(v);
    } else if (j["kind"] == "gre") {
      GreLink g{name, addr(j["local"]), addr(j["remote"]), std::nullopt, std::nullopt, 64, 0};
      if (j.contains("key")) g.ikey = g.okey = number(j["key"]);
      s = routes.add_gre(g);
    } else if (j["kind"] == "dummy") {
      s = routes.add_dummy(name);
    } else {
      fail("unknown link kind " + j["kind"].dump());
    }
    if (!s) fail(s.error().message);
    for (const auto& a : j.value("addresses", json::array())) {
      Status as = routes.add_address(name, must(IpPrefix::parse_interface(a.get<std::string>()), "address"));
      if (!as) fail(as.error().message);
    }
  }

  // SAs already there (adopted) are refreshed with UPDSA; new ones added; then policies.
  auto present_sas = must(xfrm.dump_sas(), "dump");
  XfrmBatch batch;
  for (const auto& sa : sas) {
    bool present = std::any_of(present_sas.begin(), present_sas.end(), [&](const XfrmSaState& st) {
      // Only sedge's own (adopted) SAs are refreshed; another program's SA with the same SPI
      // is a collision, reported by the kernel's EEXIST.
      return st.sa.spi == sa.spi && st.sa.dst == sa.dst && is_sedge_reqid(st.sa.reqid);
    });
    Status s = present ? batch.update_sa(sa) : batch.add_sa(sa);
    if (!s) fail(s.error().message);
  }
  for (const auto& p : policies) {
    if (auto s = batch.update_policy(p); !s) fail(s.error().message);
  }
  BatchResult r = xfrm.submit(batch, OnFailure::Rollback);
  if (!r.ok()) fail(r.first_error().error().message);

  for (const auto& rt : route_list) {
    if (auto s = routes.replace_route(rt); !s) fail(s.error().message);
  }
  auto present_rules = must(routes.list_rules(), "rules");
  for (const auto& rule : rules) {
    if (std::find(present_rules.begin(), present_rules.end(), rule) != present_rules.end()) continue;
    if (auto s = routes.add_rule(rule); !s) fail(s.error().message);
  }
  out["installed"] = batch.size();
  return out;
}

std::string event_line(const XfrmEvent& e) {
  char buf[256];
  if (auto* x = std::get_if<XfrmExpireEvent>(&e)) {
    std::snprintf(buf, sizeof buf, "expire %s spi 0x%08x reqid 0x%x", x->hard ? "hard" : "soft",
                  x->sa.spi, x->reqid);
  } else if (auto* a = std::get_if<XfrmAcquireEvent>(&e)) {
    std::snprintf(buf, sizeof buf, "acquire %s->%s reqid 0x%x", a->src.to_string().c_str(),
                  a->dst.to_string().c_str(), a->reqid);
  } else if (auto* m = std::get_if<XfrmMappingEvent>(&e)) {
    std::snprintf(buf, sizeof buf, "mapping spi 0x%08x %s:%u -> %s:%u", m->sa.spi,
                  m->old_address.to_string().c_str(), m->old_port,
                  m->new_address.to_string().c_str(), m->new_port);
  } else if (std::holds_alternative<XfrmEventsLost>(e)) {
    std::snprintf(buf, sizeof buf, "lost");
  } else {
    std::snprintf(buf, sizeof buf, "other");
  }
  return buf;
}

int events(int count, int seconds) {
  auto monitor = must(XfrmMonitor::open(), "monitor");
  std::printf("listening\n");
  std::fflush(stdout);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int seen = 0;
  while (seen < count && std::chrono::steady_clock::now() < deadline) {
    pollfd p{monitor.fd(), POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    for (const auto& e : must(monitor.read(), "events")) {
      std::printf("%s\n", event_line(e).c_str());
      std::fflush(stdout);
      ++seen;
    }
  }
  return seen >= count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "apply" || cmd == "daemon") {
    auto in = sedge::read_fd(STDIN_FILENO);
    if (!in) fail("cannot read the spec on stdin");
    std::string text = std::move(*in);
    json spec = json::parse(text, nullptr, false);
    std::fill(text.begin(), text.end(), '\0');  // held keys
    if (spec.is_discarded()) fail("the spec on stdin is not JSON");
    int encap4 = -1, encap6 = -1;  // NAT-T receive sockets, IPv4 and IPv6
    if (spec.contains("encap_port")) {
      encap4 = open_encap_socket(spec["encap_port"], AF_INET);
      encap6 = open_encap_socket(spec["encap_port"], AF_INET6);
    }
    json report = apply(spec);
    std::printf("%s\n", report.dump().c_str());
    if (cmd == "apply") return 0;
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) pause();
    (void)encap4;
    (void)encap6;
  }
  if (cmd == "events" && argc == 4) return events(std::atoi(argv[2]), std::atoi(argv[3]));
  if (cmd == "sa" && (argc == 4 || argc == 5)) {
    auto xfrm = must(XfrmClient::open(), "xfrm");
    XfrmSaId id{must(IpAddress::parse(argv[2]), "dst"),
                static_cast<uint32_t>(std::stoul(argv[3], nullptr, 0)), XfrmProto::Esp,
                std::nullopt, IpAddress{}};
    if (argc == 5) id.mark = XfrmMark{static_cast<uint32_t>(std::stoul(argv[4], nullptr, 0)), 0xffffffff};
    auto st = xfrm.get_sa(id);
    if (!st) fail(st.error().message);
    std::printf("%s\n", json{{"packets", st->packets},
                             {"bytes", st->bytes},
                             {"replay_failures", st->replay_failures},
                             {"integrity_failures", st->integrity_failures},
                             {"reqid", st->sa.reqid}}
                            .dump()
                            .c_str());
    return 0;
  }
  if (cmd == "allocspi" && argc == 5) {
    auto xfrm = must(XfrmClient::open(), "xfrm");
    XfrmSpiRequest r;
    r.src = must(IpAddress::parse(argv[2]), "src");
    r.dst = must(IpAddress::parse(argv[3]), "dst");
    r.reqid = static_cast<uint32_t>(std::stoul(argv[4], nullptr, 0));
    auto spi = xfrm.alloc_spi(r);
    if (!spi) fail(spi.error().message);
    std::printf("0x%08x\n", *spi);
    return 0;
  }
  if (cmd == "encap-socket" && argc == 3) {
    int fd4 = open_encap_socket(std::atoi(argv[2]), AF_INET);
    int fd6 = open_encap_socket(std::atoi(argv[2]), AF_INET6);
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) pause();
    (void)fd4;
    (void)fd6;
  }
  std::fprintf(stderr, "usage: nl-driver apply|daemon < spec.json | events N SECONDS | sa DST SPI [MARK] | "
                       "allocspi SRC DST REQID | encap-socket PORT\n");
  return 2;
}

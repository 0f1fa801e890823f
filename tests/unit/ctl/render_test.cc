#include "agent/ctl/render.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

namespace sedge::ctl {
namespace {

// 2025-01-02 10:00:00 UTC.
constexpr uint64_t kNow = 1735812000ull * 1000000u;

const char* const kFqdn = "vpn-gateway-primary.headquarters.example-corporation.com";
const char* const kIpv6 = "2001:db8:ffff:1234:5678:9abc:def0:1";

// A Describe as sedged answers it: connector hq with an established tunnel (an FQDN remote,
// behind a NAT, two CHILD_SAs) and one in backoff towards an IPv6 peer without an IKE SA;
// connector dc with a tunnel nothing references; steering with an ordered and a weighted profile.
json sample() {
  return json::parse(R"json({
  "status": "2 connectors, 1 of 2 tunnels up, 2 steering policies",
  "config": {"files": ["/etc/sedge/sedge.conf", "/etc/sedge/sedge.conf.d/hq.conf"], "loaded_at_usec": 1735811000000000,
             "diagnostics": [], "last_reload_error": ""},
  "interfaces": [],
  "connectors": [
    {"name": "hq", "provider": "generic", "type": "ipsec", "mode": "active-backup", "local_id": "branch-17.example.com",
     "protected_networks": ["10.17.0.0/16", "fd00:17::/48"], "where": "/etc/sedge/sedge.conf:12",
     "tunnels": [
       {"name": "hq-primary", "role": "primary", "wan": "wan0", "remote": "vpn-gateway-primary.headquarters.example-corporation.com",
        "local_id": "branch-17.example.com", "remote_id": "hq.example.com", "routing": "route-based",
        "state": "up", "since_usec": 1735811808000000, "last_error": "", "local": "192.0.2.10",
        "remote_address": "203.0.113.7", "device": "sec-hq-primary", "key": 7, "reqid": 1028,
        "ike_spi": "0123456789abcdef_i fedcba9876543210_r", "ike_suite": "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519",
        "esp_suite": "AES_GCM_16_256", "behind_nat": true,
        "children": [
          {"index": 1, "spi_in": "0xc1234567", "spi_out": "0x0abcdef0", "local_ts": "0.0.0.0/0", "remote_ts": "0.0.0.0/0"},
          {"index": 2, "spi_in": "0xc7654321", "spi_out": "0x0fedcba0", "local_ts": "::/0", "remote_ts": "::/0"}]},
       {"name": "hq-v6", "role": "secondary", "wan": "wan1", "remote": "2001:db8:ffff:1234:5678:9abc:def0:1",
        "local_id": "branch-17.example.com", "remote_id": "hq.example.com", "routing": "route-based",
        "state": "backoff", "since_usec": 1735801920000000, "last_error": "peer did not answer (3 retransmissions)",
        "local": "2001:db8:17::2", "remote_address": "2001:db8:ffff:1234:5678:9abc:def0:1", "device": "sec-hq-v6",
        "key": 8, "reqid": 1032, "ike_suite": "AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519", "esp_suite": "AES_GCM_16_256",
        "behind_nat": false, "children": []}]},
    {"name": "dc", "provider": "generic", "type": "ipsec", "mode": "active-backup", "local_id": "",
     "protected_networks": [], "where": "/etc/sedge/sedge.conf.d/hq.conf:3",
     "tunnels": [
       {"name": "dc-1", "role": "primary", "wan": "", "remote": "198.51.100.20", "local_id": "branch-17.example.com",
        "remote_id": "", "routing": "policy-based", "state": "not-created"}]}],
  "applications": [],
  "steering_profiles": [
    {"name": "corp", "strategy": "ordered", "paths": [{"target": "hq-primary", "weight": 1}, {"target": "hq-v6", "weight": 1}]},
    {"name": "internet", "strategy": "weighted", "paths": [{"target": "breakout:wan0", "weight": 3}, {"target": "hq-primary", "weight": 1}]}],
  "policies": [
    {"name": "corp-traffic", "order": 10, "sources": [], "applications": [], "action": "steer", "profile": "corp"},
    {"name": "everything-else", "order": 100, "sources": [], "applications": [], "action": "steer", "profile": "internet"}],
  "steering": {
    "profiles": [
      {"name": "corp", "active": "hq-primary", "paths": [
        {"name": "hq-primary", "up": true, "weight": 1, "packets": 123456, "bytes": 98765432},
        {"name": "hq-v6", "up": false, "weight": 1, "packets": 0, "bytes": 0}]},
      {"name": "internet", "active": "", "paths": [
        {"name": "breakout:wan0", "up": true, "weight": 3, "packets": 4200, "bytes": 2048},
        {"name": "hq-primary", "up": true, "weight": 1, "packets": 17, "bytes": 1000}]}],
    "rules": [{"name": "corp-traffic", "packets": 123456, "bytes": 98765432},
              {"name": "everything-else", "packets": 4217, "bytes": 3048}],
    "generation": 3}
})json");
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const std::string* line_with(const std::vector<std::string>& ls, const std::string& needle) {
  for (const auto& l : ls) {
    if (l.find(needle) != std::string::npos) return &l;
  }
  return nullptr;
}

class CtlRender : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

TEST_F(CtlRender, ListColumnsFitAnIpv6RemoteAndALongFqdn) {
  const auto ls = lines(render_list(sample(), kNow));
  ASSERT_EQ(ls.size(), 4u);
  const std::string& header = ls[0];
  EXPECT_EQ(header.rfind("NAME", 0), 0u);
  // Every column starts where its header does, and the remotes are whole.
  for (const char* column : {"CONNECTOR", "ROLE", "STATE", "SINCE", "REMOTE"}) {
    const size_t at = header.find(column);
    ASSERT_NE(at, std::string::npos) << column;
    for (size_t i = 1; i < ls.size(); ++i) {
      ASSERT_GT(ls[i].size(), at) << ls[i];
      EXPECT_NE(ls[i][at], ' ') << column << " in: " << ls[i];
      EXPECT_EQ(ls[i][at - 1], ' ') << column << " in: " << ls[i];
    }
  }
  const size_t remote = header.find("REMOTE");
  EXPECT_EQ(ls[1].substr(remote), std::string(kFqdn) + " (203.0.113.7)");
  EXPECT_EQ(ls[2].substr(remote), kIpv6);
  EXPECT_EQ(ls[3].substr(remote), "198.51.100.20");
  EXPECT_NE(ls[1].find("up  "), std::string::npos);
  EXPECT_NE(ls[1].find("3m12s ago"), std::string::npos);
  EXPECT_NE(ls[2].find("2h48m ago"), std::string::npos);
  // A tunnel that does not run has no since.
  EXPECT_NE(ls[3].find("not-created  -  "), std::string::npos) << ls[3];
  for (const auto& l : ls) EXPECT_NE(l.back(), ' ') << "trailing blanks: '" << l << "'";
}

TEST_F(CtlRender, TableColumnsAreAsWideAsTheirWidestCell) {
  Table t{{"A", "NUMBER", "LAST"},
          {Table::Align::left, Table::Align::right},
          {{"a-much-longer-cell", "7", "x"}, {"b", "12345678", "y"}},
          "  "};
  EXPECT_EQ(format_table(t),
            "  A                     NUMBER  LAST\n"
            "  a-much-longer-cell         7  x\n"
            "  b                   12345678  y\n");
  // Width counts characters, not bytes.
  EXPECT_EQ(display_width("zürich-ü"), 8u);
  Table u{{"N", "M"}, {}, {{"zürich", "1"}}, ""};
  EXPECT_EQ(format_table(u), "N       M\nzürich  1\n");
}

TEST_F(CtlRender, RelativeTime) {
  EXPECT_EQ(relative_time(0, kNow), "-");
  EXPECT_EQ(relative_time(kNow, kNow), "just now");
  EXPECT_EQ(relative_time(kNow + 5000000, kNow), "just now");  // a clock step backwards
  EXPECT_EQ(relative_time(kNow - 999999, kNow), "just now");
  EXPECT_EQ(relative_time(kNow - 1000000, kNow), "1s ago");
  EXPECT_EQ(relative_time(kNow - 59 * 1000000ull, kNow), "59s ago");
  EXPECT_EQ(relative_time(kNow - 60 * 1000000ull, kNow), "1m00s ago");
  EXPECT_EQ(relative_time(kNow - 192 * 1000000ull, kNow), "3m12s ago");
  EXPECT_EQ(relative_time(kNow - 3599 * 1000000ull, kNow), "59m59s ago");
  EXPECT_EQ(relative_time(kNow - 3600 * 1000000ull, kNow), "1h00m ago");
  EXPECT_EQ(relative_time(kNow - (2 * 3600 + 5 * 60 + 59) * 1000000ull, kNow), "2h05m ago");
  EXPECT_EQ(relative_time(kNow - (3 * 86400 + 4 * 3600 + 30) * 1000000ull, kNow), "3d04h ago");
  EXPECT_EQ(absolute_time(kNow), "2025-01-02 10:00:00");
  EXPECT_EQ(absolute_time(0), "-");
}

TEST_F(CtlRender, Bytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(98765432), "94.2 MiB");
  EXPECT_EQ(format_bytes(5ull << 40), "5.0 TiB");
}

TEST_F(CtlRender, DetailsOfAnEstablishedTunnel) {
  const std::string out = render_details(sample(), "hq-primary", kNow);
  const auto ls = lines(out);
  ASSERT_FALSE(ls.empty());
  EXPECT_EQ(ls[0], "Tunnel hq-primary");
  EXPECT_NE(out.find("      State: up\n"), std::string::npos) << out;
  EXPECT_NE(out.find("      Since: 2025-01-02 09:56:48 (3m12s ago)\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" Last error: -\n"), std::string::npos) << out;
  EXPECT_NE(out.find("      Local: 192.0.2.10 (WAN wan0)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("     Remote: " + std::string(kFqdn) + " (203.0.113.7)\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("     Device: sec-hq-primary (key 7, reqid 1028)\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("   IKE SPIs: 0123456789abcdef_i fedcba9876543210_r\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("  IKE suite: AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("        NAT: behind NAT (UDP encapsulation)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  CHILD_SAs: 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("    INDEX  SPI IN      SPI OUT     LOCAL TS   REMOTE TS\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("        1  0xc1234567  0x0abcdef0  0.0.0.0/0  0.0.0.0/0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("        2  0xc7654321  0x0fedcba0  ::/0       ::/0\n"), std::string::npos)
      << out;
}

TEST_F(CtlRender, ATunnelWithoutIkeSa) {
  const json d = sample();
  const std::string out = render_details(d, "hq-v6", kNow);
  EXPECT_NE(out.find("      State: backoff\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" Last error: peer did not answer (3 retransmissions)\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("     Remote: " + std::string(kIpv6) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("   IKE SPIs: none (no IKE SA)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  CHILD_SAs: none\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("NAT:"), std::string::npos) << out;
  EXPECT_EQ(out.find("INDEX"), std::string::npos) << out;
  // A tunnel that does not run at all.
  const std::string idle = render_details(d, "dc-1", kNow);
  EXPECT_NE(idle.find("      State: not-created\n"), std::string::npos) << idle;
  EXPECT_NE(idle.find("      Since: -\n"), std::string::npos) << idle;
  EXPECT_NE(idle.find("     Device: -\n"), std::string::npos) << idle;
  // sa lists only the tunnel with an IKE SA.
  const json sas = sas_json(d);
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(sas[0]["name"], "hq-primary");
  EXPECT_EQ(sas[0]["connector"], "hq");
  EXPECT_FALSE(sas[0].contains("remote"));  // SA fields only
  const std::string text = render_sas(d, kNow);
  EXPECT_EQ(text.find("hq-v6"), std::string::npos) << text;
  EXPECT_EQ(
      render_sas(
          json::parse(
              R"({"connectors": [{"name": "x", "tunnels": [{"name": "t", "state": "connecting"}]}]})"),
          kNow),
      "");
}

TEST_F(CtlRender, SasAsSwanctlListsThem) {
  EXPECT_EQ(render_sas(sample(), kNow),
            "hq-primary: connector hq, ESTABLISHED 3m12s ago, IKEv2, 0123456789abcdef_i "
            "fedcba9876543210_r\n"
            "  local  'branch-17.example.com' @ 192.0.2.10\n"
            "  remote 'hq.example.com' @ 203.0.113.7\n"
            "  AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519\n"
            "  NAT: behind NAT, UDP-encapsulated\n"
            "  hq-primary{1}: reqid 1028, INSTALLED, ESP:AES_GCM_16_256\n"
            "    in  0xc1234567\n"
            "    out 0x0abcdef0\n"
            "    local  0.0.0.0/0\n"
            "    remote 0.0.0.0/0\n"
            "  hq-primary{2}: reqid 1028, INSTALLED, ESP:AES_GCM_16_256\n"
            "    in  0xc7654321\n"
            "    out 0x0fedcba0\n"
            "    local  ::/0\n"
            "    remote ::/0\n");
}

TEST_F(CtlRender, DetailsOfAConnectorShowItsTunnels) {
  const std::string out = render_details(sample(), "hq", kNow);
  EXPECT_EQ(out.rfind("Connector hq\n", 0), 0u) << out;
  EXPECT_NE(out.find("  Protected: 10.17.0.0/16, fd00:17::/48\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nTunnel hq-primary\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nTunnel hq-v6\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("dc-1"), std::string::npos) << out;
  EXPECT_EQ(render_details(sample(), "nope", kNow), "");
  EXPECT_TRUE(find_json(sample(), "nope").is_null());
  EXPECT_EQ(find_json(sample(), "hq")["tunnels"].size(), 2u);
  EXPECT_EQ(find_json(sample(), "dc-1")["connector"], "dc");
}

TEST_F(CtlRender, SteeringMarksTheActivePath) {
  const std::string out = render_steering(sample());
  const auto ls = lines(out);
  EXPECT_EQ(ls[0], "PROFILE   STRATEGY  PATH             STATE  WEIGHT  PACKETS     BYTES");
  EXPECT_EQ(ls[1], "corp      ordered   * hq-primary     up          1   123456  94.2 MiB");
  EXPECT_EQ(ls[2], "                      hq-v6          down        1        0       0 B");
  EXPECT_EQ(ls[3], "internet  weighted    breakout:wan0  up          3     4200   2.0 KiB");
  EXPECT_EQ(ls[4], "                      hq-primary     up          1       17    1000 B");
  EXPECT_EQ(ls[5], "(* active path)");
  ASSERT_NE(line_with(ls, "RULE"), nullptr);
  EXPECT_NE(line_with(ls, "corp-traffic      123456  94.2 MiB"), nullptr) << out;
  EXPECT_NE(line_with(ls, "everything-else     4217   3.0 KiB"), nullptr) << out;
  EXPECT_EQ(ls.back(), "classifier generation 3");
  // An ordered profile's preemption delay and its paths' hold-downs, when the daemon gives them.
  json held = sample();
  held["steering"]["profiles"][0]["preempt_delay_sec"] = 30;
  held["steering"]["profiles"][0]["paths"][0]["hold_down_sec"] = 60;
  held["steering"]["profiles"][0]["paths"][1]["hold_down_sec"] = 0;
  const auto hl = lines(render_steering(held));
  EXPECT_EQ(hl[0],
            "PROFILE   STRATEGY              PATH             STATE  WEIGHT  PACKETS     BYTES  "
            "HOLD-DOWN");
  EXPECT_EQ(hl[1],
            "corp      ordered, preempt 30s  * hq-primary     up          1   123456  94.2 MiB     "
            "   60s");
  EXPECT_EQ(hl[2],
            "                                  hq-v6          down        1        0       0 B     "
            "     -");
  EXPECT_EQ(hl[3],
            "internet  weighted                breakout:wan0  up          3     4200   2.0 KiB     "
            "     -");

  json without = sample();
  without.erase("steering");
  EXPECT_NE(render_steering(without).find("not running"), std::string::npos);
  EXPECT_TRUE(steering_json(without).is_null());
}

TEST_F(CtlRender, StatusShowsEveryTunnelsState) {
  const std::string out = render_status(sample(), kNow);
  const auto ls = lines(out);
  EXPECT_EQ(ls[0], "sedged: 2 connectors, 1 of 2 tunnels up, 2 steering policies");
  EXPECT_EQ(ls[1], "config: 2 files");
  const std::string* header = line_with(ls, "CONNECTOR");
  ASSERT_NE(header, nullptr);
  const size_t state = header->find("STATE");
  const std::string* primary = line_with(ls, "hq-primary  ");
  ASSERT_NE(primary, nullptr);
  EXPECT_EQ(primary->substr(state, 3), "up ");
  EXPECT_NE(primary->find(kFqdn), std::string::npos);
  EXPECT_NE(primary->find("3m12s ago"), std::string::npos);
  const std::string* v6 = line_with(ls, "hq-v6");
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->substr(state, 8), "backoff ");
  EXPECT_NE(v6->find(kIpv6), std::string::npos);
  EXPECT_NE(line_with(ls, "corp-traffic     steer   corp (hq-primary* -> hq-v6)"), nullptr) << out;
  EXPECT_NE(line_with(ls, "everything-else  steer   internet (breakout:wan0 -> hq-primary)"),
            nullptr)
      << out;
  EXPECT_EQ(ls.back(), "(* the profile's active path)");
  // Without the steering, the configured targets, nothing marked.
  json config_only = sample();
  config_only.erase("steering");
  const std::string plain = render_status(config_only, kNow);
  EXPECT_NE(plain.find("corp-traffic     steer   corp (hq-primary -> hq-v6)\n"), std::string::npos)
      << plain;
  EXPECT_EQ(plain.find("active path"), std::string::npos) << plain;
}

TEST_F(CtlRender, JsonOutputsAreValidJson) {
  const json d = sample();
  const json changed = [&] {
    json a = d;
    a["connectors"][0]["tunnels"][1]["state"] = "connecting";
    return a;
  }();
  for (const json& j : {tunnels_json(d), find_json(d, "hq"), find_json(d, "hq-v6"), sas_json(d),
                        steering_json(d), tunnel_changes(d, changed, kNow)}) {
    const std::string text = j.dump(2);
    EXPECT_TRUE(json::accept(text)) << text;
    EXPECT_EQ(json::parse(text), j);
  }
  const json list = tunnels_json(d);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["name"], "hq-primary");
  EXPECT_EQ(list[0]["connector"], "hq");
  EXPECT_EQ(list[2]["connector"], "dc");
  EXPECT_EQ(steering_json(d)["profiles"][0]["active"], "hq-primary");
  // An empty or partial Describe renders and selects without throwing.
  for (const json& partial :
       {json::object(), json::parse(R"({"connectors": [{"name": "x"}], "steering": {}})")}) {
    EXPECT_NO_THROW(render_status(partial, kNow));
    EXPECT_NO_THROW(render_list(partial, kNow));
    EXPECT_NO_THROW(render_sas(partial, kNow));
    EXPECT_NO_THROW(render_steering(partial));
    EXPECT_NO_THROW(render_details(partial, "x", kNow));
    EXPECT_TRUE(tunnels_json(partial).is_array());
    EXPECT_TRUE(sas_json(partial).is_array());
  }
}

TEST_F(CtlRender, MonitorPrintsTheTunnelsWhoseStateChanged) {
  const json before = sample();
  json after = before;
  auto& v6 = after["connectors"][0]["tunnels"][1];
  v6["state"] = "up";
  v6["since_usec"] = kNow - 250000;
  v6["last_error"] = "";
  v6["ike_spi"] = "1111111111111111_i 2222222222222222_r";
  auto& primary = after["connectors"][0]["tunnels"][0];
  primary["state"] = "backoff";
  primary["since_usec"] = kNow - 1000000;
  primary["last_error"] = "peer deleted the IKE SA";
  primary.erase("ike_spi");
  after["connectors"][1]["tunnels"].push_back(
      {{"name", "dc-2"}, {"role", "primary"}, {"state", "connecting"}, {"since_usec", kNow}});
  json removed = after;
  removed["connectors"][1]["tunnels"].erase(0);  // dc-1 went away

  EXPECT_TRUE(tunnel_changes(before, before, kNow).empty());
  const json events = tunnel_changes(before, removed, kNow + 7000);
  ASSERT_EQ(events.size(), 4u) << events.dump(2);
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(render_event(e));
  EXPECT_EQ(out[0],
            "2025-01-02 09:59:59.000 hq-primary (hq): up -> backoff: peer deleted the IKE SA");
  EXPECT_EQ(out[1], "2025-01-02 09:59:59.750 hq-v6 (hq): backoff -> up, remote " +
                        std::string(kIpv6) + ", IKE SA 1111111111111111_i 2222222222222222_r");
  EXPECT_EQ(out[2], "2025-01-02 10:00:00.000 dc-2 (dc): (new) -> connecting");
  EXPECT_EQ(out[3], "2025-01-02 10:00:00.007 dc-1 (dc): not-created -> (removed)");
  EXPECT_TRUE(events[3]["state"].is_null());
  EXPECT_TRUE(events[3]["tunnel"].is_null());
  EXPECT_TRUE(events[2]["previous"].is_null());
  EXPECT_EQ(events[1]["tunnel"]["name"], "hq-v6");

  // The same state again but since a later time: it went through another state in between.
  json again = before;
  again["connectors"][0]["tunnels"][0]["since_usec"] = kNow;
  const json bounce = tunnel_changes(before, again, kNow);
  ASSERT_EQ(bounce.size(), 1u);
  EXPECT_EQ(render_event(bounce[0]),
            "2025-01-02 10:00:00.000 hq-primary (hq): up -> up, remote 203.0.113.7, IKE SA "
            "0123456789abcdef_i fedcba9876543210_r");
  // A retry after a failure: the error that caused the backoff is not repeated.
  json retry = before;
  retry["connectors"][0]["tunnels"][1]["state"] = "connecting";
  retry["connectors"][0]["tunnels"][1]["since_usec"] = kNow;
  const json retrying = tunnel_changes(before, retry, kNow);
  ASSERT_EQ(retrying.size(), 1u);
  EXPECT_EQ(render_event(retrying[0]), "2025-01-02 10:00:00.000 hq-v6 (hq): backoff -> connecting");
  // From nothing (monitor started, or sedged came back): every tunnel is new.
  EXPECT_EQ(tunnel_changes(json::object(), before, kNow).size(), 3u);
}

// `sedgectl onboard status`: OnboardingStatus as the operator reads it, completed and not yet.
TEST(Render, Onboarding) {
  const json done = {{"conductor", "conductor.example"}, {"port", 930}, {"management_port", 933},
                     {"auth_state", "completed"}, {"channel", "up"}, {"detail", "conductor.example:933"},
                     {"router_id", "router-0001"}, {"conductor_host", "conductor.example"}, {"pin", "ab12"},
                     {"certificate_file", "/var/lib/sedge/router.crt"}, {"tls_key_handle", "0x81008003"},
                     {"running", true}};
  EXPECT_EQ(render_onboarding(done),
            "Router: router-0001\n"
            "Conductor: conductor.example (onboarding port 930, management port 933)\n"
            "Conductor key pin: ab12\n"
            "Certificate: /var/lib/sedge/router.crt (key in the TPM at handle 0x81008003)\n"
            "Auth State: completed\n"
            "Management Channel: up\n"
            "Detail: conductor.example:933\n");
  const json failed = {{"conductor", "10.0.0.1"}, {"port", 930}, {"management_port", 933}, {"auth_state", "failed"},
                       {"channel", "down"}, {"detail", "token already used"}, {"running", false}};
  EXPECT_EQ(render_onboarding(failed),
            "Conductor: 10.0.0.1 (onboarding port 930, management port 933)\n"
            "Auth State: failed\n"
            "Management Channel: down\n"
            "Detail: token already used\n");
}

}  // namespace
}  // namespace sedge::ctl

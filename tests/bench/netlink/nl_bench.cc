// nl-bench: sedge's batch path against `ip -batch` for the same XFRM objects, in the same run
// and the same (private) network namespace.
//   nl-bench policies N [hashed]   N policies (the host kernel takes policies but no states)
//   nl-bench full PAIRS [hashed]   PAIRS SA pairs (2 SAs each) and 2 policies per pair (ESP)
// "hashed": first set the policy hash thresholds to the selectors' prefixes (as sedge does),
// for both tools alike; otherwise the kernel's defaults keep them in its ordered list.
// Prints one line per figure: "<name>: <value> <unit> ratio <x> vs ip-batch".
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "netlink/ownership.h"
#include "netlink/xfrm_client.h"

using namespace sedge;
using namespace sedge::netlink;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void fail(const std::string& m) {
  std::fprintf(stderr, "nl-bench: %s\n", m.c_str());
  std::exit(1);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Runs argv, stdout to /dev/null; returns wall time in seconds.
double run_timed(std::vector<std::string> args, bool quiet_stdout = true) {
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    if (quiet_stdout) {
      if (!std::freopen("/dev/null", "w", stdout)) _exit(126);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  double t = seconds_since(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail(args[0] + " " + args[1] + " failed");
  return t;
}

std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

struct Workload {
  std::vector<XfrmSa> sas;
  std::vector<XfrmPolicy> policies;
};

// Tunnel i: local 192.0.2.1, peer 198.18.x.y, site 10.x.y.0/24 <-> remote 100.64.0.0/16.
Workload make(int tunnels, bool with_sas, bool both_directions) {
  Workload w;
  IpAddress local = *IpAddress::parse("192.0.2.1");
  for (int i = 0; i < tunnels; ++i) {
    uint32_t n = static_cast<uint32_t>(i);
    IpAddress peer = IpAddress::v4(0xc6120000u + n);  // 198.18.0.0/15
    IpPrefix site{IpAddress::v4(0x0a000000u + (n << 8)), 24};
    IpPrefix remote = *IpPrefix::parse("100.64.0.0/16");
    uint32_t reqid = kReqidFirst + (n % (kReqidLast - kReqidFirst + 1));
    XfrmPolicy out;
    out.selector = {site, remote};
    out.dir = XfrmDir::Out;
    out.templates = {{local, peer, XfrmProto::Esp, XfrmMode::Tunnel, reqid}};
    out.index = policy_index(2 * n, XFRM_POLICY_OUT);
    w.policies.push_back(out);
    if (both_directions) {
      XfrmPolicy in;
      in.selector = {remote, site};
      in.dir = XfrmDir::In;
      in.templates = {{peer, local, XfrmProto::Esp, XfrmMode::Tunnel, reqid}};
      in.index = policy_index(2 * n + 1, XFRM_POLICY_IN);
      w.policies.push_back(in);
    }
    if (with_sas) {
      for (int dir = 0; dir < 2; ++dir) {
        XfrmSa sa;
        sa.src = dir == 0 ? local : peer;
        sa.dst = dir == 0 ? peer : local;
        sa.spi = kSpiFirst + 2 * n + static_cast<uint32_t>(dir);
        sa.reqid = reqid;
        Secret key(20);
        for (size_t k = 0; k < 20; ++k) key.mutable_bytes()[k] = static_cast<uint8_t>(n * 7 + k);
        sa.aead = XfrmAead{"rfc4106(gcm(aes))", std::move(key), 128};
        w.sas.push_back(std::move(sa));
      }
    }
  }
  return w;
}

std::string ip_sa_id(const XfrmSa& sa) {
  char spi[16];
  std::snprintf(spi, sizeof spi, "0x%08x", sa.spi);
  return "src " + sa.src.to_string() + " dst " + sa.dst.to_string() + " proto esp spi " + spi;
}

std::string ip_policy_id(const XfrmPolicy& p) {
  return "src " + p.selector.src.to_string() + " dst " + p.selector.dst.to_string() + " dir " +
         (p.dir == XfrmDir::In ? "in" : "out");
}

void write_ip_batches(const Workload& w, const std::string& add, const std::string& del) {
  std::ofstream a(add), d(del);
  for (const auto& sa : w.sas) {
    a << "xfrm state add " << ip_sa_id(sa) << " reqid " << sa.reqid
      << " mode tunnel aead rfc4106(gcm(aes)) 0x" << hex(sa.aead->key.bytes()) << " 128\n";
    d << "xfrm state delete " << ip_sa_id(sa) << "\n";
  }
  for (const auto& p : w.policies) {
    const auto& t = p.templates[0];
    // The same indexes for iproute2: both sides add with them and delete by them.
    a << "xfrm policy add " << ip_policy_id(p) << " index " << p.index << " tmpl src "
      << t.src.to_string() << " dst " << t.dst.to_string() << " proto esp mode tunnel reqid "
      << t.reqid << "\n";
    d << "xfrm policy delete dir " << (p.dir == XfrmDir::In ? "in" : "out") << " index " << p.index
      << "\n";
  }
}

size_t count(XfrmClient& x) {
  auto s = x.dump_sas();
  auto p = x.dump_policies();
  if (!s || !p) fail("dump failed: " + (s ? p.error().message : s.error().message));
  return s->size() + p->size();
}

void print(const char* name, double value, const char* unit, double ratio) {
  std::printf("%s: %.0f %s ratio %.2f vs ip-batch\n", name, value, unit, ratio);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) fail("usage: nl-bench policies N [hashed] | full PAIRS [hashed]");
  std::string mode = argv[1];
  int n = std::atoi(argv[2]);
  bool hashed = argc == 4 && std::string(argv[3]) == "hashed";
  bool full = mode == "full";
  Workload w = make(n, full, full);
  size_t objects = w.sas.size() + w.policies.size();
  auto xfrm = XfrmClient::open();
  if (!xfrm) fail(xfrm.error().message);
  if (count(*xfrm) != 0) fail("the namespace already holds XFRM objects: run in a fresh one");
  if (hashed) {
    // site /24 <-> remote /16: out has dst /16, src /24; in the reverse.
    if (auto s = xfrm->set_policy_hash_thresholds({16, 24, 128, 128}); !s) fail(s.error().message);
    usleep(200000);  // the kernel rebuilds its hash in the background
  }

  char dir_template[] = "/var/tmp/nl-bench.XXXXXX";
  if (!mkdtemp(dir_template)) fail("mkdtemp");
  std::string dir = dir_template;
  write_ip_batches(w, dir + "/add", dir + "/del");

  // sedge: build every request (validation included) and submit, as the agent does.
  auto t0 = Clock::now();
  XfrmBatch add;
  for (const auto& sa : w.sas) {
    if (auto s = add.add_sa(sa); !s) fail(s.error().message);
  }
  for (const auto& p : w.policies) {
    if (auto s = add.add_policy(p); !s) fail(s.error().message);
  }
  BatchResult r = xfrm->submit(add);
  double sedge_add = seconds_since(t0);
  if (!r.ok()) fail(r.first_error().error().message);
  if (count(*xfrm) != objects) fail("sedge installed the wrong number of objects");

  t0 = Clock::now();
  size_t dumped = count(*xfrm);
  double sedge_dump = seconds_since(t0);
  (void)dumped;

  t0 = Clock::now();
  XfrmBatch del;
  for (const auto& sa : w.sas) {
    if (auto s = del.delete_sa(sa.id()); !s) fail(s.error().message);
  }
  for (const auto& p : w.policies) {
    if (auto s = del.delete_policy(p.id_by_index()); !s) fail(s.error().message);
  }
  r = xfrm->submit(del);
  double sedge_del = seconds_since(t0);
  if (!r.ok()) fail(r.first_error().error().message);
  if (count(*xfrm) != 0) fail("sedge left objects behind");

  // iproute2, same objects.
  double ip_add = run_timed({"ip", "-batch", dir + "/add"});
  if (count(*xfrm) != objects) fail("ip installed the wrong number of objects");
  double ip_dump = run_timed({"ip", "xfrm", "state"}) + run_timed({"ip", "xfrm", "policy"});
  double ip_del = run_timed({"ip", "-batch", dir + "/del"});
  if (count(*xfrm) != 0) fail("ip left objects behind");
  std::remove((dir + "/add").c_str());
  std::remove((dir + "/del").c_str());
  rmdir(dir.c_str());

  std::string what = std::string(full ? "netlink_sa_policy_" : "netlink_policy_") +
                     (hashed ? "hashed_" : "");
  std::printf("# %zu objects (%zu SAs, %zu policies)\n", objects, w.sas.size(), w.policies.size());
  print((what + "install").c_str(), static_cast<double>(objects) / sedge_add, "objects/s",
        ip_add / sedge_add);
  print((what + "delete").c_str(), static_cast<double>(objects) / sedge_del, "objects/s",
        ip_del / sedge_del);
  print((what + "dump").c_str(), sedge_dump * 1000, "ms", ip_dump / sedge_dump);
  return 0;
}

#include "bpf/steer_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "common/log.h"
#include "steer.skel.h"

namespace sedge::bpf {
namespace {

// libbpf's own messages (the verifier's log among them) go to the journal at their level,
// not to stderr where a service's would be lost or unleveled.
int libbpf_to_journal(enum libbpf_print_level level, const char* format, va_list args) {
  char text[1024];
  const int n = std::vsnprintf(text, sizeof text, format, args);
  if (n <= 0) return n;
  std::string_view line(text, std::min(static_cast<size_t>(n), sizeof text - 1));
  while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  const log::Level l = level == LIBBPF_WARN ? log::Level::warning : level == LIBBPF_INFO ? log::Level::info : log::Level::debug;
  log::write(l, "libbpf: " + std::string(line), {{"SUBSYSTEM", "libbpf"}});
  return n;
}

Error bpf_error(const std::string& what, int err) {
  const int e = err < 0 ? -err : err;
  return Error{what + ": " + std::strerror(e), e};
}

// Deletes every key of a hash or LPM map (the idle generation, never the live one).
Status clear_map(const struct bpf_map* map) {
  const int fd = bpf_map__fd(map);
  std::vector<uint8_t> key(bpf_map__key_size(map)), next(key.size());
  std::vector<std::vector<uint8_t>> keys;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    keys.push_back(next);
    key = next;
    prev = key.data();
  }
  for (const auto& k : keys) {
    if (bpf_map_delete_elem(fd, k.data()) != 0 && errno != ENOENT) {
      return bpf_error(std::string("clearing map ") + bpf_map__name(map), errno);
    }
  }
  return {};
}

template <typename K, typename V>
Status put(const struct bpf_map* map, const K& key, const V& value) {
  if (bpf_map_update_elem(bpf_map__fd(map), &key, &value, BPF_ANY) != 0) {
    return bpf_error(std::string("writing map ") + bpf_map__name(map), errno);
  }
  return {};
}

Result<sedge_counter> sum_percpu(const struct bpf_map* map, uint32_t index) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return bpf_error("counting CPUs", cpus);
  std::vector<sedge_counter> per_cpu(static_cast<size_t>(cpus));
  if (bpf_map_lookup_elem(bpf_map__fd(map), &index, per_cpu.data()) != 0) {
    return bpf_error(std::string("reading counter ") + bpf_map__name(map) + "[" + std::to_string(index) + "]", errno);
  }
  sedge_counter total{};
  for (const auto& c : per_cpu) {
    total.packets += c.packets;
    total.bytes += c.bytes;
  }
  return total;
}

}  // namespace

Result<std::unique_ptr<SteerProgram>> SteerProgram::load(const std::string& pin_dir) {
  std::error_code ec;
  std::filesystem::create_directories(pin_dir, ec);
  if (ec) return Error{"creating the BPF pin directory " + pin_dir + ": " + ec.message() + " (is bpffs mounted?)", ec.value()};
  static std::once_flag print_set;
  std::call_once(print_set, [] { libbpf_set_print(libbpf_to_journal); });
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir.c_str());
  std::unique_ptr<SteerProgram> p(new SteerProgram());
  p->skel_ = steer_bpf__open_opts(&opts);
  if (!p->skel_) return bpf_error("opening the steering program", errno);
  if (int err = steer_bpf__load(p->skel_); err != 0) {
    return bpf_error("loading the steering program (pinned maps under " + pin_dir + " from an incompatible version?)", err);
  }
  return p;
}

SteerProgram::~SteerProgram() { steer_bpf__destroy(skel_); }

int SteerProgram::program_fd() const { return bpf_program__fd(skel_->progs.sedge_steer); }

Status SteerProgram::attach(int ifindex) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  if (int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST) {
    return bpf_error("creating clsact on ifindex " + std::to_string(ifindex), err);
  }
  LIBBPF_OPTS(bpf_tc_opts, tc);
  tc.prog_fd = program_fd();
  tc.flags = BPF_TC_F_REPLACE;
  tc.handle = 0x5ed;
  tc.priority = 1;
  if (int err = bpf_tc_attach(&hook, &tc); err != 0) {
    return bpf_error("attaching the classifier at ingress of ifindex " + std::to_string(ifindex), err);
  }
  return {};
}

Status SteerProgram::detach(int ifindex) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, tc);
  tc.handle = 0x5ed;
  tc.priority = 1;
  if (int err = bpf_tc_detach(&hook, &tc); err != 0 && err != -ENOENT) {
    return bpf_error("detaching the classifier from ifindex " + std::to_string(ifindex), err);
  }
  return {};
}

uint32_t SteerProgram::generation() const {
  uint32_t zero = 0;
  sedge_state st{};
  bpf_map_lookup_elem(bpf_map__fd(skel_->maps.steer_state), &zero, &st);
  return st.generation & 1u;
}

Status SteerProgram::replace_rules(const SteerTables& t) {
  if (t.entries.size() > SEDGE_STEER_MAX_ENTRIES || t.profiles.size() > SEDGE_STEER_MAX_PROFILES ||
      t.nets.size() > SEDGE_STEER_MAX_NETWORKS || t.lpm4.size() > SEDGE_STEER_MAX_PREFIXES ||
      t.lpm6.size() > SEDGE_STEER_MAX_PREFIXES) {
    return Error{"the rule set is larger than the classifier's maps (see bpf/maps.h limits)", E2BIG};
  }
  const uint32_t idle = 1u - generation();
  const struct bpf_map* nets = idle ? skel_->maps.steer_nets_1 : skel_->maps.steer_nets_0;
  const struct bpf_map* lpm4 = idle ? skel_->maps.steer_lpm4_1 : skel_->maps.steer_lpm4_0;
  const struct bpf_map* lpm6 = idle ? skel_->maps.steer_lpm6_1 : skel_->maps.steer_lpm6_0;
  const struct bpf_map* entries = idle ? skel_->maps.steer_entries_1 : skel_->maps.steer_entries_0;
  const struct bpf_map* profiles = idle ? skel_->maps.steer_profiles_1 : skel_->maps.steer_profiles_0;
  for (const auto* map : {nets, lpm4, lpm6}) {
    if (auto st = clear_map(map); !st) return st;
  }
  for (uint32_t i = 0; i < t.entries.size(); ++i) {
    if (auto st = put(entries, i, t.entries[i]); !st) return st;
  }
  for (uint32_t i = 0; i < t.profiles.size(); ++i) {
    if (auto st = put(profiles, i, t.profiles[i]); !st) return st;
  }
  for (const auto& [k, v] : t.lpm4) {
    if (auto st = put(lpm4, k, v); !st) return st;
  }
  for (const auto& [k, v] : t.lpm6) {
    if (auto st = put(lpm6, k, v); !st) return st;
  }
  for (const auto& [k, v] : t.nets) {
    if (auto st = put(nets, k, v); !st) return st;
  }
  const uint32_t zero = 0;
  return put(skel_->maps.steer_state, zero, sedge_state{idle});  // the switch
}

Status SteerProgram::set_active_path(uint32_t profile, uint32_t index) {
  if (profile >= SEDGE_STEER_MAX_PROFILES || index >= SEDGE_STEER_PROFILE_PATHS) {
    return Error{"active path " + std::to_string(index) + " of profile " + std::to_string(profile) + " is out of range", ERANGE};
  }
  return put(skel_->maps.steer_active_path, profile, index);
}

Status SteerProgram::set_path_healthy(uint32_t path, bool healthy) {
  if (path >= SEDGE_STEER_MAX_PATHS) return Error{"path " + std::to_string(path) + " is out of range", ERANGE};
  return put(skel_->maps.steer_path_down, path, static_cast<uint32_t>(!healthy));
}

Result<sedge_counter> SteerProgram::rule_counter(uint32_t rule_id) const {
  return sum_percpu(skel_->maps.steer_rule_hits, rule_id);
}

Result<sedge_counter> SteerProgram::path_counter(uint32_t path_id) const {
  return sum_percpu(skel_->maps.steer_path_hits, path_id);
}

Result<TestRunResult> SteerProgram::test_run(const std::vector<uint8_t>& frame, uint32_t ingress_ifindex,
                                             uint32_t repeat, bool noop) const {
  __sk_buff ctx{};
  ctx.ingress_ifindex = ingress_ifindex;
  __sk_buff ctx_out{};
  std::vector<uint8_t> out(frame.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = frame.data();
  opts.data_out = out.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.ctx_in = &ctx;
  opts.ctx_out = &ctx_out;
  opts.ctx_size_in = sizeof ctx;
  opts.ctx_size_out = sizeof ctx_out;
  opts.repeat = static_cast<int>(repeat);
  const int fd = bpf_program__fd(noop ? skel_->progs.sedge_noop : skel_->progs.sedge_steer);
  if (int err = bpf_prog_test_run_opts(fd, &opts); err != 0) return bpf_error("BPF_PROG_TEST_RUN", err);
  return TestRunResult{static_cast<int>(opts.retval), ctx_out.mark, opts.duration};
}

}  // namespace sedge::bpf

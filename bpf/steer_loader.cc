#include "bpf/steer_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "common/log.h"
#include "steer_bpf.skel.h"

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

// Deletes every key of a hash map (the idle generation, never the live one), in batches.
Status clear_map(const struct bpf_map* map) {
  const int fd = bpf_map__fd(map);
  constexpr uint32_t kBatch = 16384;
  std::vector<uint8_t> keys(kBatch * bpf_map__key_size(map)), values(kBatch * bpf_map__value_size(map));
  uint32_t in = 0, out = 0;
  for (bool first = true;; first = false) {
    uint32_t count = kBatch;
    const int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &in, &out, keys.data(), values.data(), &count, nullptr);
    if (err != 0 && errno == ENOENT) return {};  // the end (the last batch included)
    if (err != 0) return bpf_error(std::string("clearing map ") + bpf_map__name(map), errno);
    in = out;
  }
}

// Writes key/value pairs with one system call per batch.
template <typename K, typename V>
Status put_all(const struct bpf_map* map, const std::vector<std::pair<K, V>>& pairs) {
  constexpr size_t kBatch = 65536;
  std::vector<K> keys;
  std::vector<V> values;
  for (size_t at = 0; at < pairs.size(); at += kBatch) {
    const size_t n = std::min(kBatch, pairs.size() - at);
    keys.clear();
    values.clear();
    for (size_t i = at; i < at + n; ++i) {
      keys.push_back(pairs[i].first);
      values.push_back(pairs[i].second);
    }
    auto count = static_cast<uint32_t>(n);
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
    if (bpf_map_update_batch(bpf_map__fd(map), keys.data(), values.data(), &count, &opts) != 0) {
      return bpf_error(std::string("writing map ") + bpf_map__name(map), errno);
    }
  }
  return {};
}

// The chain entries, one block (one map value) at a time.
Status put_entries(const struct bpf_map* map, const std::vector<sedge_entry>& entries) {
  std::vector<sedge_entry> block(SEDGE_STEER_BLOCK_ENTRIES);
  for (uint32_t b = 0; static_cast<size_t>(b) * SEDGE_STEER_BLOCK_ENTRIES < entries.size(); ++b) {
    const size_t at = static_cast<size_t>(b) * SEDGE_STEER_BLOCK_ENTRIES;
    const size_t n = std::min<size_t>(SEDGE_STEER_BLOCK_ENTRIES, entries.size() - at);
    std::copy_n(entries.begin() + static_cast<std::ptrdiff_t>(at), n, block.begin());
    std::fill(block.begin() + static_cast<std::ptrdiff_t>(n), block.end(), sedge_entry{});
    if (bpf_map_update_elem(bpf_map__fd(map), &b, block.data(), BPF_ANY) != 0) {
      return bpf_error(std::string("writing map ") + bpf_map__name(map), errno);
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

// Every CPU's value of a per-CPU map's element (values are padded to 8 bytes; ours are).
template <typename V>
Result<std::vector<V>> per_cpu(const struct bpf_map* map, uint32_t index) {
  static_assert(sizeof(V) % 8 == 0);
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return bpf_error("counting CPUs", cpus);
  std::vector<V> values(static_cast<size_t>(cpus));
  if (bpf_map_lookup_elem(bpf_map__fd(map), &index, values.data()) != 0) {
    return bpf_error(std::string("reading ") + bpf_map__name(map) + "[" + std::to_string(index) + "]", errno);
  }
  return values;
}

Result<sedge_counter> sum_percpu(const struct bpf_map* map, uint32_t index) {
  auto values = per_cpu<sedge_counter>(map, index);
  if (!values) return values.error();
  sedge_counter total{};
  for (const auto& c : *values) {
    total.packets += c.packets;
    total.bytes += c.bytes;
  }
  return total;
}

// The size the flow cache gets: the one asked for, else the pinned cache's, else the
// default. A pinned cache of another size is unpinned so that load() pins a new one.
uint32_t flow_cache_size_for(const std::string& pin_dir, uint32_t asked) {
  const std::string pin = pin_dir + "/steer_flow_cache";
  const int fd = bpf_obj_get(pin.c_str());
  if (fd < 0) return asked ? asked : SEDGE_STEER_FLOW_CACHE_DEFAULT;
  bpf_map_info info{};
  uint32_t len = sizeof info;
  const bool known = bpf_obj_get_info_by_fd(fd, &info, &len) == 0;
  close(fd);
  if (!known) return asked ? asked : SEDGE_STEER_FLOW_CACHE_DEFAULT;
  if (asked == 0) return info.max_entries;
  if (info.max_entries != asked) unlink(pin.c_str());
  return asked;
}

sedge_state read_state(const steer_bpf* skel) {
  const uint32_t zero = 0;
  sedge_state st{};
  bpf_map_lookup_elem(bpf_map__fd(skel->maps.steer_state), &zero, &st);
  return st;
}

}  // namespace

Result<std::unique_ptr<SteerProgram>> SteerProgram::load(const std::string& pin_dir, uint32_t flow_cache_size) {
  std::error_code ec;
  std::filesystem::create_directories(pin_dir, ec);
  if (ec) return Error{"creating the BPF pin directory " + pin_dir + ": " + ec.message() + " (is bpffs mounted?)", ec.value()};
  static std::once_flag print_set;
  std::call_once(print_set, [] { libbpf_set_print(libbpf_to_journal); });
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir.c_str());
  std::unique_ptr<SteerProgram> p(new SteerProgram());
  p->skel_ = steer_bpf__open_opts(&opts);
  if (!p->skel_) return bpf_error("opening the steering program", errno);
  const uint32_t cache_size = flow_cache_size_for(pin_dir, flow_cache_size);
  if (int err = bpf_map__set_max_entries(p->skel_->maps.steer_flow_cache, cache_size); err != 0) {
    return bpf_error("sizing the flow cache", err);
  }
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

uint32_t SteerProgram::generation() const { return read_state(skel_).generation; }

bool SteerProgram::flow_cache() const { return read_state(skel_).flow_cache_off == 0; }

uint32_t SteerProgram::flow_cache_size() const { return bpf_map__max_entries(skel_->maps.steer_flow_cache); }

Status SteerProgram::set_flow_cache(bool on) {
  sedge_state st = read_state(skel_);
  st.flow_cache_off = on ? 0 : 1;
  return put(skel_->maps.steer_state, uint32_t{0}, st);
}

Result<sedge_flow_stats> SteerProgram::flow_stats() const {
  auto values = per_cpu<sedge_flow_stats>(skel_->maps.steer_flow_stats, 0);
  if (!values) return values.error();
  sedge_flow_stats total{};
  for (const auto& v : *values) {
    total.hits += v.hits;
    total.misses += v.misses;
    total.stale += v.stale;
    total.inserts += v.inserts;
  }
  return total;
}

Status SteerProgram::replace_rules(const SteerTables& t) {
  if (t.entries.size() > SEDGE_STEER_MAX_ENTRIES || t.profiles.size() > SEDGE_STEER_MAX_PROFILES ||
      t.nets.size() > SEDGE_STEER_MAX_NETWORKS || t.prefix4.size() > SEDGE_STEER_MAX_PREFIXES4 ||
      t.prefix6.size() > SEDGE_STEER_MAX_PREFIXES6) {
    return Error{"the rule set is larger than the classifier's maps (see bpf/maps.h limits)", E2BIG};
  }
  const sedge_state live = read_state(skel_);
  // The next generation: the other map set; 0 is skipped on wrapping, an empty cache slot's.
  sedge_state next = live;
  next.generation = live.generation + 1 == 0 ? 2 : live.generation + 1;
  const uint32_t idle = next.generation & 1u;
  const struct bpf_map* nets = idle ? skel_->maps.steer_nets_1 : skel_->maps.steer_nets_0;
  const struct bpf_map* prefix4 = idle ? skel_->maps.steer_prefix4_1 : skel_->maps.steer_prefix4_0;
  const struct bpf_map* prefix6 = idle ? skel_->maps.steer_prefix6_1 : skel_->maps.steer_prefix6_0;
  const struct bpf_map* entries = idle ? skel_->maps.steer_entries_1 : skel_->maps.steer_entries_0;
  const struct bpf_map* profiles = idle ? skel_->maps.steer_profiles_1 : skel_->maps.steer_profiles_0;
  for (const auto* map : {nets, prefix4, prefix6}) {
    if (auto st = clear_map(map); !st) return st;
  }
  if (auto st = put_entries(entries, t.entries); !st) return st;
  for (uint32_t i = 0; i < t.profiles.size(); ++i) {
    if (auto st = put(profiles, i, t.profiles[i]); !st) return st;
  }
  if (auto st = put_all(prefix4, t.prefix4); !st) return st;
  if (auto st = put_all(prefix6, t.prefix6); !st) return st;
  if (auto st = put_all(nets, t.nets); !st) return st;
  return put(skel_->maps.steer_state, uint32_t{0}, next);  // the switch: every cached decision is stale
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

Result<TestRunResult> test_run(int prog_fd, const std::vector<uint8_t>& frame, uint32_t ingress_ifindex, uint32_t repeat) {
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
  if (int err = bpf_prog_test_run_opts(prog_fd, &opts); err != 0) return bpf_error("BPF_PROG_TEST_RUN", err);
  return TestRunResult{static_cast<int>(opts.retval), ctx_out.mark, opts.duration};
}

Result<TestRunResult> SteerProgram::test_run(const std::vector<uint8_t>& frame, uint32_t ingress_ifindex, uint32_t repeat) const {
  return bpf::test_run(program_fd(), frame, ingress_ifindex, repeat);
}

}  // namespace sedge::bpf

// The steering classifier's owner: loads the embedded program (libbpf skeleton), pins its
// maps with BTF under a directory (default /sys/fs/bpf/sedge) so a restart re-attaches to the
// same maps without dropping traffic, attaches at clsact ingress, and writes rule sets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bpf/maps.h"
#include "common/result.h"

struct steer_bpf;

namespace sedge::bpf {

// The contents of one generation of maps: what the policy compiler produces.
struct SteerTables {
  std::vector<std::pair<uint32_t, sedge_net>> nets;  // ingress ifindex -> network
  std::vector<std::pair<sedge_prefix4_key, sedge_chain>> prefix4;
  std::vector<std::pair<sedge_prefix6_key, sedge_chain>> prefix6;
  std::vector<sedge_entry> entries;  // blocks of SEDGE_STEER_BLOCK_ENTRIES; no chain crosses one
  std::vector<sedge_profile> profiles;  // index = profile id
};

struct TestRunResult {
  int action = 0;     // TC_ACT_*
  uint32_t mark = 0;  // skb->mark after the program
  uint64_t duration_ns = 0;  // average per run (repeat)
};

// BPF_PROG_TEST_RUN of any tc program on one frame received at `ingress_ifindex`.
Result<TestRunResult> test_run(int prog_fd, const std::vector<uint8_t>& frame, uint32_t ingress_ifindex, uint32_t repeat = 1);

class SteerProgram {
 public:
  static constexpr const char* kDefaultPinDir = "/sys/fs/bpf/sedge";

  // Opens and loads the program; maps already pinned under pin_dir are reused (their
  // contents, including the live generation, survive a restart). `flow_cache_size` flows are
  // cached (0: the pinned cache's size, else SEDGE_STEER_FLOW_CACHE_DEFAULT); a pinned cache
  // of another size is replaced by an empty one (the program it served keeps it until it is
  // detached).
  static Result<std::unique_ptr<SteerProgram>> load(const std::string& pin_dir = kDefaultPinDir,
                                                    uint32_t flow_cache_size = 0);
  ~SteerProgram();
  SteerProgram(const SteerProgram&) = delete;
  SteerProgram& operator=(const SteerProgram&) = delete;

  // Attaches at clsact ingress of the interface (creating the clsact qdisc if needed),
  // replacing a previous sedge classifier in place.
  Status attach(int ifindex);
  Status detach(int ifindex);

  // Fills the idle generation, then flips state.generation: one atomic switch.
  Status replace_rules(const SteerTables& tables);
  // Failover, one map write each.
  Status set_active_path(uint32_t profile, uint32_t index);
  Status set_path_healthy(uint32_t path, bool healthy);

  // Turns the flow cache on or off (one map write); replace_rules keeps the setting.
  Status set_flow_cache(bool on);
  bool flow_cache() const;
  uint32_t flow_cache_size() const;

  Result<sedge_counter> rule_counter(uint32_t rule_id) const;
  Result<sedge_counter> path_counter(uint32_t path_id) const;
  Result<sedge_flow_stats> flow_stats() const;  // summed over the CPUs
  // The rule-set generation: counts replace_rules; its low bit is the live map set.
  uint32_t generation() const;

  // BPF_PROG_TEST_RUN of the classifier on one frame.
  Result<TestRunResult> test_run(const std::vector<uint8_t>& frame, uint32_t ingress_ifindex, uint32_t repeat = 1) const;

  int program_fd() const;

 private:
  SteerProgram() = default;
  steer_bpf* skel_ = nullptr;
};

}  // namespace sedge::bpf

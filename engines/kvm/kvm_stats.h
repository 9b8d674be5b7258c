// tags: engines|kvm — desc: reads the cumulative KVM binary statistics (KVM_GET_STATS_FD).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/counters.h"
#include "common/status.h"

namespace vtb::kvm {

// One stats file descriptor (of a VM or a vCPU fd). Only cumulative,
// single-value statistics are kept (exits, io_exits, halt_exits, ...);
// instant values, peaks and histograms are skipped.
class StatsReader {
 public:
  StatsReader() = default;
  ~StatsReader();
  StatsReader(const StatsReader&) = delete;
  StatsReader& operator=(const StatsReader&) = delete;

  // KVM_GET_STATS_FD on `kvm_fd`; reads the header and descriptors.
  Status open(int kvm_fd);
  bool is_open() const { return fd_ >= 0; }
  const std::vector<std::string>& names() const { return names_; }
  // Current values, one per names() entry. False on a read error.
  bool snapshot(std::vector<uint64_t>* out) const;
  // Adds now - base (non-zero deltas only) as "<prefix><name>".
  static void add_deltas(const std::vector<std::string>& names, const std::vector<uint64_t>& base,
                         const std::vector<uint64_t>& now, std::string_view prefix, Counters& out);

 private:
  int fd_ = -1;
  uint64_t data_offset_ = 0, data_bytes_ = 0;
  std::vector<std::string> names_;
  std::vector<uint32_t> offsets_;  // byte offset of each value inside the data block
};

}  // namespace vtb::kvm

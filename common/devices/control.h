// tags: common|devices — desc: the testbed control device: exit code, phases, result records.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/bus.h"
#include "common/phase.h"

namespace vtb {

// Two port ranges, one device: VTB_PORT_CTRL (byte stream of records, see
// the ABI header) and VTB_PORT_EXIT (guest exit code, QEMU isa-debug-exit
// compatible). Register it twice, with bases that distinguish the two.
class ControlDevice : public Device {
 public:
  enum : uint64_t { kCtrlOffset = 0, kExitOffset = 0x100 };  // offsets seen through the adapters below
  const char* name() const override { return "vtb-control"; }
  void read(uint64_t offset, uint8_t* data, unsigned size) override;
  void write(uint64_t offset, const uint8_t* data, unsigned size) override;

  bool exited() const { return exited_; }
  int exit_code() const { return exit_code_; }
  const std::vector<PhaseTiming>& phases() const { return phases_; }
  const std::vector<std::pair<std::string, std::string>>& records() const { return records_; }
  uint64_t malformed_lines() const { return malformed_; }

  // Adapters registered on the port bus (each one forwards with its offset).
  Device* ctrl_port() { return &ctrl_; }
  Device* exit_port() { return &exit_; }

  // Parse one complete line stamped at `now_ns` (exposed for tests and the
  // qemu/native peers, which read the same protocol from a pipe).
  void feed_line(const std::string& line, uint64_t now_ns);

  // Called at every phase marker for a snapshot of every counter; the
  // phase keeps end - begin (PhaseTiming::counters). Unset: no snapshots.
  void set_snapshot(std::function<Counters()> fn) { snapshot_ = std::move(fn); }

  ControlDevice();

 private:
  struct Fwd : Device {
    ControlDevice* self = nullptr;
    uint64_t off = 0;
    const char* nm = "";
    const char* name() const override { return nm; }
    void read(uint64_t o, uint8_t* d, unsigned s) override { self->read(o + off, d, s); }
    void write(uint64_t o, const uint8_t* d, unsigned s) override { self->write(o + off, d, s); }
  };
  Fwd ctrl_, exit_;
  std::string line_;
  bool exited_ = false;
  int exit_code_ = -1;
  uint64_t malformed_ = 0;
  std::vector<PhaseTiming> phases_;
  std::function<Counters()> snapshot_;
  std::vector<std::pair<std::string, std::string>> records_;
};

}  // namespace vtb

// tags: engines|kvm|tests — desc: tiny hand-assembled 64-bit guests placed by the common loader, and a minimal exit loop.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/engine.h"
#include "common/guest_memory.h"
#include "common/interrupt_source.h"
#include "common/status.h"

namespace vtb::kvm::testing {

// Guest code runs at physical = virtual kCodeGpa (the loader's identity map).
constexpr uint64_t kCodeGpa = 0x100000;
constexpr uint64_t kDataGpa = 0x200000;    // scratch data page (IDT, counters)
constexpr uint64_t kMmioGpa = 0x30000000;  // inside the 1 GiB identity map, outside RAM
constexpr uint16_t kDonePort = 0xf4;       // VTB_PORT_EXIT
constexpr uint16_t kLoopPort = 0x80;       // VTB_PORT_NULL

// Machine code (objdump-verified). imm32 placeholders are patched by the builders.
std::vector<uint8_t> out_loop(uint32_t n);    // n x `out 0x80, al`, then `out 0xf4, eax` (eax=0)
// "B 1\n" on the control port (VTB_PORT_CTRL), n x `out 0x80, al`, "E 1\n", then
// `out 0xf4, eax` (eax=0): the Vm times phase 1 at its markers.
std::vector<uint8_t> phased_out_loop(uint32_t n);
std::vector<uint8_t> mmio_loop(uint32_t n);
// rep outsb of the 16 bytes at string_src_gpa() to port 0x80, then rep insb
// of 8 bytes from port 0x80 to string_dst_gpa(), then `out 0xf4, eax` (eax=0).
std::vector<uint8_t> string_io();
constexpr uint64_t string_src_gpa() { return kDataGpa + 0x900; }
constexpr uint64_t string_dst_gpa() { return kDataGpa + 0xa00; }   // n x `mov [kMmioGpa], eax`, then eax=[kMmioGpa]; out 0xf4, eax
std::vector<uint8_t> triple_fault();          // ud2 with an empty IDT
std::vector<uint8_t> spin();                  // jmp $
std::vector<uint8_t> unmapped_gva();          // load from 2 GiB (not mapped by the loader tables)
// lidt (IDT at kDataGpa, vector 0x20 -> handler incrementing the u64 at
// halt_counter_gpa()), then n x (sti; hlt), then cli; out 0xf4.
std::vector<uint8_t> halt_loop(uint32_t n);
constexpr uint64_t halt_counter_gpa() { return kDataGpa + 0x800; }

// A VM's memory with `code` at kCodeGpa, placed through common/loader
// (place_image: boot info, loader page tables and GDT), plus the IDT page
// the halt guest needs.
struct TinyGuest {
  std::unique_ptr<GuestMemory> mem;
  BootImage boot;
  Status build(const std::vector<uint8_t>& code, size_t mem_mib = 16);
};

// Never pending: the shared one (common/interrupt_source.h).
using NoIrq = NoInterrupts;

// A periodic interrupt (vector 0x20) every `period_ns`, from start().
class PeriodicIrq : public InterruptSource {
 public:
  explicit PeriodicIrq(uint64_t period_ns) : period_(period_ns) {}
  void start(uint64_t now_ns) { next_ = now_ns + period_; }
  void update(uint64_t now_ns) override;
  bool pending() const override { return pending_; }
  int acknowledge() override;
  uint64_t next_event_ns() const override { return next_; }
  uint64_t raised() const { return raised_; }
  uint64_t acked() const { return acked_; }

 private:
  uint64_t period_, next_ = 0, raised_ = 0, acked_ = 0;
  bool pending_ = false;
};

// What a run did, exit by exit.
struct RunLog {
  std::map<uint16_t, uint64_t> port_writes, port_reads;
  uint64_t mmio_writes = 0, mmio_reads = 0, halts = 0;
  uint32_t done_value = 0;  // value written to kDonePort
  std::string loop_port_bytes;  // bytes written to kLoopPort with size 1
  Exit last;                // the exit that ended the run
};

// Runs until a write to kDonePort (returns true) or any exit other than
// PortIo/Mmio/Halt (returns false, log->last holds it). MMIO reads return
// `mmio_read_value`; port reads return `port_read_byte` in every byte.
bool drive(Engine& e, RunLog* log, std::chrono::milliseconds wall, uint64_t mmio_read_value = 0,
           uint8_t port_read_byte = 0);

}  // namespace vtb::kvm::testing

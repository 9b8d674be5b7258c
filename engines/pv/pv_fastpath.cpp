// tags: engines|pv — desc: the hypercall fast path (built with -mgeneral-regs-only: guest SIMD state stays live).
#include <cstdint>

#include "engines/pv/pv_cpu.h"

using vtb::pv::Mode;
using vtb::pv::PvCpu;

// Served without saving the guest's FP/SIMD state: anything that may touch
// guest memory, the window or the Vm goes to the slow path.
extern "C" int vtb_pv_hc_fast() {
  PvCpu& v = vtb_pv_cpu;
  const uint64_t nr = v.gpr[vtb::pv::RAX];
  if (v.mode != Mode::Kernel || v.timer_fired || (v.shared->pending && v.shared->vif)) return PV_SLOW;
  switch (nr) {
    case VTB_HC_NULL:
      ++v.hc_count[VTB_HC_NULL];
      v.gpr[vtb::pv::RAX] = 0;
      return PV_RESUME_FAST;
    case VTB_HC_RDTSC: {
      uint32_t lo, hi;
      asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
      ++v.hc_count[VTB_HC_RDTSC];
      v.gpr[vtb::pv::RAX] = (uint64_t(hi) << 32) | lo;
      return PV_RESUME_FAST;
    }
    case VTB_HC_STACK_SWITCH:
      ++v.hc_count[VTB_HC_STACK_SWITCH];
      v.kernel_sp = v.gpr[vtb::pv::RBX];
      v.gpr[vtb::pv::RAX] = 0;
      return PV_RESUME_FAST;
    case VTB_HC_INVLPG:  // the window is kept in step at every mmu_update: nothing to flush
      ++v.hc_count[VTB_HC_INVLPG];
      v.gpr[vtb::pv::RAX] = 0;
      return PV_RESUME_FAST;
    default:
      return PV_SLOW;
  }
}

// tags: engines|pv — desc: the slow hypercall path: mmu_update batches, trap table, iret, sched_op, io, console, multicall.
#include <x86intrin.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/abi/vtb_abi.h"
#include "common/clock.h"
#include "common/port_io.h"
#include "engines/pv/pv_engine_impl.h"

extern "C" int vtb_pv_hc_slow() { return vtb::pv::g_engine->hypercall_slow(); }

namespace vtb::pv {
namespace {
std::string hex(uint64_t x) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", (unsigned long long)x);
  return b;
}
}  // namespace

int PvEngine::exit_with(Exit e) {
  e.rip = vtb_pv_cpu.rip;
  pending_exit_ = std::move(e);
  vtb_pv_cpu.exit_reason = ExitReason::Hypercall;
  return PV_EXIT;
}

// Served (and counted) by the Vm's devices; the hypercall's usual return
// path then looks at pending events, which covers a PIC/PIT change too.
PortIoResult PvEngine::serve_io(const Exit& e) {
  if (!pio_) return PortIoResult::Exit;
  const PortIoResult res = pio_->handle(e.port, e.is_write, e.size, e.count, e.data);
  if (res != PortIoResult::Exit) ++io_in_run_;
  return res;
}

// After an access served in-process that left the PIC/PIT alone: back to the
// guest as the fast path returns (no clock read; a pending event waits for
// the host timer's flag or the next slow hypercall), else the usual tail.
bool PvEngine::io_resume_fast(PortIoResult res, int64_t ret) {
  PvCpu& v = vtb_pv_cpu;
  if (res != PortIoResult::Served || v.timer_fired || (v.shared->pending && v.shared->vif)) return false;
  v.gpr[RAX] = uint64_t(ret);
  return true;
}

int PvEngine::hypercall_slow() {
  PvCpu& v = vtb_pv_cpu;
  const uint64_t nr = v.gpr[RAX];
  if (v.mode == Mode::User) {  // user code jumped into the host entry: #GP, as a privileged call would
    if (reflect(13, 0, true, 0)) return PV_RESUME_FULL;
    return exit_with(*pending_exit_);
  }
  ++v.hc_count[nr < VTB_HC_COUNT ? nr : uint64_t(VTB_HC_COUNT)];
  const uint64_t a[4] = {v.gpr[RBX], v.gpr[RCX], v.gpr[RDX], v.gpr[RSI]};
  int64_t ret = 0;
  switch (nr) {
    case VTB_HC_IRET:
      return hc_iret();
    case VTB_HC_SCHED_OP:
      if (a[0] != VTB_SCHED_YIELD) return hc_sched_op(a[0], a[1]);
      break;
    case VTB_HC_IO: {
      const uint64_t size = a[1];
      if (size != 1 && size != 2 && size != 4) {
        ret = -VTB_EINVAL;
        break;
      }
      Exit e;
      e.kind = ExitKind::PortIo;
      e.port = uint16_t(a[0]);
      e.size = uint8_t(size);
      e.is_write = a[2] != 0;
      e.count = 1;
      e.data = io_buf_;
      std::memset(io_buf_, 0, sizeof io_buf_);
      if (e.is_write) std::memcpy(io_buf_, &a[3], size);
      if (const PortIoResult res = serve_io(e); res != PortIoResult::Exit) {  // ret: 0 for a write
        if (!e.is_write) std::memcpy(&ret, io_buf_, size);  // zero-extended: io_buf_ was cleared
        if (io_resume_fast(res, ret)) return PV_RESUME_FAST;
        break;
      }
      if (e.is_write) v.gpr[RAX] = 0;
      else pending_read_size_ = int(size);
      return exit_with(e);
    }
    case VTB_HC_CONSOLE_IO: {
      const uint64_t len = a[1];
      if (len == 0) break;
      if (len > 65536) {
        ret = -VTB_EINVAL;
        break;
      }
      console_buf_.resize(len);
      if (!copy_from_guest(a[0], console_buf_.data(), len)) {
        ret = -VTB_EFAULT;
        break;
      }
      Exit e;
      e.kind = ExitKind::PortIo;
      e.port = VTB_PORT_UART;
      e.size = 1;
      e.is_write = true;
      e.count = uint32_t(len);
      e.data = console_buf_.data();
      ret = int64_t(len);
      if (const PortIoResult res = serve_io(e); res != PortIoResult::Exit) {
        if (io_resume_fast(res, ret)) return PV_RESUME_FAST;
        break;
      }
      v.gpr[RAX] = len;
      return exit_with(e);
    }
    default: {
      bool handled = false;
      ret = do_simple(nr, a, &handled);
      if (!handled) ret = -VTB_ENOSYS;
    }
  }
  v.gpr[RAX] = uint64_t(ret);
  mmu_->commit_table_prot();  // before guest kernel code runs again
  if (!win_.error().empty()) {
    Exit e;
    e.kind = ExitKind::EngineError;
    e.message = "pv: host mapping failure: " + win_.error();
    return exit_with(e);
  }
  bool delivered = false;
  if (!deliver_events(&delivered)) return exit_with(*pending_exit_);
  return delivered ? PV_RESUME_FULL : PV_RESUME_FAST;
}

// pv@2as: the switch of address space picks the user process of the new
// root (PvUserSpace::switch_end); the outgoing tree's deferred changes are
// its own process's, flushed first.
int64_t PvEngine::new_baseptr(uint64_t root) {
  if (!us_) return mmu_->new_baseptr(root);
  mmu_->flush();
  us_->switch_begin();
  const int64_t r = mmu_->new_baseptr(root);
  us_->switch_end(*mmu_);
  return r;
}

int64_t PvEngine::do_simple(uint64_t nr, const uint64_t a[4], bool* handled) {
  PvCpu& v = vtb_pv_cpu;
  *handled = true;
  switch (nr) {
    case VTB_HC_NULL:
    case VTB_HC_INVLPG:
      return 0;
    case VTB_HC_RDTSC:
      return int64_t(__rdtsc());
    case VTB_HC_STACK_SWITCH:
      v.kernel_sp = a[0];
      return 0;
    case VTB_HC_SET_TRAP_TABLE:
      return hc_set_trap_table(a[0], a[1]);
    case VTB_HC_MMU_UPDATE:
      return hc_mmu_update(a[0], a[1], a[2]);
    case VTB_HC_NEW_BASEPTR:
      return new_baseptr(a[0]);
    case VTB_HC_UNPIN_TABLE: {
      const int level = a[1] ? int(a[1]) : 4;
      const int64_t r = mmu_->unpin(a[0], level, a[2]);
      if (us_ && r == 0 && level == 4) us_->root_released(a[0]);
      return r;
    }
    case VTB_HC_PIN_TABLE:
      return mmu_->pin(a[0], int(a[1]));
    case VTB_HC_CLEAR_PAGE:
      return mmu_->page_write(a[0], nullptr);
    case VTB_HC_COPY_PAGE:
      return mmu_->page_write(a[0], &a[1]);
    case VTB_HC_SCHED_OP:
      return a[0] == VTB_SCHED_YIELD ? 0 : -VTB_EINVAL;  // one vCPU: nothing else to run
    case VTB_HC_SET_TIMER:
      if (a[0] && a[0] < 100000) return -VTB_EINVAL;  // below 100 us the host tick cannot follow
      v.timer_period_ns = a[0];
      v.timer_next_ns = a[0] ? monotonic_ns() + a[0] : 0;
      arm_host_timer();
      return 0;
    case VTB_HC_CPUID: {  // from the cache: a host cpuid traps here (~5 us)
      const std::array<uint32_t, 4> r = cpuid_.get(uint32_t(a[0]), uint32_t(a[1]));
      return copy_to_guest(a[2], r.data(), sizeof r) ? 0 : -VTB_EFAULT;
    }
    case VTB_HC_MULTICALL:
      return hc_multicall(a[0], a[1]);
    case VTB_HC_VM_ASSIST:
      return hc_vm_assist(a[0]);
    default:
      *handled = false;
      return -VTB_ENOSYS;
  }
}

// Xen's vm_assist. DIRECT_USER_ACCESS: the kernel reaches user memory only
// through its direct map. Accepted in every mode; in pv@2as the engine then
// stops mirroring the user half in its own window (the user process maps it,
// PvWindow::set_user_remote). pv@mprotect/pkeys run user code here: the
// window keeps it.
int64_t PvEngine::hc_vm_assist(uint64_t type) {
  if (type != VTB_VMASST_DIRECT_USER_ACCESS) return -VTB_EINVAL;
  direct_user_ = true;
  if (us_ && !win_.set_user_remote()) return -VTB_EFAULT;  // win_.error() ends the run
  return 0;
}

int64_t PvEngine::hc_mmu_update(uint64_t reqs, uint64_t count, uint64_t done_va) {
  if (count == 0) return 0;
  if (count > 4096) return -VTB_EINVAL;
  std::vector<vtb_mmu_update> buf(count);
  if (!copy_from_guest(reqs, buf.data(), count * sizeof(vtb_mmu_update))) return -VTB_EFAULT;
  batch_[count == 1 ? 0 : count <= 8 ? 1 : count <= 64 ? 2 : 3]++;
  uint64_t done = 0;
  int64_t r = 0;
  for (const auto& u : buf) {
    if ((r = mmu_->update(u.ptr, u.val)) != 0) break;  // refused: not applied, the batch stops here
    ++done;
  }
  if (!mmu_->flush() && r == 0) r = -VTB_ENOMEM;
  if (done_va && !copy_to_guest(done_va, &done, sizeof done) && r == 0) r = -VTB_EFAULT;
  return r;
}

int64_t PvEngine::hc_set_trap_table(uint64_t va, uint64_t n) {
  if (n > 256) return -VTB_EINVAL;
  std::vector<vtb_trap_info> t(n);
  if (n && !copy_from_guest(va, t.data(), n * sizeof(vtb_trap_info))) return -VTB_EFAULT;
  for (const auto& e : t)
    if (e.handler && (e.handler < VTB_KERNEL_VBASE || e.handler >= VTB_KERNEL_VBASE + mem_->size())) return -VTB_EINVAL;
  std::memset(trap_, 0, sizeof trap_);
  std::memset(trap_flags_, 0, sizeof trap_flags_);
  for (const auto& e : t) {
    trap_[e.vector] = e.handler;
    trap_flags_[e.vector] = e.flags;
  }
  return 0;
}

int64_t PvEngine::hc_multicall(uint64_t va, uint64_t n) {
  if (n > 64) return -VTB_EINVAL;
  std::vector<vtb_multicall> calls(n);
  if (n && !copy_from_guest(va, calls.data(), n * sizeof(vtb_multicall))) return -VTB_EFAULT;
  for (auto& c : calls) {
    // Entries that leave the engine or change control flow are not allowed inside a multicall.
    if (c.op == VTB_HC_IO || c.op == VTB_HC_CONSOLE_IO || c.op == VTB_HC_IRET || c.op == VTB_HC_MULTICALL) {
      c.result = uint64_t(-VTB_EINVAL);
      continue;
    }
    if (c.op < VTB_HC_COUNT) ++vtb_pv_cpu.hc_count[c.op];
    bool handled = false;
    c.result = uint64_t(do_simple(c.op, c.args, &handled));
  }
  if (n && !copy_to_guest(va, calls.data(), n * sizeof(vtb_multicall))) return -VTB_EFAULT;
  return 0;
}

int PvEngine::hc_iret() {
  PvCpu& v = vtb_pv_cpu;
  vtb_pv_iret_frame f;
  if (!copy_from_guest(v.gpr[RSP], &f, sizeof f)) {
    pending_exit_ = fault_exit("pv: iret with an unreadable frame at rsp " + hex(v.gpr[RSP]), 13);
    return exit_with(*pending_exit_);
  }
  const bool to_user = (f.cs & 3) == 3;
  v.gpr[RAX] = f.rax;
  v.rip = f.rip;
  v.gpr[RSP] = f.rsp;
  v.rflags = (f.rflags & 0xcd5) | 0x202;
  v.shared->vif = (to_user || (f.rflags & 0x200)) ? 1 : 0;
  set_mode(to_user ? Mode::User : Mode::Kernel);
  bool delivered = false;
  if (!deliver_events(&delivered)) return exit_with(*pending_exit_);
  if (us_ && v.mode == Mode::User) {  // pv@2as: the run loop hands user code to the user process
    v.exit_reason = ExitReason::UserMode;
    return PV_EXIT;
  }
  return PV_RESUME_FULL;
}

int PvEngine::hc_sched_op(uint64_t op, uint64_t arg) {
  PvCpu& v = vtb_pv_cpu;
  if (op == VTB_SCHED_SHUTDOWN) {
    Exit e;
    e.kind = ExitKind::Shutdown;
    e.message = "pv: guest requested shutdown (code " + std::to_string(arg) + ")";
    return exit_with(e);
  }
  if (op != VTB_SCHED_BLOCK) {
    v.gpr[RAX] = uint64_t(-VTB_EINVAL);
    return PV_RESUME_FAST;
  }
  // Block: enable events and wait for one (Xen's SCHEDOP_block).
  ++blocks_;
  v.gpr[RAX] = 0;
  v.shared->vif = 1;
  for (;;) {
    bool delivered = false;
    if (!deliver_events(&delivered)) return exit_with(*pending_exit_);
    if (delivered) return PV_RESUME_FULL;
    const uint64_t now = monotonic_ns();
    if (now >= v.deadline_ns) {
      Exit e;
      e.kind = ExitKind::LimitReached;
      e.message = "pv: wall-clock limit reached while the guest was blocked";
      return exit_with(e);
    }
    if (!v.timer_period_ns) {
      Exit e;  // the Vm waits for the interrupt controller (or reports a dead halt)
      e.kind = ExitKind::Halt;
      return exit_with(e);
    }
    uint64_t until = v.timer_next_ns < v.deadline_ns ? v.timer_next_ns : v.deadline_ns;
    timespec ts{time_t(until / 1000000000ULL), long(until % 1000000000ULL)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  }
}

}  // namespace vtb::pv

// tags: engines|bt — desc: exception/interrupt delivery through the guest IDT, iretq, syscall/sysret (fault.reflected.<vector>).
#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/clock.h"
#include "common/interrupt_source.h"
#include "common/page_walk.h"
#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

namespace vtb::bt {

namespace {
bool canonical(uint64_t v) { return uint64_t(int64_t(v << 16) >> 16) == v; }
const char* vector_name(int v) {
  static const char* n[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?", "#TS", "#NP",
                            "#SS", "#GP", "#PF", "?", "#MF", "#AC", "#MC", "#XM"};
  return v < 20 ? n[v] : "irq";
}
}  // namespace

void Runtime::raise(uint8_t vector, uint32_t error, bool has_error, uint64_t cr2, uint8_t soft_len) {
  exc_ = {true, vector, has_error, error, cr2, soft_len};
  resume_tc_ = 0;
}

// An access to `ea` outside what the code may address (translated code's
// address checks; directly executed user code touching the host's ranges):
// what the guest's own tables say about such an access (#PF), never the host
// mirror's answer.
void Runtime::raise_outside_access(uint64_t ea, bool write, bool user) {
  const uint32_t w = write ? kPfWrite : 0u;
  GuestFaultInfo f;
  uint8_t probe;
  if (!mem_->read(ea, &probe, 1, user, &f)) raise(f.vector, f.vector == 14 ? f.error | w : f.error, true, f.addr);
  else raise(14, kPfPresent | (user ? kPfUser : 0u) | w, true, ea);  // the guest mapped it, but it is outside its ABI
}

bool Runtime::read_tss_rsp(int which, uint64_t* out) {
  const uint64_t off = which == 0 ? 4 : 0x24 + 8 * uint64_t(which - 1);
  if (cpu_.tr.limit < off + 7) return false;
  GuestFaultInfo f;
  return mem_->read(cpu_.tr.base + off, out, 8, false, &f);
}

// The guest exception a host signal other than a guest page fault stands for
// (hf_; cpu_.rip already set): #DE, #UD, #BP or #DB, #AC, else #GP(0) (a
// privileged instruction, a non-canonical address). `int3_soft`: an int3 that
// ran natively (rip after it, delivered as a software interrupt).
void Runtime::raise_signal_exception(bool int3_soft) {
  switch (hf_.sig) {
    case SIGFPE: raise(0); break;
    case SIGILL: raise(6); break;
    case SIGTRAP: raise(hf_.trapno == 3 ? 3 : 1, 0, false, 0, int3_soft && hf_.trapno == 3 ? 1 : 0); break;
    case SIGBUS: raise(hf_.trapno == 17 ? 17 : 13, 0, true); break;
    default: raise(13, 0, true); break;
  }
}

bool Runtime::deliver_pending(Exit* out) {
  if (exc_.valid) {
    const Pending p = exc_;
    exc_.valid = false;
    if (p.vector == 14) cpu_.cr2 = asm_vcpu()->cr2 = p.cr2;
    return deliver_event(p.vector, p.has_error, p.error, p.soft, out);
  }
  if (irq_ && (vflags() & kFlagIF)) {
    if (cpu_.interrupt_shadow) {
      cpu_.interrupt_shadow = false;
      return false;
    }
    if (clock_due_) {  // timers advance at asynchronous exits (or always, without them)
      irq_->update(visit_now());
      clock_due_ = false;
    }
    if (irq_->pending()) {
      const int v = irq_->acknowledge();
      if (v >= 0) {
        resume_tc_ = 0;
        return deliver_event(uint8_t(v), false, 0, false, out);
      }
    }
  }
  cpu_.interrupt_shadow = false;
  return false;
}

// Delivers through the 64-bit IDT. Returns true when the Vm must see an
// exit (no IDT in snippet mode, triple fault). `soft`: the length of the
// `int n`/`int3` instruction that raised it (0: not a software interrupt).
bool Runtime::deliver_event(uint8_t vector, bool has_error, uint32_t error, uint8_t soft, Exit* out) {
  if (vector < 32) ++st_.reflected[vector];
  auto fail = [&](ExitKind k, const std::string& msg) {
    *out = Exit{};
    out->kind = k;
    out->vector = vector;
    out->error_code = error;
    out->fault_addr = cpu_.cr2;
    out->rip = cpu_.rip;
    out->message = msg;
    return true;
  };
  char buf[200];
  if (!opt_.reflect_exceptions || cpu_.idt_limit == 0) {
    snprintf(buf, sizeof buf, "guest exception %s (vector %d, error 0x%x, cr2 0x%llx) at rip 0x%llx with no IDT",
             vector_name(vector), vector, error, (unsigned long long)cpu_.cr2, (unsigned long long)cpu_.rip);
    if (vector >= 32) return false;  // an interrupt with no IDT is dropped
    return fail(ExitKind::GuestFault, buf);
  }
  for (int depth = 0; depth < 3; ++depth) {
    uint64_t gate[2] = {0, 0};
    GuestFaultInfo f;
    const uint64_t off = uint64_t(vector) * 16;
    bool ok = off + 15 <= cpu_.idt_limit && mem_->read(cpu_.idt_base + off, gate, 16, false, &f);
    const bool present = ok && ((gate[0] >> 47) & 1);
    const int type = int((gate[0] >> 40) & 0xf);
    const int dpl = int((gate[0] >> 45) & 3);
    uint32_t next_err = uint32_t(vector) * 8 + 2;
    uint8_t next_vec = 13;
    if (ok && present && (type == 0xe || type == 0xf) && !(soft && dpl < cpu_.cpl)) {
      const uint64_t target = (gate[0] & 0xffff) | (((gate[0] >> 48) & 0xffff) << 16) | (gate[1] << 32);
      const uint16_t sel = uint16_t((gate[0] >> 16) & 0xffff);
      const int ist = int((gate[0] >> 32) & 7);
      const int new_cpl = sel & 3;
      AsmVcpu* a = asm_vcpu();
      uint64_t rsp = a->gpr[RSP];
      bool stack_ok = true;
      if (ist) stack_ok = read_tss_rsp(ist, &rsp);
      else if (new_cpl < cpu_.cpl) stack_ok = read_tss_rsp(0, &rsp);
      if (stack_ok) {
        rsp &= ~0xfULL;
        uint64_t frame[6];
        int n = 0;
        if (has_error) frame[n++] = error;
        frame[n++] = cpu_.rip;
        frame[n++] = cpu_.cs.selector;
        frame[n++] = full_rflags() & ~kFlagRF;
        frame[n++] = a->gpr[RSP];
        frame[n++] = cpu_.ss.selector;
        const uint64_t base = rsp - uint64_t(n) * 8;
        if (mem_->write(base, frame, size_t(n) * 8, false, &f)) {
          a->gpr[RSP] = base;
          if (new_cpl != cpu_.cpl) {
            cpu_.ss.selector = uint16_t(new_cpl);
            cpu_.cpl = new_cpl;
            mem_->set_user_mode(new_cpl == 3);
          }
          cpu_.cs.selector = sel;
          cpu_.rip = target;
          set_vflags(vflags() & (~(kFlagTF | kFlagNT | kFlagRF)));
          if (type == 0xe) set_vflags(vflags() & (~kFlagIF));
          resume_tc_ = 0;
          return false;
        }
        if (f.vector == 14) cpu_.cr2 = asm_vcpu()->cr2 = f.addr;
      }
      next_vec = 14;
      next_err = f.error;
    } else if (ok && !present) {
      next_vec = 11;
    }
    // Delivery failed: escalate to #DF, then triple fault. A software
    // interrupt that could not be delivered (a gate it may not use, not
    // present, its frame) is not an exception: the fault it gets is an
    // ordinary one, on its own instruction (`int $14` through a kernel-only
    // gate is #GP(14*8+2), never #DF).
    cpu_.rip -= soft;
    if (vector == 8 || depth == 2) break;
    const bool benign = soft || vector == 1 || vector == 2 || vector == 3 || vector == 4 || vector == 5 ||
                        vector == 6 || vector == 7 || vector >= 32;
    if (benign) {
      vector = next_vec;
      error = next_err;
      has_error = true;
    } else {
      vector = 8;
      error = 0;
      has_error = true;
    }
    soft = 0;
    if (vector < 32) ++st_.reflected[vector];
  }
  snprintf(buf, sizeof buf, "triple fault at rip 0x%llx (delivering %s)", (unsigned long long)cpu_.rip,
           vector_name(vector));
  return fail(ExitKind::Shutdown, buf);
}

Runtime::Step Runtime::do_iret(int opsize) {
  AsmVcpu* a = asm_vcpu();
  const int sz = opsize;
  uint64_t v[5] = {0, 0, 0, 0, 0};
  GuestFaultInfo f;
  // iretq: the five slots in one access (one TLB lookup; a fault names the
  // first byte of the first bad page, as the slot-by-slot reads did).
  const int parts = sz == 8 ? 1 : 5;
  for (int i = 0; i < parts; ++i)
    if (!mem_->read(a->gpr[RSP] + uint64_t(i * sz), &v[i], size_t(sz) * (sz == 8 ? 5 : 1), cpu_.cpl == 3, &f)) {
      raise(f.vector, f.error, true, f.addr);
      return Step::Fault;
    }
  const uint64_t rip = v[0], cs = v[1] & 0xffff, fl = v[2], rsp = v[3], ss = v[4] & 0xffff;
  const int new_cpl = int(cs & 3);
  if (new_cpl < cpu_.cpl || (cs & ~3ULL) == 0 || !canonical(rip)) {
    raise(13, uint32_t(cs & ~3ULL), true);
    return Step::Fault;
  }
  set_full_rflags(sz == 2 ? ((full_rflags() & ~0xffffULL) | fl) : fl, cpu_.cpl == 0);
  cpu_.rip = rip;
  cpu_.cs.selector = uint16_t(cs);
  cpu_.ss.selector = uint16_t(ss);
  a->gpr[RSP] = rsp;
  if (new_cpl != cpu_.cpl) {
    cpu_.cpl = new_cpl;
    mem_->set_user_mode(new_cpl == 3);
  }
  return Step::Jump;
}

Runtime::Step Runtime::do_syscall() {
  if (!(cpu_.efer & 1)) {
    raise(6);
    return Step::Fault;
  }
  AsmVcpu* a = asm_vcpu();
  a->gpr[RCX] = cpu_.rip;  // already the next instruction
  a->gpr[R11] = full_rflags() & ~kFlagRF;
  const uint64_t f = full_rflags() & ~cpu_.sfmask & ~kFlagRF;
  a->rflags = (f & kLiveFlags) | 2;
  set_vflags((f & ~kLiveFlags) | 2);
  cpu_.cs.selector = uint16_t((cpu_.star >> 32) & 0xfffc);
  cpu_.ss.selector = uint16_t(((cpu_.star >> 32) + 8) & 0xfffc);
  cpu_.rip = cpu_.lstar;
  if (cpu_.cpl != 0) {
    cpu_.cpl = 0;
    mem_->set_user_mode(false);
  }
  return Step::Jump;
}

Runtime::Step Runtime::do_sysret(int opsize) {
  AsmVcpu* a = asm_vcpu();
  if (cpu_.cpl != 0 || !(cpu_.efer & 1)) {
    if (cpu_.cpl != 0) raise(13, 0, true); else raise(6);
    return Step::Fault;
  }
  const uint64_t rip = opsize == 8 ? a->gpr[RCX] : (a->gpr[RCX] & 0xffffffffULL);
  if (!canonical(rip)) {
    raise(13, 0, true);
    return Step::Fault;
  }
  const uint64_t base = (cpu_.star >> 48) & 0xffff;
  cpu_.cs.selector = uint16_t(((opsize == 8 ? base + 16 : base) & 0xfffc) | 3);
  cpu_.ss.selector = uint16_t(((base + 8) & 0xfffc) | 3);
  const uint64_t fl = (a->gpr[R11] & ~(kFlagRF | kFlagVM)) | 2;
  a->rflags = (fl & kLiveFlags) | 2;
  set_vflags((fl & ~kLiveFlags) | 2);
  cpu_.rip = rip;
  cpu_.cpl = 3;
  mem_->set_user_mode(true);
  return Step::Jump;
}

}  // namespace vtb::bt

// tags: engines|bt — desc: callouts: privileged and sensitive instructions emulated on the virtual CPU (priv.<insn>).
#include <x86intrin.h>

#include <cstring>

#include "common/clock.h"
#include "common/interrupt_source.h"
#include "common/page_walk.h"
#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

namespace vtb::bt {

namespace {
uint64_t mask_of(int size) { return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1; }

// The arithmetic flags of `cmp y, x` (x - y) at operand size `size`.
uint64_t cmp_flags(uint64_t x, uint64_t y, int size) {
  uint64_t f;
  switch (size) {
    case 1: __asm__("cmpb %b2, %b1\n\tpushfq\n\tpopq %0" : "=r"(f) : "q"(x), "q"(y) : "cc"); break;
    case 2: __asm__("cmpw %w2, %w1\n\tpushfq\n\tpopq %0" : "=r"(f) : "r"(x), "r"(y) : "cc"); break;
    case 4: __asm__("cmpl %k2, %k1\n\tpushfq\n\tpopq %0" : "=r"(f) : "r"(x), "r"(y) : "cc"); break;
    default: __asm__("cmpq %2, %1\n\tpushfq\n\tpopq %0" : "=r"(f) : "r"(x), "r"(y) : "cc"); break;
  }
  return f & 0x8d5;  // OF SF ZF AF PF CF
}
}  // namespace

const char* callout_name(CalloutOp op) {
  static const char* names[] = {"?", "cli", "sti", "pushf", "popf", "hlt", "mov_to_cr", "mov_from_cr", "mov_to_dr",
                                "mov_from_dr", "lgdt", "lidt", "sgdt", "sidt", "lldt", "ltr", "sldt", "str", "smsw",
                                "lmsw", "in", "out", "ins", "outs", "cpuid", "rdtsc", "rdtscp", "rdpid", "rdmsr",
                                "wrmsr", "swapgs", "syscall", "sysret", "iretq", "int", "int3", "invlpg", "wbinvd",
                                "clts", "rdpmc", "mov_to_seg", "mov_from_seg", "push_seg", "pop_seg", "load_far_ptr",
                                "ljmp", "lcall", "lret", "lar", "lsl", "verr", "verw", "rdsegbase", "wrsegbase", "nop",
                                "xsetbv", "monitor", "mwait", "sysenter", "traced_store", "divide_error",
                                "string_seg", "enter", "bit_string"};
  const unsigned i = unsigned(op);
  return i < sizeof names / sizeof names[0] ? names[i] : "?";
}

uint64_t Runtime::full_rflags() const {
  return (asm_vcpu()->rflags & kLiveFlags) | (vflags() & ~kLiveFlags) | 2;
}

void Runtime::set_full_rflags(uint64_t f, bool allow_if_iopl) {
  AsmVcpu* a = asm_vcpu();
  a->rflags = (f & kLiveFlags) | 2;
  const uint64_t iopl = (vflags() >> 12) & 3;
  uint64_t keep = kFlagVM | kFlagRF;
  if (!allow_if_iopl) {
    if (cpu_.cpl > 0) keep |= kFlagIOPL;
    if (uint64_t(cpu_.cpl) > iopl) keep |= kFlagIF;
  }
  const uint64_t settable = kFlagTF | kFlagIF | kFlagIOPL | kFlagNT | kFlagAC | kFlagID | kFlagRF;
  const bool was_if = vflags() & kFlagIF;
  set_vflags((vflags() & keep) | (f & settable & ~keep) | 2);
  if (!was_if && (vflags() & kFlagIF)) cpu_.interrupt_shadow = false;
}

uint64_t Runtime::operand_address(const ExitRecord& r) const {
  const AsmVcpu* a = asm_vcpu();
  uint64_t ea = (r.aux & kOpAbs) ? r.target : a->ea;
  if (r.aux & kOpFsSeg) ea += a->fs_base;
  if (r.aux & kOpGsSeg) ea += a->gs_base;
  return ea;
}

bool Runtime::read_operand_mem(const ExitRecord& r, void* out, size_t n) {
  GuestFaultInfo f;
  if (mem_->read(operand_address(r), out, n, cpu_.cpl == 3, &f)) return true;
  raise(f.vector, f.error, true, f.addr);
  return false;
}

bool Runtime::write_operand_mem(const ExitRecord& r, const void* in, size_t n) {
  GuestFaultInfo f;
  if (mem_->write(operand_address(r), in, n, cpu_.cpl == 3, &f)) return true;
  raise(f.vector, f.error, true, f.addr);
  return false;
}

// 8 or 16 bytes of a GDT/LDT descriptor. False: outside the table (#GP(sel)).
bool Runtime::load_segment_descriptor(uint16_t sel, uint64_t desc[2], bool* present) {
  const bool ldt = sel & 4;
  const uint64_t base = ldt ? cpu_.ldtr.base : cpu_.gdt_base;
  const uint32_t limit = ldt ? cpu_.ldtr.limit : cpu_.gdt_limit;
  const uint64_t off = sel & ~7u;
  if (off + 7 > limit) return false;
  GuestFaultInfo f;
  desc[1] = 0;
  if (!mem_->read(base + off, &desc[0], 8, false, &f)) return false;
  if (!(desc[0] & (1ULL << 44)) && off + 15 <= limit) mem_->read(base + off + 8, &desc[1], 8, false, &f);
  *present = desc[0] & (1ULL << 47);
  return true;
}

// The guest's cpuid answer for (leaf, subleaf); it becomes the one the
// translated code answers inline (AsmVcpu::cpuid_*) until another leaf asks.
void Runtime::guest_cpuid(uint32_t leaf, uint32_t sub, unsigned out[4]) {
  // The host's answer is fetched once per (leaf, subleaf): on a virtualized
  // host cpuid itself traps (~8 us here), and the guest's CPU model must not
  // change between two reads anyway.
  const std::array<uint32_t, 4> h = host_cpuid_.get(leaf, sub);
  unsigned eax = h[0], ebx = h[1], ecx = h[2], edx = h[3];
  if (leaf == 1) {
    ecx &= ~(1u << 5);   // no VMX
    ecx &= ~(1u << 27);  // OSXSAVE reflects the host's CR4, not ours
    ecx |= 1u << 31;     // hypervisor present
    ebx &= 0x00ffffffu;  // initial APIC id 0
  }
  out[0] = eax;
  out[1] = ebx;
  out[2] = ecx;
  out[3] = edx;
  AsmVcpu* a = asm_vcpu();
  cpuid_key_ = (uint64_t(sub) << 32) | leaf;
  a->cpuid_negkey = uint64_t(0) - cpuid_key_;
  memcpy(a->cpuid_regs, out, sizeof a->cpuid_regs);
}

Runtime::Step Runtime::port_io(const ExitRecord& r, Exit* out) {
  AsmVcpu* a = asm_vcpu();
  if (io_served_) {  // the light callout served it (io_light); the dispatcher reads the clock and the lines
    io_served_ = false;
    clock_due_ = true;
    cpu_.rip = r.guest_pc + r.len;
    return Step::Resume;
  }
  const uint64_t iopl = (vflags() >> 12) & 3;
  if (uint64_t(cpu_.cpl) > iopl) {
    raise(13, 0, true);
    return Step::Fault;
  }
  const int size = r.a;
  const uint16_t port = (r.aux & kOpPortDx) ? uint16_t(a->gpr[RDX]) : uint16_t(r.target);
  *out = Exit{};
  out->kind = ExitKind::PortIo;
  out->port = port;
  out->size = uint8_t(size);
  out->data = io_buf_;
  out->count = 1;
  const uint64_t next = r.guest_pc + r.len;
  switch (r.op) {
    case CalloutOp::In:
      out->is_write = false;
      memset(io_buf_, 0xff, size_t(size));
      pending_in_ = {true, size, 1, false, false};
      cpu_.rip = next;
      return serve_port_io(out);
    case CalloutOp::Out: {
      out->is_write = true;
      const uint64_t v = a->gpr[RAX];
      memcpy(io_buf_, &v, size_t(size));
      cpu_.rip = next;
      return serve_port_io(out);
    }
    case CalloutOp::Ins:
    case CalloutOp::Outs: {
      const bool rep = r.aux & kOpRep;
      uint64_t want = rep ? a->gpr[RCX] : 1;
      if (want == 0) {
        cpu_.rip = next;
        return Step::Resume;
      }
      const uint64_t cap = sizeof io_buf_ / size_t(size);
      const uint32_t count = uint32_t(want < cap ? want : cap);
      const size_t n = size_t(count) * size_t(size);
      const bool df = a->rflags & kFlagDF;
      out->count = count;
      if (r.op == CalloutOp::Outs) {
        out->is_write = true;
        uint64_t src = a->gpr[RSI];
        if (r.b == 'f') src += a->fs_base;
        if (r.b == 'g') src += a->gs_base;
        GuestFaultInfo f;
        // With DF the elements are read downwards; keep them in port order.
        for (uint32_t i = 0; i < count; ++i) {
          const uint64_t at = df ? src - uint64_t(i) * size_t(size) : src + uint64_t(i) * size_t(size);
          if (!mem_->read(at, io_buf_ + size_t(i) * size_t(size), size_t(size), cpu_.cpl == 3, &f)) {
            raise(f.vector, f.error, true, f.addr);
            return Step::Fault;
          }
        }
        a->gpr[RSI] = df ? a->gpr[RSI] - n : a->gpr[RSI] + n;
        if (rep) a->gpr[RCX] -= count;
        cpu_.rip = (rep && a->gpr[RCX] != 0) ? r.guest_pc : next;
      } else {
        out->is_write = false;
        memset(io_buf_, 0xff, n);
        pending_in_ = {true, size, count, true, rep};
        cpu_.rip = (rep && a->gpr[RCX] > count) ? r.guest_pc : next;
      }
      return serve_port_io(out);
    }
    default:
      return Step::Error;
  }
}

Runtime::Step Runtime::callout(const ExitRecord& r, Exit* out) {
  AsmVcpu* a = asm_vcpu();
  const uint64_t next = r.guest_pc + r.len;
  if (r.op != CalloutOp::TracedStore) ++st_.priv[uint8_t(r.op) < uint8_t(CalloutOp::Count) ? uint8_t(r.op) : 0];
  auto gp = [&](uint32_t err = 0) {
    raise(13, err, true);
    return Step::Fault;
  };
  auto ud = [&]() {
    raise(6);
    return Step::Fault;
  };
  auto done = [&]() {
    cpu_.rip = next;
    return Step::Resume;
  };
  const bool kernel = cpu_.cpl == 0;
  auto push = [&](uint64_t v, int size) {
    GuestFaultInfo f;
    const uint64_t sp = a->gpr[RSP] - uint64_t(size);
    if (!mem_->write(sp, &v, size_t(size), cpu_.cpl == 3, &f)) {
      raise(f.vector, f.error, true, f.addr);
      return false;
    }
    a->gpr[RSP] = sp;
    return true;
  };
  auto pop = [&](uint64_t* v, int size, uint64_t off = 0) {
    GuestFaultInfo f;
    *v = 0;
    if (!mem_->read(a->gpr[RSP] + off, v, size_t(size), cpu_.cpl == 3, &f)) {
      raise(f.vector, f.error, true, f.addr);
      return false;
    }
    return true;
  };
  // r/m operand helpers: a == 0xff means memory.
  auto read_rm = [&](uint64_t* v, int size) {
    if (r.a != 0xff) {
      *v = a->gpr[r.a] & mask_of(size);
      return true;
    }
    *v = 0;
    return read_operand_mem(r, v, size_t(size));
  };
  auto write_rm = [&](uint64_t v, int size) {
    if (r.a != 0xff) {
      uint64_t& g = a->gpr[r.a];
      if (size >= 4) g = v & mask_of(size);
      else g = (g & ~mask_of(size)) | (v & mask_of(size));
      return true;
    }
    return write_operand_mem(r, &v, size_t(size));
  };
  auto set_zf = [&](bool z) { a->rflags = z ? (a->rflags | 0x40) : (a->rflags & ~0x40ULL); };

  switch (r.op) {
    case CalloutOp::Cli:
      if (uint64_t(cpu_.cpl) > ((vflags() >> 12) & 3)) return gp();
      set_vflags(vflags() & (~kFlagIF));
      return done();
    case CalloutOp::Sti:
      if (uint64_t(cpu_.cpl) > ((vflags() >> 12) & 3)) return gp();
      if (!(vflags() & kFlagIF)) cpu_.interrupt_shadow = true;
      set_vflags(vflags() | (kFlagIF));
      return done();
    case CalloutOp::Pushf:
      if (!push(full_rflags() & ~(kFlagRF | kFlagVM) & mask_of(r.a), r.a)) return Step::Fault;
      return done();
    case CalloutOp::Popf: {
      uint64_t v;
      if (!pop(&v, r.a)) return Step::Fault;
      a->gpr[RSP] += uint64_t(r.a);
      if (r.a == 2) v = (full_rflags() & ~0xffffULL) | v;
      set_full_rflags(v, false);
      return done();
    }
    case CalloutOp::Hlt:
      if (!kernel) return gp();
      cpu_.rip = next;
      if (vflags() & kFlagIF) {
        if (irq_) {
          irq_->update(monotonic_ns());
          if (irq_->pending()) return Step::Resume;
        }
        *out = Exit{};
        out->kind = ExitKind::Halt;
        return Step::ExitVm;
      }
      *out = Exit{};
      out->kind = ExitKind::Shutdown;
      out->message = "guest executed hlt with interrupts disabled (it would hang forever)";
      return Step::ExitVm;
    case CalloutOp::MovToCr: {
      if (!kernel) return gp();
      const uint64_t v = a->gpr[r.b];
      ++st_.cr_write[r.a & 15];
      switch (r.a) {
        case 0:
          cpu_.cr0 = v | 0x80000001ULL;  // long mode: PG and PE stay on
          tlb_flush();  // bt-softmmu: WP may have changed what the entries grant
          break;
        case 2: cpu_.cr2 = asm_vcpu()->cr2 = v; break;
        case 3:
          cpu_.cr3 = v;
          mem_->set_cr3(v);
          on_cr3_change();
          break;
        case 4:
          cpu_.cr4 = v;
          tlb_flush();
          sync_inline_state();  // CR4.TSD: whether user rdtsc may run inline
          break;
        case 8: cpu_.cr8 = v & 15; break;
        default: return ud();
      }
      return done();
    }
    case CalloutOp::MovFromCr: {
      if (!kernel) return gp();
      ++st_.cr_read[r.a & 15];
      uint64_t v;
      switch (r.a) {
        case 0: v = cpu_.cr0; break;
        case 2: v = cpu_.cr2; break;
        case 3: v = cpu_.cr3; break;
        case 4: v = cpu_.cr4; break;
        case 8: v = cpu_.cr8; break;
        default: return ud();
      }
      a->gpr[r.b] = v;
      return done();
    }
    case CalloutOp::MovToDr:
      if (!kernel) return gp();
      if (r.a > 7) return ud();
      cpu_.dr[r.a] = a->gpr[r.b];
      return done();
    case CalloutOp::MovFromDr:
      if (!kernel) return gp();
      if (r.a > 7) return ud();
      a->gpr[r.b] = cpu_.dr[r.a];
      return done();
    case CalloutOp::Lgdt:
    case CalloutOp::Lidt: {
      if (!kernel) return gp();
      uint8_t buf[10];
      if (!read_operand_mem(r, buf, 10)) return Step::Fault;
      uint16_t lim;
      uint64_t base;
      memcpy(&lim, buf, 2);
      memcpy(&base, buf + 2, 8);
      if (r.op == CalloutOp::Lgdt) { cpu_.gdt_base = base; cpu_.gdt_limit = lim; }
      else { cpu_.idt_base = base; cpu_.idt_limit = lim; }
      return done();
    }
    case CalloutOp::Sgdt:
    case CalloutOp::Sidt: {
      uint8_t buf[10];
      const uint16_t lim = r.op == CalloutOp::Sgdt ? cpu_.gdt_limit : cpu_.idt_limit;
      const uint64_t base = r.op == CalloutOp::Sgdt ? cpu_.gdt_base : cpu_.idt_base;
      memcpy(buf, &lim, 2);
      memcpy(buf + 2, &base, 8);
      if (!write_operand_mem(r, buf, 10)) return Step::Fault;
      return done();
    }
    case CalloutOp::Lldt:
    case CalloutOp::Ltr: {
      if (!kernel) return gp();
      uint64_t sel;
      if (!read_rm(&sel, 2)) return Step::Fault;
      Segment& s = r.op == CalloutOp::Ltr ? cpu_.tr : cpu_.ldtr;
      if ((sel & ~3ULL) == 0) {
        if (r.op == CalloutOp::Ltr) return gp();
        s = Segment{};
        return done();
      }
      uint64_t d[2];
      bool present;
      if ((sel & 4) || !load_segment_descriptor(uint16_t(sel), d, &present)) return gp(uint32_t(sel & ~3ULL));
      if (!present) {
        raise(11, uint32_t(sel & ~3ULL), true);
        return Step::Fault;
      }
      s.selector = uint16_t(sel);
      s.base = ((d[0] >> 16) & 0xffffff) | (((d[0] >> 56) & 0xff) << 24) | ((d[1] & 0xffffffffULL) << 32);
      s.limit = uint32_t((d[0] & 0xffff) | (((d[0] >> 48) & 0xf) << 16));
      s.attrib = uint16_t((d[0] >> 40) & 0xf0ff);
      if (r.op == CalloutOp::Ltr) {  // mark the TSS busy in the GDT
        uint64_t nd = d[0] | (1ULL << 41);
        GuestFaultInfo f;
        mem_->write(cpu_.gdt_base + (sel & ~7ULL), &nd, 8, false, &f);
        s.attrib |= 2;
      }
      return done();
    }
    case CalloutOp::Sldt:
      if (!write_rm(cpu_.ldtr.selector, r.b)) return Step::Fault;
      return done();
    case CalloutOp::Str:
      if (!write_rm(cpu_.tr.selector, r.b)) return Step::Fault;
      return done();
    case CalloutOp::Smsw:
      if (!write_rm(cpu_.cr0, r.b)) return Step::Fault;
      return done();
    case CalloutOp::Lmsw: {
      if (!kernel) return gp();
      uint64_t v;
      if (!read_rm(&v, 2)) return Step::Fault;
      cpu_.cr0 = (cpu_.cr0 & ~0xeULL) | (v & 0xe) | 1;
      return done();
    }
    case CalloutOp::In:
    case CalloutOp::Out:
    case CalloutOp::Ins:
    case CalloutOp::Outs:
      return port_io(r, out);
    case CalloutOp::Cpuid: {
      unsigned v[4];
      guest_cpuid(uint32_t(a->gpr[RAX]), uint32_t(a->gpr[RCX]), v);
      a->gpr[RAX] = v[0];
      a->gpr[RBX] = v[1];
      a->gpr[RCX] = v[2];
      a->gpr[RDX] = v[3];
      return done();
    }
    case CalloutOp::Rdtsc:
    case CalloutOp::Rdtscp: {
      if (!kernel && (cpu_.cr4 & 4)) return gp();
      const uint64_t t = __rdtsc() + uint64_t(cpu_.tsc_offset);
      a->gpr[RAX] = t & 0xffffffffULL;
      a->gpr[RDX] = t >> 32;
      if (r.op == CalloutOp::Rdtscp) a->gpr[RCX] = cpu_.tsc_aux & 0xffffffffULL;
      return done();
    }
    case CalloutOp::Rdpid:
      a->gpr[r.a] = cpu_.tsc_aux;
      return done();
    case CalloutOp::Rdmsr:
    case CalloutOp::Wrmsr: {
      if (!kernel) return gp();
      const uint32_t msr = uint32_t(a->gpr[RCX]);
      const bool wr = r.op == CalloutOp::Wrmsr;
      const uint64_t v = (a->gpr[RDX] << 32) | (a->gpr[RAX] & 0xffffffffULL);
      uint64_t* slot = nullptr;
      uint64_t tsc_now = 0;
      switch (msr) {
        case kMsrEfer: slot = &cpu_.efer; break;
        case kMsrStar: slot = &cpu_.star; break;
        case kMsrLstar: slot = &cpu_.lstar; break;
        case kMsrCstar: slot = &cpu_.cstar; break;
        case kMsrSfmask: slot = &cpu_.sfmask; break;
        case kMsrFsBase: slot = &a->fs_base; break;
        case kMsrGsBase: slot = &a->gs_base; break;
        case kMsrKernelGsBase: slot = &a->kernel_gs_base; break;
        case kMsrTscAux: slot = &cpu_.tsc_aux; break;
        case kMsrApicBase: slot = &cpu_.apic_base; break;
        case kMsrPat: slot = &cpu_.pat; break;
        case kMsrTsc:
          if (wr) {
            cpu_.tsc_offset = int64_t(v - __rdtsc());
            sync_inline_state();
          }
          tsc_now = __rdtsc() + uint64_t(cpu_.tsc_offset);
          slot = &tsc_now;
          break;
        case kMsrMiscEnable:
          tsc_now = 1;
          slot = &tsc_now;
          break;
        default:
          return gp();
      }
      const bool base_msr = msr == kMsrFsBase || msr == kMsrGsBase || msr == kMsrKernelGsBase;
      if (wr && base_msr && canonical_address(v) != v) return gp();  // as the hardware (bt-direct loads them with wrfsbase)
      if (wr) {
        if (msr == kMsrEfer) *slot = (v & 0xd01) | 0x500;  // LME/LMA stay on
        else *slot = v;
        sync_inline_state();  // EFER.SCE, SFMASK, LSTAR: inline syscall/sysret
        if (msr == kMsrFsBase) cpu_.fs.base = v;
        if (msr == kMsrGsBase) cpu_.gs.base = v;
      } else {
        a->gpr[RAX] = *slot & 0xffffffffULL;
        a->gpr[RDX] = *slot >> 32;
      }
      return done();
    }
    case CalloutOp::Swapgs: {
      if (!kernel) return ud();
      const uint64_t t = a->gs_base;
      a->gs_base = a->kernel_gs_base;
      a->kernel_gs_base = t;
      cpu_.gs.base = a->gs_base;
      return done();
    }
    case CalloutOp::Syscall:
      cpu_.rip = next;
      return do_syscall();
    case CalloutOp::Sysret:
      return do_sysret(r.a);
    case CalloutOp::Iret:
      return do_iret(r.a);
    case CalloutOp::Int:
      if (r.b == 1) {  // software int n: trap, return address after the instruction
        cpu_.rip = next;
        raise(r.a, 0, false, 0, r.len);
      } else if (r.b == 2) {  // int1 (icebp): a #DB trap after the instruction, no gate DPL check
        cpu_.rip = next;
        raise(r.a);
      } else {
        raise(r.a, 0, r.a == 13);
      }
      return Step::Fault;
    case CalloutOp::Int3:
      cpu_.rip = next;
      raise(3, 0, false, 0, r.len);
      return Step::Fault;
    case CalloutOp::Invlpg:
      if (!kernel) return gp();
      mem_->invlpg(operand_address(r));
      code_page_check(operand_address(r));  // a code page remapped in this space (code_reuse.cpp)
      return done();
    case CalloutOp::Invd:
    case CalloutOp::Xsetbv:
      if (!kernel) return gp();
      return done();
    case CalloutOp::Clts:
      if (!kernel) return gp();
      cpu_.cr0 &= ~8ULL;
      return done();
    case CalloutOp::Rdpmc:
      return gp();
    case CalloutOp::Nop:
    case CalloutOp::Monitor:
    case CalloutOp::Mwait:
      return done();
    case CalloutOp::Sysenter:
      return ud();
    case CalloutOp::MovFromSeg: {
      const Segment* segs[] = {&cpu_.es, &cpu_.cs, &cpu_.ss, &cpu_.ds, &cpu_.fs, &cpu_.gs};
      if (r.b > 5) return ud();
      if (!write_rm(segs[r.b]->selector, r.c)) return Step::Fault;
      return done();
    }
    case CalloutOp::MovToSeg:
    case CalloutOp::PopSeg:
    case CalloutOp::LoadFarPtr: {
      const int seg = r.op == CalloutOp::PopSeg ? r.a : r.b;
      uint64_t sel = 0, off = 0;
      if (r.op == CalloutOp::MovToSeg) {
        if (!read_rm(&sel, 2)) return Step::Fault;
      } else if (r.op == CalloutOp::PopSeg) {
        if (!pop(&sel, 8)) return Step::Fault;
        sel &= 0xffff;
      } else {
        const int osz = r.c & 15;
        if (!read_operand_mem(r, &off, size_t(osz))) return Step::Fault;
        ExitRecord r2 = r;
        r2.target += uint64_t(osz);
        if (r.aux & kOpAbs) r2.target = r.target + uint64_t(osz);
        else asm_vcpu()->ea += uint64_t(osz);
        const bool ok = read_operand_mem(r2, &sel, 2);
        if (!(r.aux & kOpAbs)) asm_vcpu()->ea -= uint64_t(osz);
        if (!ok) return Step::Fault;
      }
      if (seg == 1 || seg > 5) return ud();
      Segment* segs[] = {&cpu_.es, &cpu_.cs, &cpu_.ss, &cpu_.ds, &cpu_.fs, &cpu_.gs};
      Segment& s = *segs[seg];
      uint64_t base = 0;
      if ((sel & ~3ULL) != 0) {
        uint64_t d[2];
        bool present;
        if (!load_segment_descriptor(uint16_t(sel), d, &present)) return gp(uint32_t(sel & ~3ULL));
        if (!present) {
          raise(seg == 2 ? 12 : 11, uint32_t(sel & ~3ULL), true);
          return Step::Fault;
        }
        base = ((d[0] >> 16) & 0xffffff) | (((d[0] >> 56) & 0xff) << 24);
        s.attrib = uint16_t((d[0] >> 40) & 0xf0ff);
      } else if (seg == 2 && cpu_.cpl == 3) {
        return gp();
      }
      s.selector = uint16_t(sel);
      if (seg == 4) { s.base = base; a->fs_base = base; }
      if (seg == 5) { s.base = base; a->gs_base = base; }
      if (r.op == CalloutOp::PopSeg) a->gpr[RSP] += 8;
      if (r.op == CalloutOp::LoadFarPtr) {
        uint64_t& g = a->gpr[r.c >> 4];
        const int osz = r.c & 15;
        if (osz == 2) g = (g & ~0xffffULL) | (off & 0xffff);
        else g = off & mask_of(osz);
      }
      if (r.op == CalloutOp::MovToSeg && seg == 2) cpu_.interrupt_shadow = true;
      return done();
    }
    case CalloutOp::PushSeg: {
      const Segment& s = r.a == 4 ? cpu_.fs : cpu_.gs;
      if (!push(s.selector, 8)) return Step::Fault;
      return done();
    }
    case CalloutOp::FarRet: {
      const int sz = r.a;
      uint64_t rip, cs;
      if (!pop(&rip, sz) || !pop(&cs, sz, uint64_t(sz))) return Step::Fault;
      cs &= 0xffff;
      const int new_cpl = int(cs & 3);
      if (new_cpl < cpu_.cpl || (cs & ~3ULL) == 0) return gp(uint32_t(cs & ~3ULL));
      uint64_t sp = a->gpr[RSP] + 2 * uint64_t(sz) + r.target;
      if (new_cpl > cpu_.cpl) {
        uint64_t nsp, ss;
        a->gpr[RSP] = sp;
        if (!pop(&nsp, sz) || !pop(&ss, sz, uint64_t(sz))) return Step::Fault;
        cpu_.ss.selector = uint16_t(ss);
        sp = nsp;
        cpu_.cpl = new_cpl;
        mem_->set_user_mode(new_cpl == 3);
      }
      a->gpr[RSP] = sp;
      cpu_.cs.selector = uint16_t(cs);
      cpu_.rip = rip;
      return Step::Jump;
    }
    case CalloutOp::FarJmp:
    case CalloutOp::FarCall: {
      const int osz = r.b == 2 ? 2 : r.b == 8 ? 8 : 4;
      uint64_t off = 0, sel = 0;
      if (!read_operand_mem(r, &off, size_t(osz))) return Step::Fault;
      ExitRecord r2 = r;
      if (r.aux & kOpAbs) r2.target = r.target + uint64_t(osz);
      else asm_vcpu()->ea += uint64_t(osz);
      const bool ok = read_operand_mem(r2, &sel, 2);
      if (!(r.aux & kOpAbs)) asm_vcpu()->ea -= uint64_t(osz);
      if (!ok) return Step::Fault;
      if ((sel & ~3ULL) == 0) return gp();
      if (r.op == CalloutOp::FarCall) {
        if (!push(cpu_.cs.selector, osz) || !push(next, osz)) return Step::Fault;
      }
      cpu_.cs.selector = uint16_t((sel & ~3ULL) | uint64_t(cpu_.cpl));
      cpu_.rip = off;
      return Step::Jump;
    }
    case CalloutOp::Lar:
    case CalloutOp::Lsl:
    case CalloutOp::Verr:
    case CalloutOp::Verw: {
      uint64_t sel;
      if (!read_rm(&sel, 2)) return Step::Fault;
      sel &= 0xffff;
      uint64_t d[2];
      bool present = false;
      bool ok = (sel & ~3ULL) != 0 && load_segment_descriptor(uint16_t(sel), d, &present);
      if (ok) {
        const int dpl = int((d[0] >> 45) & 3);
        const bool code = (d[0] >> 43) & 1, s = (d[0] >> 44) & 1;
        const bool conforming = code && ((d[0] >> 42) & 1);
        const int rpl = int(sel & 3);
        if (s && !conforming && (dpl < cpu_.cpl || dpl < rpl)) ok = false;
        if (!s) {
          const int type = int((d[0] >> 40) & 0xf);
          if (r.op == CalloutOp::Verr || r.op == CalloutOp::Verw) ok = false;
          else if (!(type == 2 || type == 9 || type == 11 || (r.op == CalloutOp::Lar && type == 12))) ok = false;
          if (dpl < cpu_.cpl || dpl < rpl) ok = false;
        }
        if (r.op == CalloutOp::Verr && ok) ok = !code || ((d[0] >> 41) & 1);
        if (r.op == CalloutOp::Verw && ok) ok = !code && ((d[0] >> 41) & 1);
      }
      set_zf(ok);
      if (ok && (r.op == CalloutOp::Lar || r.op == CalloutOp::Lsl)) {
        uint64_t v;
        if (r.op == CalloutOp::Lar) {
          v = (d[0] >> 32) & 0x00f0ff00ULL;
        } else {
          v = (d[0] & 0xffff) | (((d[0] >> 48) & 0xf) << 16);
          if ((d[0] >> 55) & 1) v = (v << 12) | 0xfff;
        }
        uint64_t& g = a->gpr[r.c];
        if (r.b == 2) g = (g & ~0xffffULL) | (v & 0xffff);
        else g = v & 0xffffffffULL;
      }
      return done();
    }
    case CalloutOp::RdSegBase:
    case CalloutOp::WrSegBase: {
      if (!(cpu_.cr4 & (1ULL << 16))) return ud();
      uint64_t& base = r.b == 4 ? a->fs_base : a->gs_base;
      if (r.op == CalloutOp::RdSegBase) {
        a->gpr[r.a] = r.c == 8 ? base : (base & 0xffffffffULL);
      } else {
        const uint64_t v = r.c == 8 ? a->gpr[r.a] : (a->gpr[r.a] & 0xffffffffULL);
        if (canonical_address(v) != v) return gp();
        base = v;
      }
      (r.b == 4 ? cpu_.fs : cpu_.gs).base = base;
      return done();
    }
    case CalloutOp::Enter: {  // bt-softmmu: enter imm16 (target), imm8 (aux), 64-bit operands
      const uint64_t rsp0 = a->gpr[RSP], rbp0 = a->gpr[RBP];
      const int level = int(r.aux & 31);
      auto undo = [&]() {  // a fault leaves rsp/rbp as they were
        a->gpr[RSP] = rsp0;
        return Step::Fault;
      };
      if (!push(rbp0, 8)) return undo();
      const uint64_t frame = a->gpr[RSP];
      uint64_t bp = rbp0;
      for (int i = 1; i < level; ++i) {
        bp -= 8;
        uint64_t v = 0;
        GuestFaultInfo f;
        if (!mem_->read(bp, &v, 8, cpu_.cpl == 3, &f)) {
          raise(f.vector, f.error, true, f.addr);
          return undo();
        }
        if (!push(v, 8)) return undo();
      }
      if (level > 0 && !push(frame, 8)) return undo();
      a->gpr[RBP] = frame;
      a->gpr[RSP] -= r.target & 0xffff;
      return done();
    }
    case CalloutOp::BitString: {
      // bt/bts/btr/btc with a register bit offset on memory (c = 0xa3/ab/b3/bb,
      // a = the offset register, b = operand size): the signed offset selects
      // a word anywhere around the operand, which neither the address checks
      // nor the TLB probe could cover, so it is done here through the walk.
      const int size = r.b, bits = 8 * size;
      int64_t off = int64_t(a->gpr[r.a]);
      if (size == 4) off = int32_t(off);
      if (size == 2) off = int16_t(off);
      const int64_t word = off >= 0 ? off / bits : -((-(off + 1)) / bits) - 1;  // floor division
      const uint64_t at = operand_address(r) + uint64_t(word * size);
      const int bit = int(off - word * bits);
      uint64_t v = 0;
      GuestFaultInfo f;
      if (!mem_->read(at, &v, size_t(size), cpu_.cpl == 3, &f)) {
        raise(f.vector, f.error, true, f.addr);
        return Step::Fault;
      }
      const bool cf = (v >> bit) & 1;
      if (r.c != 0xa3) {
        const uint64_t m = uint64_t(1) << bit;
        v = r.c == 0xab ? (v | m) : r.c == 0xb3 ? (v & ~m) : (v ^ m);
        if (!mem_->write(at, &v, size_t(size), cpu_.cpl == 3, &f)) {
          raise(f.vector, f.error, true, f.addr);
          return Step::Fault;
        }
      }
      a->rflags = (a->rflags & ~uint64_t(1)) | (cf ? 1 : 0);
      return done();
    }
    case CalloutOp::DivideError:  // div/idiv by zero found by the translated pre-check
      raise(0);
      return Step::Fault;
    case CalloutOp::StringSeg: {
      // movs/cmps/lods whose source has an %fs:/%gs: override (a = opcode,
      // b = 'f'/'g', c = size): emulated element by element through the
      // guest's tables, so a fault leaves the registers of the elements
      // done; a rep form does at most 4096 per visit and comes back.
      // bt-softmmu: every string instruction comes here (b = 0: no override;
      // stos/scas too, which read no source).
      const bool rep = r.aux & (kOpRep | kOpRepne);
      const int size = r.c;
      const int64_t step = (a->rflags & kFlagDF) ? -int64_t(size) : int64_t(size);
      const uint64_t base = r.b == 'f' ? a->fs_base : r.b == 'g' ? a->gs_base : 0;
      const bool user = cpu_.cpl == 3;
      const bool stos = r.a == 0xaa || r.a == 0xab, scas = r.a == 0xae || r.a == 0xaf;
      // the address checks of translated code, then the guest's tables
      auto outside = [&](uint64_t va, bool w) {
        if (opt_.softmmu || guest_may_address(va, user)) return false;
        raise_outside_access(va, w, user);
        return true;
      };
      // bt-softmmu: rep movs/stos forwards a page-bounded run at a time (one
      // walk per page instead of per element); the element loop below takes
      // what remains (page-crossing elements, backwards, cmps/scas/lods).
      if (opt_.softmmu && rep && !(a->rflags & kFlagDF) && (stos || scas || r.a == 0xa4 || r.a == 0xa5)) {
        uint64_t last = 0;
        bool compared = false;
        const bool ok = (r.a > 0xa5 || is_canonical(base + a->gpr[RSI])) && is_canonical(a->gpr[RDI]) ?
                            soft_string_run(r.a, base, size, user, r.aux & kOpRepne, &last, &compared) : true;
        if (compared) a->rflags = (a->rflags & ~uint64_t(0x8d5)) | cmp_flags(a->gpr[RAX] & mask_of(size), last, size);
        if (!ok) return Step::Fault;
        if (scas && compared && (((r.aux & kOpRepne) != 0) == ((a->rflags & 0x40) != 0))) return done();
      }
      for (int k = 0; k < 4096; ++k) {
        if (rep && a->gpr[RCX] == 0) return done();
        GuestFaultInfo f;
        uint64_t x = 0, y = 0;
        // A non-canonical operand is #GP before either operand's #PF (as the hardware orders them).
        if ((!stos && !scas && !is_canonical(base + a->gpr[RSI])) ||
            ((stos || scas || r.a <= 0xa7) && !is_canonical(a->gpr[RDI])))
          return gp();
        if (stos || scas) {
          x = a->gpr[RAX] & mask_of(size);
          if (stos && !mem_->write(a->gpr[RDI], &x, size_t(size), user, &f)) {
            raise(f.vector, f.error, true, f.addr);
            return Step::Fault;
          }
          if (scas) {
            if (!mem_->read(a->gpr[RDI], &y, size_t(size), user, &f)) {
              raise(f.vector, f.error, true, f.addr);
              return Step::Fault;
            }
            a->rflags = (a->rflags & ~uint64_t(0x8d5)) | cmp_flags(x, y, size);
          }
          a->gpr[RDI] += uint64_t(step);
          if (!rep) return done();
          a->gpr[RCX] -= 1;
          const bool zf = a->rflags & 0x40;
          if (scas && ((r.aux & kOpRepne) ? zf : !zf)) return done();
          continue;
        }
        const bool to_mem = r.a <= 0xa7;
        if (outside(base + a->gpr[RSI], false) || (to_mem && outside(a->gpr[RDI], r.a <= 0xa5))) return Step::Fault;
        if (!mem_->read(base + a->gpr[RSI], &x, size_t(size), user, &f)) {
          raise(f.vector, f.error, true, f.addr);
          return Step::Fault;
        }
        if (r.a == 0xa4 || r.a == 0xa5) {  // movs
          if (!mem_->write(a->gpr[RDI], &x, size_t(size), user, &f)) {
            raise(f.vector, f.error, true, f.addr);
            return Step::Fault;
          }
          a->gpr[RDI] += uint64_t(step);
        } else if (r.a == 0xa6 || r.a == 0xa7) {  // cmps
          if (!mem_->read(a->gpr[RDI], &y, size_t(size), user, &f)) {
            raise(f.vector, f.error, true, f.addr);
            return Step::Fault;
          }
          a->rflags = (a->rflags & ~uint64_t(0x8d5)) | cmp_flags(x, y, size);
          a->gpr[RDI] += uint64_t(step);
        } else {  // lods: 8/16-bit merge, 32-bit zero-extends
          a->gpr[RAX] = size >= 4 ? x : (a->gpr[RAX] & ~mask_of(size)) | x;
        }
        a->gpr[RSI] += uint64_t(step);
        if (!rep) return done();
        a->gpr[RCX] -= 1;
        const bool zf = a->rflags & 0x40;
        if ((r.a == 0xa6 || r.a == 0xa7) && ((r.aux & kOpRepne) ? zf : !zf)) return done();
      }
      cpu_.rip = r.guest_pc;  // more to do: the dispatcher (and its timer checks) in between
      return Step::Resume;
    }
    case CalloutOp::TracedStore: {
      // Adaptive translation of a store that kept hitting a traced page table:
      // the write is done here and the mirror updated, with no host fault.
      uint64_t v = r.a == 0xff ? r.target : a->gpr[r.a];
      if (r.c) v >>= 8;  // ah/ch/dh/bh
      const uint64_t va = operand_address(r);
      GuestFaultInfo f;
      if (!mem_->write(va, &v, r.b, cpu_.cpl == 3, &f)) {
        raise(f.vector, f.error, true, f.addr);
        return Step::Fault;
      }
      ++st_.pte_callout;
      // Re-adapt: a store that no longer hits page tables goes back to native code.
      if (mem_->traced(va)) {
        traced_useless_[r.guest_pc] = 0;
      } else if (++traced_useless_[r.guest_pc] > 64) {
        // A general-purpose store (memcpy/memset): back to native code for good;
        // a page table it hits later is untraced instead (see emulate_traced_store).
        traced_useless_.erase(r.guest_pc);
        no_adapt_.insert(r.guest_pc);
        traced_pcs_.erase(r.guest_pc);
        traced_traps_.erase(r.guest_pc);
        invalidate_range(r.guest_pc, r.len);
      }
      return done();
    }
    case CalloutOp::Count:
      break;
  }
  error_ = std::string("bt: callout not implemented: ") + callout_name(r.op);
  return Step::Error;
}

}  // namespace vtb::bt

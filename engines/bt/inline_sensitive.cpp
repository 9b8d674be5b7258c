// tags: engines|bt — desc: sensitive instructions done inline on the vCPU block (pushf/popf, rdtsc, cpuid, swapgs) and the runtime fields they read.
//
// Each sequence keeps the guest's registers and flags exactly as the callout
// would leave them, takes the callout itself whenever the vCPU block's state
// does not suffice (a popf that changes TF/IOPL/NT/AC/ID, enables IF with an
// interrupt possibly deliverable, CR4.TSD for user rdtsc, a cpuid leaf other
// than the cached one) and counts its execution in AsmVcpu::inline_count.
#include <cstring>

#include "engines/bt/runtime.h"
#include "engines/bt/translator_ctx.h"

namespace vtb::bt {

namespace {

constexpr uint64_t abs_of(uint64_t off) { return kGlobalBase + off; }
constexpr uint64_t count_slot(InlineOp op) { return abs_of(BT_OFF_INLINE_COUNT) + 8 * uint64_t(op); }

// lea 1(%reg),%reg for rax/rcx/rdx (no flags)
void lea_inc(Emitter& e, int reg) {
  e.b(0x48); e.b(0x8d); e.b(uint8_t(0x40 | (reg << 3) | reg)); e.b(0x01);
}
// lea (%dst,%src),%dst for rax/rcx/rdx (no flags)
void lea_add(Emitter& e, int dst, int src) {
  e.b(0x48); e.b(0x8d); e.b(uint8_t((dst << 3) | 4)); e.b(uint8_t((src << 3) | dst));
}
// movq $imm32, abs
void movq_imm_abs(Emitter& e, uint64_t abs, uint32_t imm) {
  e.b(0x48); e.b(0xc7); e.b(0x04); e.b(0x25); e.d32(uint32_t(abs)); e.d32(imm);
}
// mov (%rsp),%rax / mov %rax,(%rsp)
void load_rax_rsp(Emitter& e) { e.b(0x48); e.b(0x8b); e.b(0x04); e.b(0x24); }
void store_rax_rsp(Emitter& e) { e.b(0x48); e.b(0x89); e.b(0x04); e.b(0x24); }
// jmp rel32 forward; returns its field
size_t jmp_fwd(Emitter& e) {
  e.b(0xe9);
  const size_t at = e.size();
  e.d32(0);
  return at;
}

// The live flags (CF PF AF ZF SF OF DF) from the image in %rax; clobbers
// %rax (ah), %rcx and every flag first (the image defines them all):
//   bt $10,%rax; jnc 1f; std; jmp 2f; 1: cld; 2:
//   mov %rax,%rcx; shr $11,%rcx; and $1,%cl; add $0x7f,%cl   (OF)
//   mov %al,%ah; sahf                                         (SF ZF AF PF CF)
void load_live_flags(Emitter& e) {
  e.b(0x48); e.b(0x0f); e.b(0xba); e.b(0xe0); e.b(10);
  e.b(0x73); e.b(0x03); e.b(0xfd); e.b(0xeb); e.b(0x01); e.b(0xfc);
  e.b(0x48); e.b(0x89); e.b(0xc1);
  e.b(0x48); e.b(0xc1); e.b(0xe9); e.b(11);
  e.b(0x80); e.b(0xe1); e.b(0x01);
  e.b(0x80); e.b(0xc1); e.b(0x7f);
  e.b(0x88); e.b(0xc4);
  e.b(0x9e);
}

// The guest's flags onto the host stack (not the guest's: a user red zone
// lies below its rsp): mov %rsp,s4; mov host_sp,%rsp; pushfq. Undone by
// host_stack_pop (popfq: the guest's flags back) or host_stack_drop.
void host_stack_pushf(Emitter& e) {
  e.store_abs(RSP, abs_of(BT_OFF_S4));
  e.load_abs(RSP, abs_of(BT_OFF_HOST_SP));
  e.b(0x9c);
}
void host_stack_pop(Emitter& e) {
  e.b(0x9d);
  e.load_abs(RSP, abs_of(BT_OFF_S4));
}
void host_stack_drop(Emitter& e) { e.load_abs(RSP, abs_of(BT_OFF_S4)); }

// mov $0x200,%ecx-free: %rcx = %rax & IF; mov %rcx,vif (flags dead)
void vif_from_rax(Emitter& e) {
  e.b(0x48); e.b(0x89); e.b(0xc1);                            // mov %rax,%rcx
  e.b(0x81); e.b(0xe1); e.d32(uint32_t(kFlagIF));             // and $IF,%ecx
  e.store_abs(RCX, abs_of(BT_OFF_VIF));
}

// jrcxz over a jmp to the fast path: %rcx == 0 falls into what follows (the
// slow path). Returns the jmp's rel32 field.
size_t jrcxz_slow(Emitter& e) {
  e.b(0xe3); e.b(0x05);
  return jmp_fwd(e);
}

constexpr uint64_t kPopfBits = kFlagTF | kFlagIOPL | kFlagNT | kFlagAC | kFlagID;  // the rest must not change inline
constexpr uint64_t kNever = 1ULL << 63;  // an expected value no popped image has after the mask

}  // namespace

// Count with %reg as scratch (its value is lost).
void Translator::emit_inline_count(Emitter& e, InlineOp op, int reg) {
  e.load_abs(reg, count_slot(op));
  lea_inc(e, reg);
  e.store_abs(reg, count_slot(op));
}

// Count without a free register: %rcx goes through s6.
void Translator::emit_inline_count_saving(Emitter& e, InlineOp op) {
  e.store_abs(RCX, abs_of(BT_OFF_S6));
  emit_inline_count(e, op, RCX);
  e.load_abs(RCX, abs_of(BT_OFF_S6));
}

bool Translator::emit_inline_sensitive(Ctx& c, const Insn& in, bool* end) {
  if (!c.env.inline_sensitive) return false;
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  // in/out (imm8 or %dx port) in kernel translations: the light callout.
  if (c.env.io_entry && c.env.inline_if && (o0 & 0xf4) == 0xe4) {
    emit_light_port_io(c, in);
    return true;
  }
  if ((o0 == 0x9c || o0 == 0x9d) && !in.opsize) {  // 64-bit operand (66: callout)
    if (c.env.softmmu) return soft_pushf_popf(c, in);  // the stack through the TLB (softmmu_emit.cpp)
    if (o0 == 0x9c) emit_inline_pushf(c);
    else emit_inline_popf(c, in);
    return true;
  }
  if (o0 != 0x0f) return false;
  if (o1 == 0x05 && !c.env.inline_if) {  // user syscall
    emit_inline_syscall(c, in);
    *end = true;
    return true;
  }
  if (o1 == 0x07 && c.env.inline_if && c.env.inline_sysret && (in.rex & 8)) {  // kernel sysretq
    emit_inline_sysret(c, in);
    *end = true;
    return true;
  }
  // mov %cr2,%r in kernel translations (a #PF handler's first step): a
  // load of the vCPU block's copy (no exit). CR2 changes only in the
  // dispatcher (delivery, mov to %cr2, set_regs), which keeps the copy.
  if (o1 == 0x20 && c.env.inline_if && in.reg == 2 && in.npfx == 0 && !in.lock && in.rm != RSP) {
    emit_inline_count(c.e, InlineOp::MovFromCr2, in.rm);
    c.e.load_abs(in.rm, abs_of(BT_OFF_CR2));
    return true;
  }
  if (o1 == 0x01 && in.has_modrm && in.bytes[in.modrm_off] == 0xf8 && c.env.inline_if) {  // swapgs: #UD at CPL 3
    emit_inline_swapgs(c);
    return true;
  }
  if (!c.env.bmi2 || (o1 != 0x31 && o1 != 0xa2)) return false;
  if (o1 == 0x31) emit_inline_rdtsc(c, in);
  else emit_inline_cpuid(c, in);
  return true;
}

// in/out as a light callout: the same record as the callout, reached by
//   mov %rsp,G_RSP; mov host_sp,%rsp; call io_entry; <record>
// (io_entry: `jmp *bt_io_stub` in this cache's kept prefix). bt_io_stub saves
// only what C clobbers and has the Vm's handler serve the access on the host
// stack (Runtime::io_light); translated code resumes after the record, or the
// stub falls into the full exit with this record (bt_exit_stub).
void Translator::emit_light_port_io(Ctx& c, const Insn& in) {
  const uint8_t o0 = in.opcode0();
  const bool dx = o0 & 8;
  ExitRecord r{};
  r.reason = ExitReason::Callout;
  r.len = in.len;
  r.op = (o0 & 2) ? CalloutOp::Out : CalloutOp::In;
  r.a = (o0 & 1) ? (in.opsize ? 2 : 4) : 1;
  r.guest_pc = in.pc;
  r.target = dx ? 0 : uint64_t(in.imm & 0xff);
  r.aux = dx ? uint64_t(kOpPortDx) : 0;
  Emitter& e = c.e;
  e.store_abs(RSP, abs_of(BT_OFF_GPR + 8 * RSP));
  e.load_abs(RSP, abs_of(BT_OFF_HOST_SP));
  e.b(0xe8);
  e.d32(uint32_t(int32_t(int64_t(c.env.io_entry) - int64_t(e.pc() + 4))));
  const size_t off = e.size();
  e.bytes(reinterpret_cast<const uint8_t*>(&r), sizeof r);
  c.records.push_back({off, c.index, true});
}

// The host's flags in translated code are the guest's live flags | 0x202 (IF
// set, IOPL 0, nothing else: bt_enter loads only live bits), so the guest's
// image is that + vif (0 or 0x200) + pushf_add (its other virtual bits - 0x202):
//   pushfq; mov %rax,s0; mov %rcx,s6; mov (%rsp),%rax; mov vif,%rcx;
//   lea (%rax,%rcx),%rax; mov pushf_add,%rcx; lea (%rax,%rcx),%rax;
//   mov %rax,(%rsp); <count>; mov s6,%rcx; mov s0,%rax
// Only the pushfq touches guest memory: a fault there is the instruction's.
void Translator::emit_inline_pushf(Ctx& c) {
  Emitter& e = c.e;
  e.b(0x9c);
  e.store_abs(RAX, abs_of(BT_OFF_S0));
  e.store_abs(RCX, abs_of(BT_OFF_S6));
  load_rax_rsp(e);
  e.load_abs(RCX, abs_of(BT_OFF_VIF));
  lea_add(e, RAX, RCX);
  e.load_abs(RCX, abs_of(BT_OFF_PUSHF_ADD));
  lea_add(e, RAX, RCX);
  store_rax_rsp(e);
  emit_inline_count(e, InlineOp::Pushf, RCX);
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  e.load_abs(RAX, abs_of(BT_OFF_S0));
}

// popf defines every live flag, so the guest's flags are dead from the load
// on and the checks may use cmp/test:
//   mov %rax,s0; mov (%rsp),%rax; mov %rcx,s6; mov %rax,%rcx;
//   and $TF|IOPL|NT|AC|ID,%rcx; cmp popf_expect,%rcx; jne slow
//   [kernel: test $IF,%rax; jz off; mov irq_pending,%rcx; test %rcx,%rcx;
//    jnz slow; movq $IF,vif; jmp set; off: movq $0,vif; set:]
//   <count>; bt $10,%rax; jnc 1f; std; jmp 2f; 1: cld; 2:
//   mov %rax,%rcx; shr $11,%rcx; and $1,%cl; add $0x7f,%cl   (OF)
//   mov %al,%ah; sahf                                         (SF ZF AF PF CF)
//   lea 8(%rsp),%rsp; mov s6,%rcx; mov s0,%rax; jmp done
//   slow: mov s6,%rcx; mov s0,%rax; <callout popf>; done:
// User translations ignore the image's IF (CPL 3 > IOPL: kept); with IOPL 3
// popf_expect_u never matches, so the callout decides.
// bt-softmmu: `src` >= 0 holds the image already (loaded through the TLB);
// it is the guest's register saved in s4, put back on both paths.
void Translator::emit_inline_popf(Ctx& c, const Insn& in, int src) {
  Emitter& e = c.e;
  const bool kernel = c.env.inline_if;
  e.store_abs(RAX, abs_of(BT_OFF_S0));
  if (src < 0) {
    load_rax_rsp(e);
  } else {  // mov %src,%rax
    e.b(uint8_t(0x48 | (src >= 8 ? 4 : 0)));
    e.b(0x89);
    e.b(uint8_t(0xc0 | ((src & 7) << 3) | RAX));
  }
  e.store_abs(RCX, abs_of(BT_OFF_S6));
  e.b(0x48); e.b(0x89); e.b(0xc1);                                   // mov %rax,%rcx
  e.b(0x48); e.b(0x81); e.b(0xe1); e.d32(uint32_t(kPopfBits));       // and $bits,%rcx
  e.rex_w_abs(0x3b, RCX, uint32_t(abs_of(kernel ? BT_OFF_POPF_EXPECT_K : BT_OFF_POPF_EXPECT_U)));  // cmp
  const size_t to_slow = e.jcc32(0x5, e.pc());                       // jne slow
  size_t to_slow2 = 0;
  if (kernel) {
    e.b(0x48); e.b(0xa9); e.d32(uint32_t(kFlagIF));                  // test $IF,%rax
    e.b(0x74);                                                       // jz off
    const size_t jz = e.size();
    e.b(0);
    e.load_abs(RCX, abs_of(BT_OFF_IRQ_PENDING));
    e.b(0x48); e.b(0x85); e.b(0xc9);                                 // test %rcx,%rcx
    to_slow2 = e.jcc32(0x5, e.pc());                                 // jnz slow
    movq_imm_abs(e, abs_of(BT_OFF_VIF), uint32_t(kFlagIF));
    e.b(0xeb);                                                       // jmp set
    const size_t jset = e.size();
    e.b(0);
    *e.at(jz) = uint8_t(e.size() - (jz + 1));
    movq_imm_abs(e, abs_of(BT_OFF_VIF), 0);
    *e.at(jset) = uint8_t(e.size() - (jset + 1));
  }
  e.b(0x48); e.b(0xff); e.b(0x04); e.b(0x25); e.d32(uint32_t(count_slot(InlineOp::Popf)));  // incq count (flags dead)
  load_live_flags(e);
  e.b(0x48); e.b(0x8d); e.b(0x64); e.b(0x24); e.b(0x08);             // lea 8(%rsp),%rsp
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  e.load_abs(RAX, abs_of(BT_OFF_S0));
  if (src >= 0) e.load_abs(src, abs_of(BT_OFF_S4));
  const size_t done = jmp_fwd(e);
  e.patch_rel32(to_slow, e.pc());
  if (kernel) e.patch_rel32(to_slow2, e.pc());
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  e.load_abs(RAX, abs_of(BT_OFF_S0));
  if (src >= 0) e.load_abs(src, abs_of(BT_OFF_S4));
  emit_callout(c, in, CalloutOp::Popf, 8, 0, 0, 0, 0, false);
  e.patch_rel32(done, e.pc());
}

// rdtsc + the guest's TSC offset, flag-free (BMI2 shlx/shrx):
//   [user: mov %rcx,s6; mov tsc_trap,%rcx; jrcxz ok; mov s6,%rcx; <callout>;
//    jmp done; ok: mov s6,%rcx]
//   rdtsc; mov %rcx,s6; mov $32,%ecx; shlx %rcx,%rdx,%rdx; lea (%rax,%rdx),%rax;
//   mov tsc_offset,%rdx; lea (%rax,%rdx),%rax; shrx %rcx,%rax,%rdx; mov %eax,%eax;
//   <count>; mov s6,%rcx; done:
void Translator::emit_inline_rdtsc(Ctx& c, const Insn& in) {
  Emitter& e = c.e;
  size_t done = 0;
  const bool user = !c.env.inline_if;
  if (user) {
    e.store_abs(RCX, abs_of(BT_OFF_S6));
    e.load_abs(RCX, abs_of(BT_OFF_TSC_TRAP));
    e.b(0xe3);
    const size_t jz = e.size();
    e.b(0);
    e.load_abs(RCX, abs_of(BT_OFF_S6));
    emit_callout(c, in, CalloutOp::Rdtsc, 0, 0, 0, 0, 0, false);
    done = jmp_fwd(e);
    *e.at(jz) = uint8_t(e.size() - (jz + 1));
    e.load_abs(RCX, abs_of(BT_OFF_S6));
  }
  e.b(0x0f); e.b(0x31);                                              // rdtsc
  e.store_abs(RCX, abs_of(BT_OFF_S6));
  e.b(0xb9); e.d32(32);                                              // mov $32,%ecx
  e.b(0xc4); e.b(0xe2); e.b(0xf1); e.b(0xf7); e.b(0xd2);             // shlx %rcx,%rdx,%rdx
  lea_add(e, RAX, RDX);
  e.load_abs(RDX, abs_of(BT_OFF_TSC_OFFSET));
  lea_add(e, RAX, RDX);
  e.b(0xc4); e.b(0xe2); e.b(0xf3); e.b(0xf7); e.b(0xd0);             // shrx %rcx,%rax,%rdx
  e.b(0x89); e.b(0xc0);                                              // mov %eax,%eax
  emit_inline_count(e, InlineOp::Rdtsc, RCX);
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  if (user) e.patch_rel32(done, e.pc());
}

// The last cpuid answer the runtime gave (Runtime::guest_cpuid) is kept in
// the vCPU block with its key; a hit loads it, anything else is the callout:
//   mov %rcx,s6; mov %rdx,s2; mov %ecx,%edx; rorx $32,%rdx,%rdx; mov %eax,%ecx;
//   lea (%rcx,%rdx),%rcx; mov cpuid_negkey,%rdx; lea (%rcx,%rdx),%rcx; jrcxz hit;
//   mov s6,%rcx; mov s2,%rdx; <callout>; jmp done;
//   hit: <count via rdx>; mov regs,%eax/%ebx/%ecx/%edx; done:
void Translator::emit_inline_cpuid(Ctx& c, const Insn& in) {
  Emitter& e = c.e;
  e.store_abs(RCX, abs_of(BT_OFF_S6));
  e.store_abs(RDX, abs_of(BT_OFF_S2));
  e.b(0x89); e.b(0xca);                                              // mov %ecx,%edx
  e.b(0xc4); e.b(0xe3); e.b(0xfb); e.b(0xf0); e.b(0xd2); e.b(0x20);  // rorx $32,%rdx,%rdx
  e.b(0x89); e.b(0xc1);                                              // mov %eax,%ecx
  lea_add(e, RCX, RDX);
  e.load_abs(RDX, abs_of(BT_OFF_CPUID_NEGKEY));
  lea_add(e, RCX, RDX);
  e.b(0xe3);                                                         // jrcxz hit
  const size_t jz = e.size();
  e.b(0);
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  e.load_abs(RDX, abs_of(BT_OFF_S2));
  emit_callout(c, in, CalloutOp::Cpuid, 0, 0, 0, 0, 0, false);
  const size_t done = jmp_fwd(e);
  *e.at(jz) = uint8_t(e.size() - (jz + 1));
  emit_inline_count(e, InlineOp::Cpuid, RDX);
  static const uint8_t modrm[4] = {0x04, 0x1c, 0x0c, 0x14};  // eax ebx ecx edx
  for (int i = 0; i < 4; ++i) {
    e.b(0x8b); e.b(modrm[i]); e.b(0x25); e.d32(uint32_t(abs_of(BT_OFF_CPUID_REGS) + 4 * uint64_t(i)));
  }
  e.patch_rel32(done, e.pc());
}

// Kernel swapgs: exchange the virtual GS base with KERNEL_GS_BASE.
void Translator::emit_inline_swapgs(Ctx& c) {
  Emitter& e = c.e;
  e.store_abs(RAX, abs_of(BT_OFF_S0));
  e.store_abs(RCX, abs_of(BT_OFF_S6));
  e.load_abs(RAX, abs_of(BT_OFF_GS_BASE));
  e.load_abs(RCX, abs_of(BT_OFF_KERNEL_GS_BASE));
  e.store_abs(RAX, abs_of(BT_OFF_KERNEL_GS_BASE));
  e.store_abs(RCX, abs_of(BT_OFF_GS_BASE));
  emit_inline_count(e, InlineOp::Swapgs, RCX);
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  e.load_abs(RAX, abs_of(BT_OFF_S0));
}

// The callout unless the vCPU block's field at `ok_off` is nonzero (guest
// rcx intact on both paths, flags untouched):
//   mov %rcx,s6; mov ok,%rcx; jrcxz slow; jmp fast; slow: mov s6,%rcx; <callout>; fast:
void Translator::emit_inline_guard(Ctx& c, const Insn& in, uint32_t ok_off, CalloutOp op, uint8_t a) {
  Emitter& e = c.e;
  e.store_abs(RCX, abs_of(BT_OFF_S6));
  e.load_abs(RCX, abs_of(ok_off));
  const size_t fast = jrcxz_slow(e);
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  emit_callout(c, in, op, a, 0, 0, 0, 0, true);
  e.patch_rel32(fast, e.pc());
}

// User syscall, when the runtime's fields allow it (EFER.SCE; SFMASK clears
// no virtual flag the C++ side keeps): the guest's rcx/r11 and flags as the
// callout sets them, cpl_mode 0 (the dispatcher moves cpu_.cpl, CS/SS and
// the MMU's user mode after it at its next visit), then LSTAR through the
// indirect-branch table (kernel translations are found there like any target).
//   mov %rcx,s6; mov syscall_ok,%rcx; jrcxz slow; <jmp fast>;
//   slow: mov s6,%rcx; <callout syscall>;
//   fast: mov %rax,s0; <pushf on the host stack>; pop %rax; <rsp back>;
//   mov vif,%rcx; lea (%rax,%rcx),%rax; mov pushf_add,%rcx; lea (%rax,%rcx),%rax;
//   mov %rax,%r11; and sfmask_not,%rax; <vif = rax & IF>; incq count;
//   <live flags from rax>; movq $0,cpl_mode; mov s0,%rax; mov %rdx,s2;
//   mov $next,%rcx; mov %rcx,s1; mov lstar,%rdx; jmp lookup
void Translator::emit_inline_syscall(Ctx& c, const Insn& in) {
  Emitter& e = c.e;
  emit_inline_guard(c, in, BT_OFF_SYSCALL_OK, CalloutOp::Syscall, 0);
  e.store_abs(RAX, abs_of(BT_OFF_S0));
  host_stack_pushf(e);
  e.b(0x58);  // pop %rax
  host_stack_drop(e);
  e.load_abs(RCX, abs_of(BT_OFF_VIF));
  lea_add(e, RAX, RCX);
  e.load_abs(RCX, abs_of(BT_OFF_PUSHF_ADD));
  lea_add(e, RAX, RCX);
  e.b(0x49); e.b(0x89); e.b(0xc3);                                  // mov %rax,%r11
  e.rex_w_abs(0x23, RAX, uint32_t(abs_of(BT_OFF_SFMASK_NOT)));      // and sfmask_not,%rax
  vif_from_rax(e);
  e.b(0x48); e.b(0xff); e.b(0x04); e.b(0x25); e.d32(uint32_t(count_slot(InlineOp::Syscall)));
  load_live_flags(e);
  movq_imm_abs(e, abs_of(BT_OFF_CPL_MODE), 0);
  e.load_abs(RAX, abs_of(BT_OFF_S0));
  e.store_abs(RDX, abs_of(BT_OFF_S2));
  e.b(0x48); e.b(0xb9); e.q(in.pc + in.len);                        // movabs $next,%rcx
  e.store_abs(RCX, abs_of(BT_OFF_S1));
  e.load_abs(RDX, abs_of(BT_OFF_LSTAR));
  e.jmp32(c.env.lookup_entry);
}

// Kernel sysretq (not bt-direct, whose user code must run directly): checks
// with the guest's flags parked on the host stack (a refused one leaves them
// as they were for the callout's #GP), then flags from r11, cpl_mode 3 and
// the user rip (rcx) through the indirect-branch table.
//   mov %rcx,s6; mov sysret_ok,%rcx; jrcxz slow0; <jmp fast>; slow0: mov s6,%rcx; <callout>;
//   fast: mov s6,%rcx; mov %rax,s0; <pushf on the host stack>;
//   mov %rcx,%rax; sar $47,%rax; add $1,%rax; cmp $1,%rax; ja slow;   (canonical)
//   mov %r11,%rax; and $~(live|IF|RF|VM|2),%rax; cmp sysret_expect,%rax; jne slow;
//   test $IF,%r11; jz 1f; mov irq_pending,%rax; test %rax,%rax; jnz slow; 1:
//   <rsp back>; mov %r11,%rax; <vif = rax & IF>; incq count; mov %r11,%rax;
//   <live flags from rax>; movq $3,cpl_mode; mov s0,%rax; mov s6,%rcx;
//   mov %rdx,s2; mov %rcx,s1; mov %rcx,%rdx; jmp lookup
//   slow: popfq; <rsp back>; mov s0,%rax; mov s6,%rcx; <callout sysret>
void Translator::emit_inline_sysret(Ctx& c, const Insn& in) {
  Emitter& e = c.e;
  emit_inline_guard(c, in, BT_OFF_SYSRET_OK, CalloutOp::Sysret, 8);
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  e.store_abs(RAX, abs_of(BT_OFF_S0));
  host_stack_pushf(e);
  e.b(0x48); e.b(0x89); e.b(0xc8);                                  // mov %rcx,%rax
  e.b(0x48); e.b(0xc1); e.b(0xf8); e.b(47);                         // sar $47,%rax
  e.b(0x48); e.b(0x83); e.b(0xc0); e.b(0x01);                       // add $1,%rax
  e.b(0x48); e.b(0x83); e.b(0xf8); e.b(0x01);                       // cmp $1,%rax
  const size_t s1 = e.jcc32(0x7, e.pc());                           // ja slow
  e.b(0x4c); e.b(0x89); e.b(0xd8);                                  // mov %r11,%rax
  e.b(0x48); e.b(0x25); e.d32(uint32_t(~(kLiveFlags | kFlagIF | kFlagRF | kFlagVM | 2)));  // and $imm,%rax
  e.rex_w_abs(0x3b, RAX, uint32_t(abs_of(BT_OFF_SYSRET_EXPECT)));  // cmp sysret_expect,%rax
  const size_t s2 = e.jcc32(0x5, e.pc());                           // jne slow
  e.b(0x49); e.b(0xf7); e.b(0xc3); e.d32(uint32_t(kFlagIF));        // test $IF,%r11
  e.b(0x74);                                                        // jz 1f
  const size_t jz = e.size();
  e.b(0);
  e.load_abs(RAX, abs_of(BT_OFF_IRQ_PENDING));
  e.b(0x48); e.b(0x85); e.b(0xc0);                                  // test %rax,%rax
  const size_t s3 = e.jcc32(0x5, e.pc());                           // jnz slow
  *e.at(jz) = uint8_t(e.size() - (jz + 1));
  host_stack_drop(e);
  e.b(0x4c); e.b(0x89); e.b(0xd8);                                  // mov %r11,%rax
  vif_from_rax(e);
  e.b(0x48); e.b(0xff); e.b(0x04); e.b(0x25); e.d32(uint32_t(count_slot(InlineOp::Sysret)));
  e.b(0x4c); e.b(0x89); e.b(0xd8);                                  // mov %r11,%rax
  load_live_flags(e);
  movq_imm_abs(e, abs_of(BT_OFF_CPL_MODE), 3);
  e.load_abs(RAX, abs_of(BT_OFF_S0));
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  e.store_abs(RDX, abs_of(BT_OFF_S2));
  e.store_abs(RCX, abs_of(BT_OFF_S1));
  e.b(0x48); e.b(0x89); e.b(0xca);                                  // mov %rcx,%rdx
  e.jmp32(c.env.lookup_entry);
  for (size_t s : {s1, s2, s3}) e.patch_rel32(s, e.pc());
  host_stack_pop(e);
  e.load_abs(RAX, abs_of(BT_OFF_S0));
  e.load_abs(RCX, abs_of(BT_OFF_S6));
  emit_callout(c, in, CalloutOp::Sysret, 8, 0, 0, 0, 0, true);
}

void Runtime::sync_inline_state() {
  AsmVcpu* a = asm_vcpu();
  const uint64_t rest = cpu_.vflags & ~(kLiveFlags | kFlagIF);
  a->pushf_add = ((rest & ~(kFlagRF | kFlagVM)) | 2) - 0x202;
  // The callout keeps VM and RF and drops every bit outside kPopfBits: inline
  // only when nothing else is set, so that both give the same flags.
  const bool plain = (rest & ~(kPopfBits | kFlagVM | kFlagRF | 2)) == 0;
  a->popf_expect_k = plain ? (rest & kPopfBits) : kNever;
  a->popf_expect_u = plain && ((rest & kFlagIOPL) != kFlagIOPL) ? (rest & kPopfBits) : kNever;
  a->tsc_offset = cpu_.tsc_offset;
  a->tsc_trap = (cpu_.cr4 & 4) ? 1 : 0;
  const bool sce = cpu_.efer & 1;
  a->syscall_ok = sce && (rest & (cpu_.sfmask | kFlagRF)) == 0;
  a->sfmask_not = ~cpu_.sfmask;
  a->lstar = cpu_.lstar;
  a->sysret_ok = sce && !opt_.direct_user;
  a->sysret_expect = (rest & (kFlagRF | kFlagVM)) ? kNever : (rest & ~uint64_t(2));
  a->cr2 = cpu_.cr2;
}

// Inline syscall/sysret changed the privilege level (AsmVcpu::cpl_mode):
// what the callouts do beside it (do_syscall, do_sysret) on the C++ side.
void Runtime::sync_cpl_from_inline() {
  const int cpl = int(asm_vcpu()->cpl_mode);
  if (cpl == 0) {
    cpu_.cs.selector = uint16_t((cpu_.star >> 32) & 0xfffc);
    cpu_.ss.selector = uint16_t(((cpu_.star >> 32) + 8) & 0xfffc);
  } else {
    const uint64_t base = (cpu_.star >> 48) & 0xffff;
    cpu_.cs.selector = uint16_t(((base + 16) & 0xfffc) | 3);
    cpu_.ss.selector = uint16_t(((base + 8) & 0xfffc) | 3);
  }
  cpu_.cpl = cpl;
  mem_->set_user_mode(cpl == 3);
}

uint64_t Runtime::inline_count(InlineOp op) const { return asm_vcpu()->inline_count[unsigned(op)]; }

CalloutOp Runtime::inline_callout(InlineOp op) {
  switch (op) {
    case InlineOp::Pushf: return CalloutOp::Pushf;
    case InlineOp::Popf: return CalloutOp::Popf;
    case InlineOp::Rdtsc: return CalloutOp::Rdtsc;
    case InlineOp::Cpuid: return CalloutOp::Cpuid;
    case InlineOp::Swapgs: return CalloutOp::Swapgs;
    case InlineOp::Cli: return CalloutOp::Cli;
    case InlineOp::Sti: return CalloutOp::Sti;
    case InlineOp::Syscall: return CalloutOp::Syscall;
    case InlineOp::Sysret: return CalloutOp::Sysret;
    case InlineOp::MovFromCr2: return CalloutOp::Count;  // reported as priv.mov_from_cr2 (Runtime::stats)
  }
  return CalloutOp::Count;
}

}  // namespace vtb::bt

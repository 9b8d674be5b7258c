// tags: engines|bt — desc: architectural register exchange (Regs) and the counters the runtime reports.
#include <cstdio>
#include <cstring>
#include <string>

#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

namespace vtb::bt {

Regs Runtime::regs() const {
  const AsmVcpu* a = asm_vcpu();
  Regs r;
  uint64_t* g[16] = {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
                     &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  for (int i = 0; i < 16; ++i) *g[i] = a->gpr[i];
  r.rip = cpu_.rip;
  r.rflags = full_rflags();
  r.cr0 = cpu_.cr0;
  r.cr2 = cpu_.cr2;
  r.cr3 = cpu_.cr3;
  r.cr4 = cpu_.cr4;
  r.cr8 = cpu_.cr8;
  r.efer = cpu_.efer;
  r.cs = cpu_.cs;
  r.ds = cpu_.ds;
  r.es = cpu_.es;
  r.ss = cpu_.ss;
  r.fs = cpu_.fs;
  r.gs = cpu_.gs;
  r.fs.base = a->fs_base;
  r.gs.base = a->gs_base;
  r.tr = cpu_.tr;
  r.ldtr = cpu_.ldtr;
  r.gdt_base = cpu_.gdt_base;
  r.gdt_limit = cpu_.gdt_limit;
  r.idt_base = cpu_.idt_base;
  r.idt_limit = cpu_.idt_limit;
  r.kernel_gs_base = a->kernel_gs_base;
  return r;
}

void Runtime::set_regs(const Regs& r) {
  AsmVcpu* a = asm_vcpu();
  const uint64_t g[16] = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
                          r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  for (int i = 0; i < 16; ++i) a->gpr[i] = g[i];
  const bool new_space = cpu_.cr3 != r.cr3;
  // bt-softmmu: a state with other paging registers keeps no TLB entry, global ones included.
  const bool new_paging = new_space || cpu_.cr0 != r.cr0 || cpu_.cr4 != r.cr4;
  cpu_.rip = r.rip;
  a->rflags = (r.rflags & kLiveFlags) | 2;
  set_vflags((r.rflags & ~kLiveFlags) | 2);
  cpu_.cr0 = r.cr0;
  cpu_.cr2 = r.cr2;
  cpu_.cr3 = r.cr3;
  cpu_.cr4 = r.cr4;
  cpu_.cr8 = r.cr8;
  cpu_.efer = r.efer;
  cpu_.cs = r.cs;
  cpu_.ds = r.ds;
  cpu_.es = r.es;
  cpu_.ss = r.ss;
  cpu_.fs = r.fs;
  cpu_.gs = r.gs;
  // Bases are canonical on the hardware (wrmsr/wrfsbase refuse others); a
  // non-canonical one is taken in its canonical form.
  a->fs_base = cpu_.fs.base = canonical_address(r.fs.base);
  a->gs_base = cpu_.gs.base = canonical_address(r.gs.base);
  cpu_.tr = r.tr;
  cpu_.ldtr = r.ldtr;
  cpu_.gdt_base = r.gdt_base;
  cpu_.gdt_limit = r.gdt_limit;
  cpu_.idt_base = r.idt_base;
  cpu_.idt_limit = r.idt_limit;
  a->kernel_gs_base = canonical_address(r.kernel_gs_base);
  cpu_.cpl = r.cs.selector & 3;
  resume_tc_ = 0;
  pending_in_.valid = false;
  if (new_space) {
    mem_->set_cr3(r.cr3);
    on_cr3_change();
  }
  if (new_paging) tlb_flush();
  mem_->set_user_mode(cpu_.cpl == 3);
  sync_inline_state();
}

void Runtime::stats(Counters& out) const {
  out.add("bt.blocks_translated", st_.blocks);
  out.add("bt.guest_insns_translated", st_.insns);
  out.add("bt.chain_patch", st_.chain);
  out.add("bt.indirect_lookup_miss", st_.ind_miss);
  out.add("bt.tc_flush", st_.tc_flush);
  out.add("bt.tc_invalidate", st_.tc_invalidate);
  out.add("bt.tc_stale_space", st_.tc_stale_space);
  out.add("bt.tc_set_aside", st_.tc_set_aside);
  out.add("bt.tc_reused_blocks", st_.tc_reused);
  out.add("bt.space_shared", st_.space_shared);
  out.add("bt.space_new", st_.space_new);
  out.add("bt.translate_ns", st_.translate_ns);
  out.add("bt.tc_exits", st_.exits);
  if (io_in_run_) out.add("bt.port_io_in_run", io_in_run_);
  if (io_light_) out.add("bt.port_io_light", io_light_);
  out.add("bt.async_exits", st_.async_exits);
  // bt-softmmu isolates by construction: its TLB holds guest-memory host addresses only.
  out.gauge("bt.user_isolation", (address_checks_ || opt_.softmmu) ? 1 : 0);
  if (opt_.softmmu) {
    out.add("softmmu.tlb_miss", st_.tlb_miss);
    out.add("softmmu.tlb_flush", st_.tlb_flush);
    out.add("softmmu.tlb_flush_page", st_.tlb_flush_page);
    out.add("softmmu.tlb_kept_global", st_.tlb_kept_global);
    out.add("softmmu.bounce", st_.tlb_bounce);
    out.add("softmmu.probes", st_.soft_probes);
    out.add("softmmu.probes_short", st_.soft_probes_short);
    out.add("softmmu.probes_alone", st_.soft_probes_alone);
    out.add("softmmu.probes_in_dest", st_.soft_probes_in_dest);
    out.add("softmmu.probes_covered", st_.soft_probes_covered);
    out.add("softmmu.scratch_dead", st_.soft_scratch_dead);
  }
  out.add("bt.user_checks", st_.user_checks);
  out.add("bt.kernel_checks", st_.kernel_checks);
  out.add("bt.user_checks_elided", st_.user_checks_elided);
  out.add("bt.kernel_checks_elided", st_.kernel_checks_elided);
  out.add("bt.user_checks_hoisted", st_.user_checks_hoisted);
  out.add("bt.loop_entries_chained", st_.loop_entries_chained);
  out.add("bt.user_isolation_faults", st_.user_isolation_faults);
  out.add("bt.kernel_isolation_faults", st_.kernel_isolation_faults);
  if (opt_.direct_user) {
    out.add("bt.direct_entries", st_.direct_entries);
    out.add("bt.direct_syscalls", st_.direct_syscalls);
    out.add("bt.direct_faults", st_.direct_faults);
    out.add("bt.direct_interrupts", st_.direct_interrupts);
    out.add("bt.direct_outside", st_.direct_outside);
    out.gauge("bt.fsgs_isolation", bt_direct_host.fsgs);
  }
  out.gauge("bt.tc_bytes", user_tc_.used() + kernel_tc_.used());
  if (executed_) out.add("bt.guest_insns_executed", executed_);
  if (st_.hidden_fault) out.add("mmu.hidden_fault", st_.hidden_fault);
  if (st_.host_fault_ns) out.add("time.bt.host_fault_ns", st_.host_fault_ns);
  // Every traced guest page-table store, whether it trapped (host fault,
  // emulated) or was already retranslated into a callout (adaptive).
  out.add("mmu.pte_write_trap", st_.pte_trap + st_.pte_callout);
  out.add("mmu.pte_write_fault", st_.pte_trap);
  out.add("mmu.pte_write_callout", st_.pte_callout);
  out.add("mmu.pte_untraced", st_.pte_untraced);
  out.add("bt.adaptive_retranslate", st_.adaptive);
  // Inline executions count with the callouts (priv.<insn>: how often the
  // instruction ran) and alone (bt.inline.<insn>: how many never left).
  uint64_t priv[unsigned(CalloutOp::Count)];
  memcpy(priv, st_.priv, sizeof priv);
  for (unsigned k = 0; k < BT_INLINE_OPS; ++k) {
    const uint64_t n = inline_count(InlineOp(k));
    const CalloutOp op = inline_callout(InlineOp(k));
    if (op == CalloutOp::Count) continue;
    priv[unsigned(op)] += n;
    if (n) out.add(std::string("bt.inline.") + callout_name(op), n);
  }
  if (const uint64_t n = inline_count(InlineOp::MovFromCr2)) out.add("bt.inline.mov_from_cr2", n);
  for (unsigned i = 1; i < unsigned(CalloutOp::Count); ++i) {
    const CalloutOp op = CalloutOp(i);
    if (!priv[i] || op == CalloutOp::MovToCr || op == CalloutOp::MovFromCr || op == CalloutOp::TracedStore) continue;
    out.add(std::string("priv.") + callout_name(op), priv[i]);
  }
  for (int c = 0; c < 16; ++c) {
    if (st_.cr_write[c]) out.add("priv.mov_cr" + std::to_string(c), st_.cr_write[c]);
    if (const uint64_t n = st_.cr_read[c] + (c == 2 ? inline_count(InlineOp::MovFromCr2) : 0))
      out.add("priv.mov_from_cr" + std::to_string(c), n);
  }
  for (auto& [v, n] : st_.reflected) out.add("fault.reflected." + std::to_string(v), n);
}

}  // namespace vtb::bt

// tags: engines|kvm — desc: register conversions and long-mode setup from the host (kvmtool style).
#include "engines/kvm/kvm_regs.h"

#include <cstdio>

#include "common/boot_state.h"

namespace vtb::kvm {

namespace {

Segment seg_to_vtb(const kvm_segment& k) {
  Segment s;
  s.base = k.base;
  s.limit = k.limit;
  s.selector = k.selector;
  s.attrib = uint16_t((k.type & 0xf) | (k.s & 1) << 4 | (k.dpl & 3) << 5 | (k.present & 1) << 7 |
                      (k.avl & 1) << 12 | (k.l & 1) << 13 | (k.db & 1) << 14 | (k.g & 1) << 15);
  return s;
}

kvm_segment seg_from_vtb(const Segment& s) {
  kvm_segment k{};
  k.base = s.base;
  k.limit = s.limit;
  k.selector = s.selector;
  k.type = s.attrib & 0xf;
  k.s = (s.attrib >> 4) & 1;
  k.dpl = (s.attrib >> 5) & 3;
  k.present = (s.attrib >> 7) & 1;
  k.avl = (s.attrib >> 12) & 1;
  k.l = (s.attrib >> 13) & 1;
  k.db = (s.attrib >> 14) & 1;
  k.g = (s.attrib >> 15) & 1;
  k.unusable = k.present ? 0 : 1;
  return k;
}

}  // namespace

void to_vtb(const kvm_regs& r, const kvm_sregs& s, Regs* o) {
  o->rax = r.rax; o->rbx = r.rbx; o->rcx = r.rcx; o->rdx = r.rdx;
  o->rsi = r.rsi; o->rdi = r.rdi; o->rbp = r.rbp; o->rsp = r.rsp;
  o->r8 = r.r8; o->r9 = r.r9; o->r10 = r.r10; o->r11 = r.r11;
  o->r12 = r.r12; o->r13 = r.r13; o->r14 = r.r14; o->r15 = r.r15;
  o->rip = r.rip; o->rflags = r.rflags;
  o->cr0 = s.cr0; o->cr2 = s.cr2; o->cr3 = s.cr3; o->cr4 = s.cr4; o->cr8 = s.cr8; o->efer = s.efer;
  o->cs = seg_to_vtb(s.cs); o->ds = seg_to_vtb(s.ds); o->es = seg_to_vtb(s.es);
  o->fs = seg_to_vtb(s.fs); o->gs = seg_to_vtb(s.gs); o->ss = seg_to_vtb(s.ss);
  o->tr = seg_to_vtb(s.tr); o->ldtr = seg_to_vtb(s.ldt);
  o->gdt_base = s.gdt.base; o->gdt_limit = s.gdt.limit;
  o->idt_base = s.idt.base; o->idt_limit = s.idt.limit;
}

void from_vtb(const Regs& i, kvm_regs* r, kvm_sregs* s) {
  r->rax = i.rax; r->rbx = i.rbx; r->rcx = i.rcx; r->rdx = i.rdx;
  r->rsi = i.rsi; r->rdi = i.rdi; r->rbp = i.rbp; r->rsp = i.rsp;
  r->r8 = i.r8; r->r9 = i.r9; r->r10 = i.r10; r->r11 = i.r11;
  r->r12 = i.r12; r->r13 = i.r13; r->r14 = i.r14; r->r15 = i.r15;
  r->rip = i.rip; r->rflags = i.rflags | 0x2;
  s->cr0 = i.cr0; s->cr2 = i.cr2; s->cr3 = i.cr3; s->cr4 = i.cr4; s->cr8 = i.cr8; s->efer = i.efer;
  s->cs = seg_from_vtb(i.cs); s->ds = seg_from_vtb(i.ds); s->es = seg_from_vtb(i.es);
  s->fs = seg_from_vtb(i.fs); s->gs = seg_from_vtb(i.gs); s->ss = seg_from_vtb(i.ss);
  s->tr = seg_from_vtb(i.tr); s->ldt = seg_from_vtb(i.ldtr);
  s->gdt.base = i.gdt_base; s->gdt.limit = i.gdt_limit;
  s->idt.base = i.idt_base; s->idt.limit = i.idt_limit;
}

void long_mode_state(const BootImage& boot, kvm_regs* r, kvm_sregs* s) {
  from_vtb(boot_entry_regs(boot), r, s);  // the shared entry state (common/boot_state.h)
  // kvm's own: VMX wants a usable TR (a busy 64-bit TSS at 0, never used
  // before the kernel's ltr) and an LDTR marked unusable.
  kvm_segment tr{};
  tr.limit = 0x67;
  tr.type = 0xb;
  tr.present = 1;
  s->tr = tr;
  kvm_segment ldt{};
  ldt.type = 0x2;
  ldt.present = 1;
  ldt.unusable = 1;
  s->ldt = ldt;
}

std::string dump(const kvm_regs& r, const kvm_sregs& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "rip=0x%llx rsp=0x%llx rflags=0x%llx rax=0x%llx rdi=0x%llx cr0=0x%llx cr2=0x%llx cr3=0x%llx "
                "cr4=0x%llx efer=0x%llx cs=0x%x(l=%u dpl=%u) idt=0x%llx/%u",
                (unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rflags,
                (unsigned long long)r.rax, (unsigned long long)r.rdi, (unsigned long long)s.cr0,
                (unsigned long long)s.cr2, (unsigned long long)s.cr3, (unsigned long long)s.cr4,
                (unsigned long long)s.efer, s.cs.selector, s.cs.l, s.cs.dpl, (unsigned long long)s.idt.base,
                s.idt.limit);
  return buf;
}

}  // namespace vtb::kvm

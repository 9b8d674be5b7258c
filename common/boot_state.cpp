// tags: common|engine|loader — desc: boot_entry_regs: the long-mode entry state every native-kernel engine starts from.
#include "common/boot_state.h"

namespace vtb {

namespace {

Segment flat_segment(uint16_t selector, uint16_t attrib) {
  Segment s;
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.attrib = attrib;
  return s;
}

}  // namespace

Regs boot_entry_regs(const BootImage& boot) {
  Regs r;
  r.rip = boot.entry;
  r.rdi = boot.boot_info_gpa;
  r.rsp = boot.boot_info_gpa;
  r.rflags = 0x2;
  r.cr0 = kBootCr0;
  r.cr3 = boot.loader_cr3;
  r.cr4 = kBootCr4;
  r.efer = kBootEfer;
  r.cs = flat_segment(kBootCodeSelector, kBootCodeAttrib);
  r.ds = r.es = r.fs = r.gs = r.ss = flat_segment(kBootDataSelector, kBootDataAttrib);
  r.gdt_base = boot.loader_gdt_gpa;
  r.gdt_limit = 3 * 8 - 1;
  r.idt_base = 0;
  r.idt_limit = 0;
  return r;
}

}  // namespace vtb

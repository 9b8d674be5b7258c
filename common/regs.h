// tags: common|vm — desc: architectural register state exchanged with engines.
#pragma once
#include <cstdint>

namespace vtb {

struct Segment {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint16_t selector = 0;
  uint16_t attrib = 0;  // VMX-style access rights: type|S<<4|DPL<<5|P<<7|AVL<<12|L<<13|DB<<14|G<<15
};

struct Regs {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0, rflags = 0x2;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0, efer = 0;
  Segment cs, ds, es, fs, gs, ss, tr, ldtr;
  uint64_t gdt_base = 0, idt_base = 0;
  uint16_t gdt_limit = 0, idt_limit = 0;
  uint64_t kernel_gs_base = 0;
};

}  // namespace vtb

// tags: common|engine|loader — desc: the one vCPU state at the native kernel's 64-bit entry, built from BootImage; every engine that boots the native kernel starts from it.
//
// What the loader (common/loader.cpp place_image) promises the kernel's
// e_entry (docs/kernel.md "Boot"), as architectural registers:
//   CR0  = PE MP ET NE WP AM PG       CR4 = PAE OSFXSR OSXMMEXCPT
//   EFER = SCE LME LMA NXE            CR3 = boot.loader_cr3
//   GDTR = boot.loader_gdt_gpa, 3 entries; CS = 0x08 (64-bit code),
//          DS ES FS GS SS = 0x10 (flat data), hidden parts as loaded from that GDT
//   IDTR = 0/0 (an exception before the kernel's lidt is a triple fault),
//   TR, LDTR null
//   rip = boot.entry, rdi = boot.boot_info_gpa, rflags = 0x2 (IF = 0),
//   rsp = boot.boot_info_gpa: a stack growing down from the boot info page
//   (identity-mapped; the loader leaves the pages below it unused). The
//   kernel's contract leaves %rsp undefined (kentry64 loads its own at once);
//   a defined one lets an interrupt or a small test guest push before that.
// An engine converts this to its own representation and adds only what its
// mechanism needs (e.g. kvm: a busy TSS in TR, which VMX requires).
#pragma once
#include <cstdint>

#include "common/engine.h"
#include "common/regs.h"

namespace vtb {

constexpr uint64_t kBootCr0 = 0x80050033;  // PG(31) AM(18) WP(16) NE(5) ET(4) MP(1) PE(0)
constexpr uint64_t kBootCr4 = 0x620;       // OSXMMEXCPT(10) OSFXSR(9) PAE(5)
constexpr uint64_t kBootEfer = 0xd01;      // NXE(11) LMA(10) LME(8) SCE(0)
// Segment::attrib of the loader GDT's descriptors once loaded (accessed bit set).
constexpr uint16_t kBootCodeAttrib = 0xa09b;  // G L P S type 0xb (execute/read, accessed), DPL 0
constexpr uint16_t kBootDataAttrib = 0xc093;  // G DB P S type 0x3 (read/write, accessed), DPL 0
constexpr uint16_t kBootCodeSelector = 0x08, kBootDataSelector = 0x10;

// The entry state above for `boot` (both flavors use the same registers; the
// pv engine runs its kernel deprivileged and keeps its own virtual CPU).
Regs boot_entry_regs(const BootImage& boot);

}  // namespace vtb

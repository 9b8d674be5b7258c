// tags: engines|bt — desc: the virtual CPU state that translated code never sees directly (CPL, IF, control/system registers, MSRs).
#pragma once
#include <cstdint>

#include "common/regs.h"

namespace vtb::bt {

constexpr uint64_t kFlagCF = 1, kFlagTF = 1ULL << 8, kFlagIF = 1ULL << 9, kFlagDF = 1ULL << 10,
                   kFlagIOPL = 3ULL << 12, kFlagNT = 1ULL << 14, kFlagRF = 1ULL << 16, kFlagVM = 1ULL << 17,
                   kFlagAC = 1ULL << 18, kFlagID = 1ULL << 21;

// The canonical form of an address: bits 63..48 copies of bit 47.
inline uint64_t canonical_address(uint64_t v) { return uint64_t(int64_t(v << 16) >> 16); }

// MSR numbers the kernel uses.
enum : uint32_t {
  kMsrEfer = 0xc0000080, kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083,
  kMsrSfmask = 0xc0000084, kMsrFsBase = 0xc0000100, kMsrGsBase = 0xc0000101, kMsrKernelGsBase = 0xc0000102,
  kMsrTscAux = 0xc0000103, kMsrTsc = 0x10, kMsrApicBase = 0x1b, kMsrPat = 0x277, kMsrMiscEnable = 0x1a0,
};

struct VirtCpu {
  uint64_t rip = 0;
  // Virtual part of RFLAGS (IF, IOPL, AC, ID, NT, TF, RF); the arithmetic
  // flags live in AsmVcpu::rflags.
  uint64_t vflags = 0x2;
  int cpl = 0;
  uint64_t cr0 = 0x80050033, cr2 = 0, cr3 = 0, cr4 = 0x20, cr8 = 0, efer = 0xd01;
  uint64_t dr[8] = {0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400};
  Segment cs, ds, es, ss, fs, gs, tr, ldtr;  // fs/gs bases: authoritative copy is in AsmVcpu
  uint64_t gdt_base = 0, idt_base = 0;
  uint16_t gdt_limit = 0, idt_limit = 0;
  uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0, tsc_aux = 0, pat = 0x0007040600070406ULL;
  uint64_t apic_base = 0xfee00900;
  int64_t tsc_offset = 0;
  bool interrupt_shadow = false;  // sti/mov ss: no interrupt before the next instruction
  bool halted = false;
};

}  // namespace vtb::bt

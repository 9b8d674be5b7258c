// tags: engines|kvm — desc: user-space emulation of the descriptor-inspection instructions (lar, lsl, verr, verw, int n) that kvm_pvm's in-kernel emulator refuses.
#pragma once
#include <linux/kvm.h>

#include <string>

#include "common/guest_memory.h"

namespace vtb::kvm {

// On kvm_pvm every guest CPL0 instruction goes through KVM's instruction
// emulator, which does not implement LAR, LSL, VERR and VERW: KVM_RUN returns
// KVM_EXIT_INTERNAL_ERROR (emulation failure) with the vCPU at the
// instruction. This finishes such an instruction the way a VMM's own
// emulator would: it decodes the bytes at RIP (through the guest's page
// tables), reads the selector's descriptor from the guest's GDT/LDT, applies
// the SDM's type and privilege rules (64-bit mode) and updates the
// destination register, ZF and RIP in `r`.
// The same for `int n` at CPL0 (KVM's emulator delivers software interrupts
// in real mode only): delivered through the guest's IDT gate as the CPU does.
// Returns the mnemonic ("lar", "lsl", "verr", "verw", "int") when it did, or an
// empty string when the instruction is not one of those in a register form
// (the caller keeps the emulation-failure error then).
std::string emulate_descriptor_insn(GuestMemory& mem, const kvm_sregs& s, kvm_regs* r);

}  // namespace vtb::kvm

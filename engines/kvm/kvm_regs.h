// tags: engines|kvm — desc: vtb::Regs <-> kvm_regs/kvm_sregs, the host-built long-mode state, register dumps.
#pragma once
#include <linux/kvm.h>

#include <string>

#include "common/engine.h"
#include "common/regs.h"

namespace vtb::kvm {

void to_vtb(const kvm_regs& r, const kvm_sregs& s, Regs* out);
void from_vtb(const Regs& in, kvm_regs* r, kvm_sregs* s);

// What the kernel's 64-bit entry expects: the shared entry state
// (common/boot_state.h boot_entry_regs) plus the TR/LDTR VMX requires.
// `s` should come from KVM_GET_SREGS first (apic_base etc. are kept).
void long_mode_state(const BootImage& boot, kvm_regs* r, kvm_sregs* s);

// "rip=... rsp=... rflags=... cr0=... cr2=... cr3=... cr4=... efer=... cs=..."
std::string dump(const kvm_regs& r, const kvm_sregs& s);

}  // namespace vtb::kvm

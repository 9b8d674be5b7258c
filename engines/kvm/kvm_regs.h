// tags: engines|kvm — desc: vtb::Regs <-> kvm_regs/kvm_sregs, the host-built long-mode state, register dumps.
#pragma once
#include <linux/kvm.h>

#include <string>

#include "common/engine.h"
#include "common/regs.h"

namespace vtb::kvm {

void to_vtb(const kvm_regs& r, const kvm_sregs& s, Regs* out);
void from_vtb(const Regs& in, kvm_regs* r, kvm_sregs* s);

// What the kernel's 64-bit entry expects (engine.h): long mode, paging on with
// the loader's CR3, the loader GDT (0x08 code64, 0x10 data), IDT empty, IF=0,
// rip = entry, rdi = boot info. `s` should come from KVM_GET_SREGS first.
void long_mode_state(const BootImage& boot, kvm_regs* r, kvm_sregs* s);

// "rip=... rsp=... rflags=... cr0=... cr2=... cr3=... cr4=... efer=... cs=..."
std::string dump(const kvm_regs& r, const kvm_sregs& s);

// Initial stack for the entry (below the boot info page; the kernel sets its own).
constexpr uint64_t kEntryStack = 0x7000;

}  // namespace vtb::kvm

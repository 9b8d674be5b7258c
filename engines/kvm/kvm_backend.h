// tags: engines|kvm — desc: what /dev/kvm is on this host: absent, hardware, kvm_pvm, or nested under TCG.
#pragma once
#include <string>

#include "common/status.h"

namespace vtb::kvm {

// The label every result and `vtb list` line carries:
//   "kvm"            kvm_intel / kvm_amd (hardware assist)
//   "kvm@pvm"        kvm_pvm (software hypervisor: guest CPL0 emulated)
//   "kvm@nested-tcg" inside the nested runner (env VTB_KVM_BACKEND=nested-tcg)
// `sys_module_dir` is normally "/sys/module"; `env_backend` the value of
// VTB_KVM_BACKEND (nullptr when unset). An env value other than "nested-tcg"
// is taken as given: "kvm@<value>".
std::string detect_backend(const std::string& sys_module_dir, const char* env_backend);

// detect_backend("/sys/module", getenv("VTB_KVM_BACKEND")).
std::string host_backend();

// Opens `dev` (normally /dev/kvm) and checks KVM_GET_API_VERSION == 12.
// Unavailable with the reason ("no /dev/kvm on this host: ...") otherwise.
Status probe_dev_kvm(const std::string& dev);

// The device path: $VTB_KVM_DEV or "/dev/kvm".
std::string dev_kvm_path();

}  // namespace vtb::kvm

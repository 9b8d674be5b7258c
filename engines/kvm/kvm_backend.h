// tags: engines|kvm — desc: what /dev/kvm is on this host: absent, hardware, kvm_pvm, or nested under TCG.
#pragma once
#include <string>
#include <vector>

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

// Whether `backend` counts the vCPU statistic `stat` (a KVM_GET_STATS_FD
// name such as "io_exits") when it is exported at all. Measured: kvm_pvm
// exports io_exits but never increments it (its port I/O is finished by the
// instruction emulator, not by the exit handler that counts); halt_exits,
// mmio_exits, exits are counted there. Everything is counted elsewhere.
bool backend_counts_stat(const std::string& backend, const std::string& stat);
// The names of the cumulative vCPU statistics that `dev` exports (a probe VM
// with one vCPU); empty when KVM_GET_STATS_FD is missing or `dev` cannot be used.
std::vector<std::string> exported_vcpu_stats(const std::string& dev);
// The device path: $VTB_KVM_DEV or "/dev/kvm".
std::string dev_kvm_path();

}  // namespace vtb::kvm

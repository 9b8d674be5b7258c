// tags: engines|kvm — desc: the KVM file descriptors of one VM with one vCPU (RAII) and their setup.
#pragma once
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/guest_memory.h"
#include "common/status.h"

namespace vtb::kvm {

struct VmOptions {
  bool kernel_irqchip = false;  // KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2 (env VTB_KVM_IRQCHIP=kernel)
};

// /dev/kvm -> VM (one memslot over all guest RAM) -> vCPU 0 with the host's
// supported CPUID, and its kvm_run page mapped.
class KvmVm {
 public:
  KvmVm() = default;
  ~KvmVm();
  KvmVm(const KvmVm&) = delete;
  KvmVm& operator=(const KvmVm&) = delete;

  Status create(const std::string& dev, GuestMemory& mem, const VmOptions& opt);

  int kvm_fd() const { return kvm_fd_; }
  int vm_fd() const { return vm_fd_; }
  int vcpu_fd() const { return vcpu_fd_; }
  kvm_run* run() const { return run_; }
  bool kernel_irqchip() const { return kernel_irqchip_; }

 private:
  Status set_cpuid();
  int kvm_fd_ = -1, vm_fd_ = -1, vcpu_fd_ = -1;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  bool kernel_irqchip_ = false;
};

}  // namespace vtb::kvm

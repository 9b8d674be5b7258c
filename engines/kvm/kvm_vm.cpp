// tags: engines|kvm — desc: VM/vCPU creation: memslot from GuestMemory, CPUID, optional in-kernel irqchip.
#include "engines/kvm/kvm_vm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "engines/kvm/kvm_uapi.h"

namespace vtb::kvm {

namespace {
Status sys_fail(const char* what) { return Status::host_error(std::string(what) + ": " + std::strerror(errno)); }
}  // namespace

KvmVm::~KvmVm() {
  if (run_) munmap(run_, run_size_);
  if (vcpu_fd_ >= 0) close(vcpu_fd_);
  if (vm_fd_ >= 0) close(vm_fd_);
  if (kvm_fd_ >= 0) close(kvm_fd_);
}

Status KvmVm::create(const std::string& dev, GuestMemory& mem, const VmOptions& opt) {
  kvm_fd_ = open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (kvm_fd_ < 0) return Status::unavailable("cannot open " + dev + ": " + std::strerror(errno));
  if (ioctl(kvm_fd_, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
    return Status::unavailable(dev + ": unexpected KVM API version");
  for (int i = 0; i < 100; ++i) {  // EINTR is possible while a previous VM is torn down
    vm_fd_ = ioctl(kvm_fd_, KVM_CREATE_VM, 0);
    if (vm_fd_ >= 0 || errno != EINTR) break;
  }
  if (vm_fd_ < 0) return sys_fail("KVM_CREATE_VM");
  // Intel-only without unrestricted guest; AMD accepts and ignores it. Never required.
  (void)ioctl(vm_fd_, KVM_SET_TSS_ADDR, 0xfffbd000ul);

  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = mem.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(mem.host());
  if (ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region) < 0) return sys_fail("KVM_SET_USER_MEMORY_REGION");

  if (opt.kernel_irqchip) {
    if (ioctl(vm_fd_, KVM_CREATE_IRQCHIP, 0) < 0) return sys_fail("KVM_CREATE_IRQCHIP");
    kvm_pit_config pit{};
    if (ioctl(vm_fd_, KVM_CREATE_PIT2, &pit) < 0) return sys_fail("KVM_CREATE_PIT2");
    kernel_irqchip_ = true;
  }

  vcpu_fd_ = ioctl(vm_fd_, KVM_CREATE_VCPU, 0);
  if (vcpu_fd_ < 0) return sys_fail("KVM_CREATE_VCPU");
  const int sz = ioctl(kvm_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (sz < static_cast<int>(sizeof(kvm_run))) return sys_fail("KVM_GET_VCPU_MMAP_SIZE");
  run_size_ = static_cast<size_t>(sz);
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd_, 0);
  if (p == MAP_FAILED) return sys_fail("mmap kvm_run");
  run_ = static_cast<kvm_run*>(p);
  return set_cpuid();
}

// The guest sees what this KVM supports (long mode, NX, SSE...). Without it a
// guest wrmsr to EFER.LME/NXE would #GP.
Status KvmVm::set_cpuid() {
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    std::vector<uint8_t> buf(sizeof(uapi::CpuidHeader) + n * sizeof(kvm_cpuid_entry2));
    uapi::CpuidHeader h{n, 0};
    std::memcpy(buf.data(), &h, sizeof h);
    if (ioctl(kvm_fd_, uapi::kGetSupportedCpuid, buf.data()) < 0) {
      if (errno == E2BIG) continue;
      return sys_fail("KVM_GET_SUPPORTED_CPUID");
    }
    if (ioctl(vcpu_fd_, uapi::kSetCpuid2, buf.data()) < 0) return sys_fail("KVM_SET_CPUID2");
    return Status::ok();
  }
  return Status::host_error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

}  // namespace vtb::kvm

// tags: engines|kvm — desc: backend detection (/sys/module, VTB_KVM_BACKEND) and the /dev/kvm probe.
#include "engines/kvm/kvm_backend.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "engines/kvm/kvm_stats.h"

namespace vtb::kvm {

namespace {
bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
}  // namespace

std::string detect_backend(const std::string& sys_module_dir, const char* env_backend) {
  if (env_backend && *env_backend) return std::string("kvm@") + env_backend;
  // kvm_pvm first: only one vendor module can be registered with kvm at a time.
  if (is_dir(sys_module_dir + "/kvm_pvm")) return "kvm@pvm";
  if (is_dir(sys_module_dir + "/kvm_intel") || is_dir(sys_module_dir + "/kvm_amd")) return "kvm";
  return "kvm";  // unknown provider: assume hardware, as /dev/kvm claims
}

std::string host_backend() { return detect_backend("/sys/module", std::getenv("VTB_KVM_BACKEND")); }

bool backend_counts_stat(const std::string& backend, const std::string& stat) {
  if (backend == "kvm@pvm") return stat != "io_exits";
  return true;
}

std::vector<std::string> exported_vcpu_stats(const std::string& dev) {
  std::vector<std::string> names;
  const int kvm = open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (kvm < 0) return names;
  const int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  const int vcpu = vm >= 0 ? ioctl(vm, KVM_CREATE_VCPU, 0) : -1;
  if (vcpu >= 0) {
    StatsReader r;
    if (r.open(vcpu).is_ok()) names = r.names();
    close(vcpu);
  }
  if (vm >= 0) close(vm);
  close(kvm);
  return names;
}

std::string dev_kvm_path() {
  const char* p = std::getenv("VTB_KVM_DEV");
  return (p && *p) ? p : "/dev/kvm";
}

Status probe_dev_kvm(const std::string& dev) {
  int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT)
      return Status::unavailable("no " + dev + " on this host: " + std::strerror(e) +
                                 " (use the nested runner: harness/nested/run_nested.sh)");
    return Status::unavailable("cannot open " + dev + ": " + std::strerror(e));
  }
  const int api = ioctl(fd, KVM_GET_API_VERSION, 0);
  close(fd);
  if (api != KVM_API_VERSION)
    return Status::unavailable(dev + ": KVM API version " + std::to_string(api) + ", need " +
                               std::to_string(KVM_API_VERSION));
  return Status::ok();
}

}  // namespace vtb::kvm

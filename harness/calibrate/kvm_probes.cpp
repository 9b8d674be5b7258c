// tags: harness|calibrate — desc: probes for KVM_RUN round trips, through the kvm engine and vtb::Vm as every workload runs: a port-I/O exit served in user space, and a cpuid exit served in the host kernel.
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "common/loader.h"
#include "common/vm.h"
#include "engines/registry.h"
#include "harness/calibrate/calibrate.h"

namespace vtb::calibrate {

namespace {

constexpr uint64_t kCodeGpa = 0x100000;  // identity-mapped by the loader

void put32(std::vector<uint8_t>& c, size_t at, uint32_t v) { std::memcpy(&c[at], &v, 4); }

// "B 1\n" on the control port, `body` n times, "E 1\n", exit 0: the Vm times phase 1.
std::vector<uint8_t> phased(const std::vector<uint8_t>& body, uint32_t n) {
  std::vector<uint8_t> c;
  auto ctrl = [&c](const char* s) {
    for (; *s; ++s) c.insert(c.end(), {0xb0, uint8_t(*s), 0xe6, VTB_PORT_CTRL});  // mov al, ch; out ctrl, al
  };
  ctrl("B 1\n");
  c.insert(c.end(), {0xbe, 0, 0, 0, 0});  // mov esi, n
  put32(c, c.size() - 4, n);
  c.insert(c.end(), body.begin(), body.end());
  c.insert(c.end(), {0xff, 0xce, 0x75, uint8_t(-int(body.size() + 4))});  // dec esi; jnz body
  ctrl("E 1\n");
  c.insert(c.end(), {0x31, 0xc0, 0xe7, VTB_PORT_EXIT, 0xfa, 0xf4});  // xor eax,eax; out exit,eax; cli; hlt
  return c;
}

// Nanoseconds per iteration of `body` in phase 1 (the end marker's 4 port exits
// are inside the phase; `marker_ns` prices them).
double run_loop(const std::vector<uint8_t>& body, int n, double marker_ns, std::string* err) {
  const EngineInfo* info = find_engine("kvm");
  if (!info) return *err = "the kvm engine is not built into this binary", -1;
  auto engine = info->make();
  const Caps caps = engine->caps();
  if (!caps.available) return *err = caps.available.message(), -1;
  VmConfig cfg;
  cfg.mem_mib = 16;
  cfg.limits.wall = std::chrono::seconds(30);
  Status st;
  auto vm = Vm::create(cfg, std::move(engine), &st);
  if (!vm) return *err = st.message(), -1;
  GuestImage img;
  img.kernel.bytes = phased(body, uint32_t(n));
  img.kernel.entry = kCodeGpa;
  ElfSegment seg;
  seg.vaddr = seg.paddr = kCodeGpa;
  seg.filesz = seg.memsz = img.kernel.bytes.size();
  seg.flags = 5;
  img.kernel.segments.push_back(seg);
  if (Status s = vm->load(img); !s) return *err = s.message(), -1;
  const RunResult r = vm->run();
  if (r.outcome != Outcome::Exited || r.exit_code != 0 || r.phases.size() != 1 || r.phases[0].end_ns == 0)
    return *err = "calibration guest did not finish: " + r.message, -1;
  return (r.phases[0].seconds() * 1e9 - 4 * marker_ns) / n;
}

double g_user_exit_ns = 0;  // the last user-space exit figure: prices the markers of the next probe

double kvm_exit_user(int n, std::string* err) {
  // out 0x80, al: a port-I/O exit served by the Vm's bus in user space.
  const double r = run_loop({0xe6, VTB_PORT_NULL}, n, 0, err);
  // The 4 marker exits are user-space exits too: phase = (n + 4) exits.
  if (r > 0) g_user_exit_ns = r * n / (n + 4);
  return r > 0 ? g_user_exit_ns : r;
}

double kvm_exit_kernel(int n, std::string* err) {
  // xor eax, eax; cpuid: an exit the host kernel serves without returning to user space.
  return run_loop({0x31, 0xc0, 0x0f, 0xa2}, n, g_user_exit_ns, err);
}

}  // namespace

const std::vector<Probe>& kvm_probes() {
  static const std::vector<Probe> p = {
      {"kvm_exit_user", "KVM_RUN round trip for a port-I/O exit served in user space (vtb::Vm + kvm engine)", 10000,
       kvm_exit_user},
      {"kvm_exit_kernel", "a guest CPL0 cpuid served in the host kernel (no return to user space), per exit", 10000,
       kvm_exit_kernel},
  };
  return p;
}

}  // namespace vtb::calibrate

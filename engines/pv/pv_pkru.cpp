// tags: engines|pv — desc: the hardware PKRU port (pkey_* system calls, RDPKRU/WRPKRU, the signal frame's PKRU) and the key guard.
#include "engines/pv/pv_pkru.h"

#include <cpuid.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vtb::pv {
namespace {

constexpr int kXfeaturePkru = 9;
constexpr uint32_t kFpXstateMagic1 = 0x46505853U;  // FP_XSTATE_MAGIC1: the frame is an xsave image

int hw_alloc() {
  const long k = syscall(SYS_pkey_alloc, 0UL, 0UL);
  return k < 0 ? -errno : int(k);
}
void hw_release(int key) { syscall(SYS_pkey_free, long(key)); }
int hw_protect(uint64_t va, uint64_t len, int prot, int key) {
  return syscall(SYS_pkey_mprotect, va, len, long(prot), long(key)) == 0 ? 0 : -errno;
}
uint32_t hw_read() {
  uint32_t eax, edx;
  __asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));  // rdpkru
  return eax;
}
void hw_write(uint32_t pkru) {
  __asm__ volatile(".byte 0x0f,0x01,0xef" ::"a"(pkru), "c"(0), "d"(0) : "memory");  // wrpkru
}
// Offset of the PKRU component in the standard xsave layout (CPUID 0xD.9).
uint32_t pkru_xsave_offset() {
  static const uint32_t off = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid_count(0xd, kXfeaturePkru, &a, &b, &c, &d) && a >= 4 ? b : 0u;
  }();
  return off;
}
void hw_write_frame(void* ucv, uint32_t pkru) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  write_pkru_in_xsave(reinterpret_cast<uint8_t*>(uc->uc_mcontext.fpregs), pkru_xsave_offset(), pkru);
}

const PkruPort kHardware{hw_alloc, hw_release, hw_protect, hw_read, hw_write, hw_write_frame};
const PkruPort* g_port = nullptr;

std::string errno_text(const char* what, int neg_errno) {
  std::string s = std::string(what) + ": " + std::strerror(-neg_errno);
  if (neg_errno == -ENOSPC || neg_errno == -EINVAL || neg_errno == -ENOSYS) s += " (no PKU on this CPU/kernel?)";
  return s;
}

}  // namespace

bool write_pkru_in_xsave(uint8_t* fx, uint32_t pkru_offset, uint32_t pkru) {
  if (!fx || !pkru_offset) return false;
  // The software-reserved bytes of the fxsave area (struct _fpx_sw_bytes at
  // 464): magic1, extended_size, xfeatures (u64 at +8), xstate_size (+16).
  uint32_t magic = 0, size = 0;
  uint64_t features = 0;
  std::memcpy(&magic, fx + 464, 4);
  std::memcpy(&features, fx + 464 + 8, 8);
  std::memcpy(&size, fx + 464 + 16, 4);
  if (magic != kFpXstateMagic1 || !(features & (1ULL << kXfeaturePkru)) || size < pkru_offset + 4) return false;
  std::memcpy(fx + pkru_offset, &pkru, 4);
  uint64_t bv = 0;
  std::memcpy(&bv, fx + 512, 8);  // xsave header: XSTATE_BV (a clear bit would restore PKRU's init value 0)
  bv |= 1ULL << kXfeaturePkru;
  std::memcpy(fx + 512, &bv, 8);
  return true;
}

const PkruPort& hardware_pkru_port() { return kHardware; }
const PkruPort& pkru_port() { return g_port ? *g_port : kHardware; }
void set_pkru_port(const PkruPort* port) { g_port = port; }

PkeyGuard::~PkeyGuard() {
  if (key_ >= 0) pkru_port().release(key_);
}

bool PkeyGuard::available(std::string* why) {
  const int k = pkru_port().alloc();
  if (k < 0) {
    *why = errno_text("pkey_alloc", k);
    return false;
  }
  pkru_port().release(k);
  return true;
}

bool PkeyGuard::init(std::string* why) {
  if (key_ >= 0) return true;
  const int k = pkru_port().alloc();
  if (k < 0) {
    *why = errno_text("pkey_alloc", k);
    return false;
  }
  key_ = k;
  kernel_ = pkru_port().read() & ~pkru_key_bits(k);
  user_ = kernel_ | pkru_key_bits(k);
  return true;
}

bool PkeyGuard::tag(uint64_t va, uint64_t len, int prot, std::string* why) {
  const int r = pkru_port().protect(va, len, prot, key_);
  if (r == 0) return true;
  *why = errno_text("pkey_mprotect", r);
  return false;
}

}  // namespace vtb::pv

// tags: engines|pv — desc: reserve the window, map memfd runs into it, protect ranges.
#include "engines/pv/pv_window.h"

#include "common/clock.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "common/host_events.h"
#include "common/scoped_ns.h"
#include "engines/pv/pv_pkru.h"

namespace vtb::pv {
namespace {
bool g_reserved = false;
int g_holders = 0;  // live PvWindow objects that reserved
constexpr int kNoReserve = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
}  // namespace

bool PvWindow::fail(const char* what, uint64_t va, uint64_t len) {
  if (!error_.empty()) return false;
  char buf[256];
  const int e = errno;
  if (e == ENOMEM)
    std::snprintf(buf, sizeof buf, "%s [0x%llx, +0x%llx): ENOMEM (mapping limit: vm.max_map_count=%llu reached?)", what,
                  (unsigned long long)va, (unsigned long long)len, (unsigned long long)ensure_max_map_count(0));
  else
    std::snprintf(buf, sizeof buf, "%s [0x%llx, +0x%llx): %s", what, (unsigned long long)va, (unsigned long long)len,
                  std::strerror(e));
  error_ = buf;
  return false;
}

PvWindow::~PvWindow() {
  if (holds_ && --g_holders == 0 && g_reserved) {
    munmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_WINDOW_HI - VTB_WINDOW_LO);  // let another engine have it
    g_reserved = false;
  }
}

bool PvWindow::reserve() {
  if (holds_) return true;
  if (g_reserved) {
    holds_ = true;
    ++g_holders;
    return true;
  }
  void* p = mmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_WINDOW_HI - VTB_WINDOW_LO, PROT_NONE,
                 kNoReserve | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return fail("reserve address window", VTB_WINDOW_LO, VTB_WINDOW_HI - VTB_WINDOW_LO);
  if (p != reinterpret_cast<void*>(VTB_WINDOW_LO)) {  // old kernels ignore NOREPLACE
    munmap(p, VTB_WINDOW_HI - VTB_WINDOW_LO);
    errno = EEXIST;
    return fail("reserve address window", VTB_WINDOW_LO, VTB_WINDOW_HI - VTB_WINDOW_LO);
  }
  g_reserved = true;
  holds_ = true;
  ++g_holders;
  return true;
}

bool PvWindow::reset() {
  remote_ = false;
  kernel_pages_.clear();
  return unmap(VTB_WINDOW_LO, VTB_WINDOW_HI - VTB_WINDOW_LO);
}

bool PvWindow::set_user_remote() {
  if (remote_) return true;
  ++map_ops_;
  count_host_range(HostEvent::Mmap, VTB_HOST_RESERVED_KERNEL_LO - VTB_WINDOW_LO);
  void* p = mmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_HOST_RESERVED_KERNEL_LO - VTB_WINDOW_LO, PROT_NONE,
                 kNoReserve | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) return fail("unmap the engine's user half", VTB_WINDOW_LO, VTB_HOST_RESERVED_KERNEL_LO - VTB_WINDOW_LO);
  remote_ = true;
  return true;
}

bool PvWindow::drop_kernel_pages(uint64_t va, uint64_t len) {
  bool ok = true;
  for (auto i = kernel_pages_.lower_bound(va); i != kernel_pages_.end() && *i < va + len;) {
    ++map_ops_;
    count_host_range(HostEvent::Mmap, VTB_PAGE_SIZE);
    if (mmap(reinterpret_cast<void*>(*i), VTB_PAGE_SIZE, PROT_NONE, kNoReserve | MAP_FIXED, -1, 0) == MAP_FAILED)
      ok = fail("unmap kernel-only user-half page", *i, VTB_PAGE_SIZE);
    i = kernel_pages_.erase(i);
  }
  return ok;
}

bool PvWindow::map_kernel_page(uint64_t va, int fd, uint64_t gpa, int prot) {
  ++map_ops_;
  ++kernel_page_maps_;
  count_host_range(HostEvent::Mmap, VTB_PAGE_SIZE);
  void* p = mmap(reinterpret_cast<void*>(va), VTB_PAGE_SIZE, prot, MAP_SHARED | MAP_FIXED, fd, off_t(gpa));
  if (p == MAP_FAILED) return fail("map kernel-only user-half page", va, VTB_PAGE_SIZE);
  kernel_pages_.insert(va);
  return true;
}

bool PvWindow::map_frames(uint64_t va, int fd, uint64_t gpa, uint64_t len, int prot) {
  if (remote_ && va + len <= VTB_HOST_RESERVED_KERNEL_LO) {  // the user process's alone
    if (listener_) listener_->mapped(va, len, gpa, prot);
    return true;
  }
  ++map_ops_;
  count_host_range(HostEvent::Mmap, len);
  void* p = mmap(reinterpret_cast<void*>(va), len, prot, MAP_SHARED | MAP_FIXED, fd, off_t(gpa));
  if (p == MAP_FAILED) return fail("map guest frames", va, len);
  if (listener_ && va < VTB_HOST_RESERVED_KERNEL_LO) listener_->mapped(va, len, gpa, prot);
  return true;
}

bool PvWindow::map_anon(uint64_t va, uint64_t len, int prot) {
  ++map_ops_;
  count_host_range(HostEvent::Mmap, len);
  void* p = mmap(reinterpret_cast<void*>(va), len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  return p != MAP_FAILED || fail("map anonymous page", va, len);
}

bool PvWindow::unmap(uint64_t va, uint64_t len) {
  if (remote_ && va + len <= VTB_HOST_RESERVED_KERNEL_LO) {  // the user process's alone
    if (listener_) listener_->unmapped(va, len);
    return true;
  }
  ++map_ops_;
  count_host_range(HostEvent::Mmap, len);
  void* p = mmap(reinterpret_cast<void*>(va), len, PROT_NONE, kNoReserve | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) return fail("unmap window range", va, len);
  if (listener_ && va < VTB_HOST_RESERVED_KERNEL_LO)
    listener_->unmapped(va, std::min<uint64_t>(va + len, VTB_HOST_RESERVED_KERNEL_LO) - va);
  return true;
}

bool PvWindow::protect(uint64_t va, uint64_t len, int prot) {
  ++protect_ops_;
  count_host_range(HostEvent::Mprotect, len);
  ScopedNs timed(protect_ns_);
  if (key_ >= 0 && va >= VTB_HYPERCALL_VA) {
    const int r = pkru_port().protect(va, len, prot, key_);
    if (r == 0) return true;
    errno = -r;
    return fail("pkey_mprotect window range", va, len);
  }
  return mprotect(reinterpret_cast<void*>(va), len, prot) == 0 || fail("mprotect window range", va, len);
}

uint64_t PvWindow::resident_pages(uint64_t va, uint64_t len) {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t n = 0, buf[512];
  for (uint64_t p = va / VTB_PAGE_SIZE, end = (va + len) / VTB_PAGE_SIZE; p < end;) {
    const uint64_t want = std::min<uint64_t>(end - p, 512);
    const ssize_t got = pread(fd, buf, want * 8, off_t(p * 8));
    if (got <= 0) break;
    for (ssize_t i = 0; i < got / 8; ++i) n += buf[i] >> 63;
    p += uint64_t(got) / 8;
  }
  close(fd);
  return n;
}

uint64_t PvWindow::ensure_max_map_count(uint64_t want) {
  unsigned long long cur = 0;
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%llu", &cur) != 1) cur = 0;
    std::fclose(f);
  }
  if (want && cur && cur < want) {
    if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "w")) {
      std::fprintf(f, "%llu\n", (unsigned long long)want);
      if (std::fclose(f) == 0) cur = want;
    }
  }
  return cur;
}

}  // namespace vtb::pv

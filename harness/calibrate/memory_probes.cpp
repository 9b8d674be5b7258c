// tags: harness|calibrate — desc: probes for host memory-map changes as the engines make them: one-page mmap of a memfd page (with and without first touch), mprotect per page and per range, munmap, madvise.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/clock.h"
#include "harness/calibrate/calibrate.h"

namespace vtb::calibrate {

namespace {

constexpr size_t kPage = 4096;
constexpr int kRange = 64;  // pages of the per-range mprotect
// pv's guest-kernel protection as pv@mprotect does it (engines/pv/pv_mmu.cpp, protect_kernel and
// unprotect_kernel; docs/pv.md): a one-page hypercall window below a MAP_SHARED memfd map of guest
// memory; on the way to guest user mode one mprotect(NONE) over both, on the way back to the kernel
// one mprotect(RWX) over both again (the hypercall page comes back with the direct map) and one
// mprotect(READ) per run of page-table frames (one run in micro_syscall: kTableRun pages). The map's
// resident pages as measured in pv's micro_syscall (/proc/PID/pagemap: 85 of 16384, in the 2 MiB
// chunks 0, 1, 2 and the last one), so page-table walks and VMA splits and merges are pv's. Between
// the two halves the guest and the engine run and leave the caches to the next calls: the probe
// sweeps 4 MiB (Zen 4: 1 MiB L2 per core) there, untimed. One event is one call (three per cycle);
// the analysis fits cost = a + b x pages over the three sizes.
constexpr int kPvCallsPerCycle = 3;
constexpr int kTablePage = 1536;  // the page-table frames' run: its first page (outside the resident chunks)
constexpr int kTableRun = 451;    // and its length (pv micro_syscall: 33221 pages per 3.04 calls = 2 x 16385 + 451)
constexpr size_t kBetweenSweep = size_t(4) << 20;

// A memfd of `pages` pages and a PROT_NONE reservation of the same size: the
// shape of guest memory and the engines' address window.
struct Arena {
  int fd = -1;
  char* base = nullptr;
  size_t len = 0;
  Arena(int pages, std::string* err) : len(size_t(pages) * kPage) {
    fd = memfd_create("vtb-calibrate", MFD_CLOEXEC);
    // Allocated up front: the engines map guest frames that already exist, so a
    // first touch is a minor fault, not an allocation.
    if (fd < 0 || ftruncate(fd, off_t(len)) != 0 || fallocate(fd, 0, 0, off_t(len)) != 0) {
      *err = std::string("memfd: ") + std::strerror(errno);
      return;
    }
    void* p = mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      *err = std::string("mmap: ") + std::strerror(errno);
      return;
    }
    base = static_cast<char*>(p);
  }
  ~Arena() {
    if (base) munmap(base, len);
    if (fd >= 0) close(fd);
  }
  bool ok() const { return base != nullptr; }
  bool map_all() { return mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED; }
};

double map_pages(int n, std::string* err, bool touch) {
  Arena a(n, err);
  if (!a.ok()) return -1;
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) {
    char* p = a.base + size_t(i) * kPage;
    if (mmap(p, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, a.fd, off_t(size_t(i) * kPage)) == MAP_FAILED)
      return *err = std::string("mmap: ") + std::strerror(errno), -1;
    if (touch) *reinterpret_cast<volatile char*>(p) = 1;
  }
  return double(monotonic_ns() - t0) / n;
}

double mmap_page(int n, std::string* err) { return map_pages(n, err, false); }
double mmap_touch(int n, std::string* err) { return map_pages(n, err, true); }

// `n` calls of `call(arena, i)` (0 = success) on an arena of `pages` pages, mapped and with every
// `stride`-th page touched: ns per call, or -1 with *err naming `what`.
template <class Call>
double per_call(int n, int pages, int stride, const char* what, std::string* err, Call call) {
  Arena a(pages, err);
  if (!a.ok()) return -1;
  if (!a.map_all()) return *err = std::string("mmap: ") + std::strerror(errno), -1;
  for (size_t o = 0; o < a.len; o += kPage * size_t(stride)) *reinterpret_cast<volatile char*>(a.base + o) = 1;
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i)
    if (call(a, i) != 0) return *err = std::string(what) + ": " + std::strerror(errno), -1;
  return double(monotonic_ns() - t0) / n;
}

char* page_of(const Arena& a, int i) { return a.base + size_t(i) * kPage; }
int toggle(const Arena& a, int i) { return mprotect(a.base, a.len, (i & 1) ? PROT_READ | PROT_WRITE : PROT_NONE); }

double mprotect_page(int n, std::string* err) {
  return per_call(n, n, 1, "mprotect", err, [](Arena& a, int i) { return mprotect(page_of(a, i), kPage, PROT_READ); });
}

double mprotect_range(int n, std::string* err) { return per_call(n, kRange, 1, "mprotect", err, toggle); }

template <int Pages>
double mprotect_pv(int n, std::string* err) {
  Arena a(Pages + 1, err);  // page 0: the hypercall window; the memfd map from page 1
  if (!a.ok()) return -1;
  char* const map = a.base + kPage;
  const size_t len = size_t(Pages) * kPage;
  if (mmap(map, len, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED | MAP_FIXED, a.fd, 0) == MAP_FAILED)
    return *err = std::string("mmap: ") + std::strerror(errno), -1;
  const int resident[][2] = {{7, 19}, {784, 18}, {1168, 47}, {Pages - 1, 1}};  // first page, count
  for (const auto& r : resident)
    for (int i = 0; i < r[1]; ++i) map[size_t(r[0] + i) * kPage] = 1;
  const int cycles = std::max(1, n / kPvCallsPerCycle);
  std::vector<char> sweep(kBetweenSweep);
  auto run_between = [&] {  // the guest and the engine run between the two halves (untimed)
    for (size_t o = 0; o < sweep.size(); o += 64) sweep[o]++;
  };
  uint64_t ns = 0;
  for (int c = 0; c < cycles; ++c) {
    uint64_t t0 = monotonic_ns();
    bool ok = mprotect(a.base, kPage + len, PROT_NONE) == 0;
    ns += monotonic_ns() - t0;
    run_between();
    t0 = monotonic_ns();
    ok = mprotect(a.base, kPage + len, PROT_READ | PROT_WRITE | PROT_EXEC) == 0 && ok;
    ok = mprotect(map + size_t(kTablePage) * kPage, size_t(kTableRun) * kPage, PROT_READ) == 0 && ok;
    ns += monotonic_ns() - t0;
    run_between();
    if (!ok) return *err = std::string("mprotect: ") + std::strerror(errno), -1;
  }
  return double(ns) / (cycles * kPvCallsPerCycle);
}

double munmap_page(int n, std::string* err) {
  return per_call(n, n, 1, "munmap", err, [](Arena& a, int i) { return munmap(page_of(a, i), kPage); });
}

double madvise_page(int n, std::string* err) {
  return per_call(n, n, 1, "madvise", err,
                  [](Arena& a, int i) { return madvise(page_of(a, i), kPage, MADV_DONTNEED); });
}

}  // namespace

const std::vector<Probe>& memory_probes() {
  static const std::vector<Probe> p = {
      {"mmap", "mmap one allocated memfd page MAP_FIXED over a reservation, not touched", 3000, mmap_page},
      {"mmap_touch", "mmap one allocated memfd page MAP_FIXED, then its first touch (a minor host page fault)", 3000, mmap_touch},
      {"mprotect", "mprotect one touched page (a 1-page range)", 3000, mprotect_page},
      {"mprotect_range64", "mprotect a touched 64-page range (NONE/RW alternately)", 3000, mprotect_range},
      {"mprotect_pv3_4096", "one of pv@mprotect's three mprotect calls per protection cycle, 16 MiB guest map",
       900, mprotect_pv<4096>},
      {"mprotect_pv3_16384", "one of pv@mprotect's three mprotect calls per protection cycle, 64 MiB guest map",
       900, mprotect_pv<16384>},
      {"mprotect_pv3_65536", "one of pv@mprotect's three mprotect calls per protection cycle, 256 MiB guest map",
       900, mprotect_pv<65536>},
      {"munmap", "munmap one touched shared page", 3000, munmap_page},
      {"madvise", "madvise(MADV_DONTNEED) one touched shared page", 3000, madvise_page},
  };
  return p;
}

}  // namespace vtb::calibrate

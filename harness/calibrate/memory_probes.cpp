// tags: harness|calibrate — desc: probes for host memory-map changes as the engines make them: one-page mmap of a memfd page (with and without first touch), mprotect per page and per range, munmap, madvise.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "harness/calibrate/calibrate.h"

namespace vtb::calibrate {

namespace {

constexpr size_t kPage = 4096;
constexpr int kRange = 64;  // pages of the per-range mprotect
constexpr int kSparse = 8192;      // pages (32 MiB) of the sparse mprotect ...
constexpr int kSparseStride = 128;  // ... of which every 128th is present (64 pages)

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

// A large, sparsely populated range: the shape of pv's guest-kernel protection
// (megabytes of window, a few pages present).
double mprotect_sparse(int n, std::string* err) { return per_call(n, kSparse, kSparseStride, "mprotect", err, toggle); }

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
      {"mprotect_sparse", "mprotect a 32 MiB range with 64 touched pages (NONE/RW alternately)", 1000,
       mprotect_sparse},
      {"munmap", "munmap one touched shared page", 3000, munmap_page},
      {"madvise", "madvise(MADV_DONTNEED) one touched shared page", 3000, madvise_page},
  };
  return p;
}

}  // namespace vtb::calibrate

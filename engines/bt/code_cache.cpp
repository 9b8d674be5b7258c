// tags: engines|bt — desc: W^X translation cache (memfd, RW alias + RX view).
#include "engines/bt/code_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace vtb::bt {

CodeCache::~CodeCache() {
  if (rw_) munmap(rw_, size_);
  // Put the reservation back rather than leaving a hole in the window.
  if (exec_)
    mmap(reinterpret_cast<void*>(exec_), size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (fd_ >= 0) close(fd_);
}

Status CodeCache::init(uint64_t exec_base, size_t size, bool exec) {
  fd_ = memfd_create("vtb-bt-tc", MFD_CLOEXEC);
  if (fd_ < 0) return Status::host_error(std::string("bt: memfd_create: ") + strerror(errno));
  if (ftruncate(fd_, off_t(size)) != 0) return Status::host_error(std::string("bt: ftruncate tc: ") + strerror(errno));
  void* rw = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_, 0);
  if (rw == MAP_FAILED) return Status::host_error(std::string("bt: mmap tc alias: ") + strerror(errno));
  rw_ = static_cast<uint8_t*>(rw);
  void* x = mmap(reinterpret_cast<void*>(exec_base), size, PROT_READ | (exec ? PROT_EXEC : 0),
                 MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd_, 0);
  if (x == MAP_FAILED) return Status::host_error(std::string("bt: mmap tc exec view: ") + strerror(errno));
  exec_ = exec_base;
  top_ = exec_base;
  size_ = size;
  return Status::ok();
}

uint64_t CodeCache::alloc(size_t n) {
  n = (n + 15) & ~size_t(15);
  if (top_ + n > exec_ + size_) return 0;
  uint64_t a = top_;
  top_ += n;
  return a;
}

void CodeCache::reset(uint64_t keep) { top_ = exec_ + ((keep + 15) & ~uint64_t(15)); }

}  // namespace vtb::bt

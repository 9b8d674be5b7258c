// tags: common|memory — desc: memfd-backed guest-physical RAM.
#include "common/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vtb {

std::unique_ptr<GuestMemory> GuestMemory::create(size_t bytes, Status* err) {
  if (bytes == 0 || bytes % 4096 != 0) {
    if (err) *err = Status::bad_input("guest memory size must be a non-zero multiple of 4096 bytes");
    return nullptr;
  }
  int fd = memfd_create("vtb-guest-ram", MFD_CLOEXEC);
  if (fd < 0) {
    if (err) *err = Status::host_error(std::string("memfd_create: ") + std::strerror(errno));
    return nullptr;
  }
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    if (err) *err = Status::host_error(std::string("ftruncate guest memory: ") + std::strerror(errno));
    close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    if (err) *err = Status::host_error(std::string("mmap guest memory: ") + std::strerror(errno));
    close(fd);
    return nullptr;
  }
  if (err) *err = Status::ok();
  return std::unique_ptr<GuestMemory>(new GuestMemory(fd, static_cast<uint8_t*>(p), bytes));
}

GuestMemory::~GuestMemory() {
  if (base_) munmap(base_, size_);
  if (fd_ >= 0) close(fd_);
}

uint8_t* GuestMemory::ptr(uint64_t gpa, size_t len) const {
  return contains(gpa, len) ? base_ + gpa : nullptr;
}

bool GuestMemory::read(uint64_t gpa, void* out, size_t len) const {
  if (!contains(gpa, len)) return false;
  std::memcpy(out, base_ + gpa, len);
  return true;
}

bool GuestMemory::write(uint64_t gpa, const void* in, size_t len) {
  if (!contains(gpa, len)) return false;
  std::memcpy(base_ + gpa, in, len);
  return true;
}

}  // namespace vtb

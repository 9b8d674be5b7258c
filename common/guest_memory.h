// tags: common|memory — desc: guest-physical RAM backed by one memfd.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/status.h"

namespace vtb {

// Guest-physical memory [0, size). One memfd; the host mapping `host()` is
// MAP_SHARED so engines may map the same pages again elsewhere (the bt/pv
// window, a KVM memslot) from fd() at offset = gpa. Memory starts zeroed.
class GuestMemory {
 public:
  static std::unique_ptr<GuestMemory> create(size_t bytes, Status* err);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  size_t size() const { return size_; }
  int fd() const { return fd_; }
  uint8_t* host() const { return base_; }

  // Bounds-checked: nullptr when [gpa, gpa+len) is not inside RAM.
  uint8_t* ptr(uint64_t gpa, size_t len) const;
  bool contains(uint64_t gpa, size_t len) const { return gpa <= size_ && len <= size_ - gpa; }
  bool read(uint64_t gpa, void* out, size_t len) const;
  bool write(uint64_t gpa, const void* in, size_t len);
  template <class T> bool read_obj(uint64_t gpa, T* out) const { return read(gpa, out, sizeof(T)); }
  template <class T> bool write_obj(uint64_t gpa, const T& v) { return write(gpa, &v, sizeof(T)); }

 private:
  GuestMemory(int fd, uint8_t* base, size_t size) : fd_(fd), base_(base), size_(size) {}
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace vtb

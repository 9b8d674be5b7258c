// tags: engines|bt — desc: how the bt runtime reaches guest memory: code fetch, emulator accesses, host-fault triage.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vtb::bt {

struct GuestFaultInfo {
  uint8_t vector = 14;
  uint32_t error = 0;
  uint64_t addr = 0;  // CR2 for #PF
};

// bt-softmmu: where a guest access of n bytes at a VA lands in host memory
// (one piece, or two when it crosses into a page of another frame).
struct SoftAccess {
  uint8_t* p0 = nullptr;  // host address of the first byte
  uint8_t* p1 = nullptr;  // host address of the first byte on the second page (crossing only)
  size_t n0 = 0;          // bytes on the first page
  uint64_t gpa0 = 0;      // frame of the first page (TLB bookkeeping)
  bool cacheable = false;  // one page: an inline TLB entry may be installed
  bool writable = false;   // ...and it may serve stores (writable, dirty, no translated code on the frame)
  bool global = false;     // the leaf has G (kept across CR3 loads while CR4.PGE is set)
  uint8_t level = 1;       // the leaf's level: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB (invlpg drops the whole page)
};

enum class HostFaultAction {
  Retry,   // fixed (page mirrored, write-protection lifted...): re-run the faulting instruction
  Guest,   // a true guest fault: deliver `GuestFaultInfo`
  Unknown, // not a guest address: an engine error
  TracedWrite,  // a store to a write-traced frame (a guest page table): emulate it, then continue
};

// Implemented by the flat test memory and by the shadow MMU (bt engine).
class GuestAccess {
 public:
  virtual ~GuestAccess() = default;
  // Guest code bytes at `va` (fetch with the current CPL). Returns the number
  // of bytes copied; fewer than `n` when a page boundary is not executable.
  virtual size_t fetch(uint64_t va, uint8_t* out, size_t n, bool user) = 0;
  // Emulator accesses on behalf of the guest (supervisor unless `user`).
  virtual bool read(uint64_t va, void* out, size_t n, bool user, GuestFaultInfo* f) = 0;
  virtual bool write(uint64_t va, const void* in, size_t n, bool user, GuestFaultInfo* f) = 0;
  // Why code at `va` could not be fetched (the #PF to deliver).
  virtual GuestFaultInfo fetch_fault(uint64_t va, bool user) {
    GuestFaultInfo f;
    f.vector = 14;
    f.error = 0x10 | (user ? 4 : 0);
    f.addr = va;
    return f;
  }
  // A host SIGSEGV at `va` from translated guest code.
  virtual HostFaultAction host_fault(uint64_t va, bool write, bool user, GuestFaultInfo* f) = 0;
  // An instruction fetch by directly executed guest user code faulted at `va`.
  virtual HostFaultAction host_fetch_fault(uint64_t va, bool user, GuestFaultInfo* f) {
    *f = fetch_fault(va, user);
    return HostFaultAction::Guest;
  }
  // Is the frame behind `va` write-traced (a guest page table)?
  virtual bool traced(uint64_t /*va*/) { return false; }
  // Stop tracing writes to the frame behind `va` (the store cannot be emulated).
  virtual void drop_write_trace(uint64_t /*va*/) {}
  // The guest frame of the code page at `va` as a fetch at CPL 3 (`user`) or
  // 0 sees it now, without side effects; false when it cannot be fetched.
  // The default (flat test memory): the identity, where a byte can be fetched.
  virtual bool code_frame(uint64_t va, bool user, uint64_t* gpa) {
    uint8_t b;
    *gpa = va & ~uint64_t(0xfff);
    return fetch(va, &b, 1, user) == 1;
  }
  // bt-softmmu: resolve an access through the guest's tables (A/D set as the
  // access would), with every check of the access made before anything else;
  // a store to a frame holding translations invalidates them first. false:
  // the fault to deliver is in *f. The default: not supported.
  virtual bool soft_fill(uint64_t /*va*/, size_t /*n*/, bool /*write*/, bool /*user*/, SoftAccess* /*out*/,
                         GuestFaultInfo* f) {
    f->vector = 14;
    f->error = 0;
    return false;
  }
  // Address-space events.
  virtual void set_cr3(uint64_t /*cr3*/) {}
  virtual void invlpg(uint64_t /*va*/) {}
  virtual void set_user_mode(bool /*user*/) {}
};

}  // namespace vtb::bt

// tags: engines|pv — desc: the host address window where guest virtual = host virtual.
#pragma once
#include <cstdint>
#include <set>
#include <string>

namespace vtb::pv {

// Told of every change of the user half of the window (pv@2as: the user
// process replays them). Ranges are clipped to the user half.
struct WindowListener {
  virtual ~WindowListener() = default;
  virtual void mapped(uint64_t va, uint64_t len, uint64_t gpa, int prot) = 0;
  virtual void unmapped(uint64_t va, uint64_t len) = 0;
};

// The window [VTB_WINDOW_LO, VTB_WINDOW_HI) is reserved PROT_NONE by the
// first PvWindow and released when the last one goes. All mapping calls check their result; the first failure is kept in
// error() (ENOMEM names vm.max_map_count).
class PvWindow {
 public:
  PvWindow() = default;
  ~PvWindow();  // the last holder gives the window back (another engine may take it)
  PvWindow(const PvWindow&) = delete;
  PvWindow& operator=(const PvWindow&) = delete;
  // Reserve the window. False (with error()) when something already lives there.
  bool reserve();
  // Drop every mapping inside the window (PROT_NONE again).
  bool reset();
  bool map_frames(uint64_t va, int fd, uint64_t gpa, uint64_t len, int prot);
  bool map_anon(uint64_t va, uint64_t len, int prot);
  bool unmap(uint64_t va, uint64_t len);  // back to reserved PROT_NONE
  bool protect(uint64_t va, uint64_t len, int prot);
  // pv@pkeys: protect() of the kernel half ([VTB_HYPERCALL_VA, ...): the
  // range tagged with the key) goes through the PKRU port as pkey_mprotect
  // with `key`, which keeps the key explicit (and lets the tests' shim see
  // every protection it emulates). -1: plain mprotect.
  void set_protect_key(int key) { key_ = key; }

  void set_listener(WindowListener* l) { listener_ = l; }

  // pv@2as after the guest kernel's vm_assist(direct user access): the user
  // half [VTB_WINDOW_LO, VTB_HOST_RESERVED_KERNEL_LO) lives only in the user
  // process. set_user_remote() unmaps this process's user half once for
  // real (the listener is not told: the user process keeps its mappings);
  // from then on map_frames/unmap there only tell the listener (no mmap, not
  // in map_ops). reset() ends the mode.
  bool set_user_remote();
  bool user_remote() const { return remote_; }
  // Remote mode: one kernel-only page of the user half that the guest kernel
  // itself runs or reads (tbk's census trampoline), mapped here for real
  // until PvMmu syncs a range that holds it (drop_kernel_pages).
  bool map_kernel_page(uint64_t va, int fd, uint64_t gpa, int prot);
  uint64_t kernel_pages_mapped() const { return kernel_page_maps_; }
  // Remote mode: drop the kernel-only pages mapped in [va, va + len) (their
  // entries changed; the next kernel fault maps what they say now).
  bool drop_kernel_pages(uint64_t va, uint64_t len);

  uint64_t map_ops() const { return map_ops_; }
  uint64_t protect_ops() const { return protect_ops_; }
  uint64_t protect_ns() const { return protect_ns_; }  // host time in protect() (mprotect)
  const std::string& error() const { return error_; }
  void clear_error() { error_.clear(); }

  // Pages of [va, va + len) that have a present host PTE in this process
  // (/proc/self/pagemap, bit 63): what an mprotect of the range walks.
  // 0 when pagemap is unreadable.
  static uint64_t resident_pages(uint64_t va, uint64_t len);

  // vm.max_map_count: raise it to `want` if lower (we may be root). Returns
  // the value in force afterwards; 0 when unreadable.
  static uint64_t ensure_max_map_count(uint64_t want);

 private:
  bool fail(const char* what, uint64_t va, uint64_t len);
  bool holds_ = false;
  bool remote_ = false;
  std::set<uint64_t> kernel_pages_;  // remote mode: user-half pages mapped here for the kernel
  uint64_t kernel_page_maps_ = 0;
  WindowListener* listener_ = nullptr;
  int key_ = -1;
  uint64_t map_ops_ = 0, protect_ops_ = 0, protect_ns_ = 0;
  std::string error_;
};

}  // namespace vtb::pv

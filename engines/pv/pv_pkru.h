// tags: engines|pv — desc: memory protection keys for the pv kernel range: the PKRU port (replaceable in tests) and the key guard.
#pragma once
#include <cstdint>
#include <string>

namespace vtb::pv {

// Every PKU operation of the engine goes through this port, so that the
// transition logic can be tested on a CPU without PKU (a shim records the
// values) while the real-hardware path uses the instructions.
struct PkruPort {
  int (*alloc)();                                                 // pkey_alloc: key, or -errno
  void (*release)(int key);                                       // pkey_free
  int (*protect)(uint64_t va, uint64_t len, int prot, int key);   // pkey_mprotect: 0 or -errno
  uint32_t (*read)();                                             // RDPKRU
  void (*write)(uint32_t pkru);                                   // WRPKRU
  // PKRU in the xsave area of a signal frame (sigreturn restores PKRU from
  // it; the kernel resets PKRU to its default on signal delivery).
  void (*write_frame)(void* ucontext, uint32_t pkru);
};
const PkruPort& hardware_pkru_port();
// Put `pkru` into a signal frame's xsave image `fx` (uc_mcontext.fpregs),
// PKRU at `pkru_offset` (CPUID 0xD.9): only when the image says it holds
// PKRU. True when written.
bool write_pkru_in_xsave(uint8_t* fx, uint32_t pkru_offset, uint32_t pkru);
// The port in use (tests install a shim; nullptr = the hardware port).
const PkruPort& pkru_port();
void set_pkru_port(const PkruPort* port);

// PKRU bits of one key: access-disable (bit 2k) and write-disable (2k+1).
constexpr uint32_t pkru_key_bits(int key) { return 3u << (2 * key); }

// One key over the guest-kernel range [va, va + len): guest user code runs
// with the key's access disabled, the guest kernel (and the engine) with it
// enabled.
class PkeyGuard {
 public:
  PkeyGuard() = default;
  ~PkeyGuard();
  PkeyGuard(const PkeyGuard&) = delete;
  PkeyGuard& operator=(const PkeyGuard&) = delete;
  // Can this process allocate a key at all? (probe: allocate + free)
  static bool available(std::string* why);
  bool init(std::string* why);  // allocate the key (idempotent)
  // Tag [va, va + len) with the key, protection `prot`.
  bool tag(uint64_t va, uint64_t len, int prot, std::string* why);
  int key() const { return key_; }
  uint32_t user_pkru() const { return user_; }
  uint32_t kernel_pkru() const { return kernel_; }

 private:
  int key_ = -1;
  uint32_t user_ = 0, kernel_ = 0;
};

}  // namespace vtb::pv

// tags: common — desc: Syscall User Dispatch helpers (inclusive mode prctl, availability probe).
#include "common/sud.h"

#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <thread>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef PR_SYS_DISPATCH_OFF
#define PR_SYS_DISPATCH_OFF 0
#endif
#define VTB_PR_SYS_DISPATCH_INCLUSIVE_ON 2  // Linux >= 6.17; Debian 12's headers lack it

namespace vtb {

bool sud_enable_inclusive(uint64_t lo, uint64_t len, std::string* err) {
  if (prctl(PR_SET_SYSCALL_USER_DISPATCH, VTB_PR_SYS_DISPATCH_INCLUSIVE_ON, lo, len, 0) == 0) return true;
  if (err) *err = std::string("Syscall User Dispatch (inclusive mode, Linux >= 6.17): ") + std::strerror(errno);
  return false;
}

void sud_disable() { prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0); }

bool sud_inclusive_available(std::string* why) {
  static int state = -1;
  static std::string reason;
  if (state < 0) {
    int ok = 0;
    std::thread t([&] {
      ok = sud_enable_inclusive(0x10000, 0x1000, nullptr);
      if (!ok) reason = std::string("Syscall User Dispatch inclusive mode unavailable (needs Linux >= 6.17): ") +
                        std::strerror(errno);
      else sud_disable();
    });
    t.join();
    state = ok;
  }
  if (why) *why = reason;
  return state == 1;
}

}  // namespace vtb

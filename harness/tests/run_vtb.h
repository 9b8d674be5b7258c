// tags: harness|tests — desc: test helpers: run the vtb binary, find the built images, skip when absent.
#pragma once
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "harness/peer_process.h"
#include "harness/runner.h"

namespace vtb::test {

struct VtbRun {
  int code = -1;         // exit status; -1 when killed by a signal
  std::string out, err;
  int signal = 0;
};

inline VtbRun run_vtb(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                      int timeout_s = 120, const std::string& binary = VTB_BIN) {
  PeerSpawn s;
  s.argv = {binary};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.env_add = env;
  s.ctrl_fd = -1;
  s.timeout = std::chrono::seconds(timeout_s);
  PeerOutcome o = run_peer(s);
  VtbRun r;
  r.out = o.console;
  r.err = o.err;
  r.code = o.exited ? o.exit_status : -1;
  r.signal = o.term_signal;
  return r;
}

inline bool file_exists(const std::string& p) {
  struct stat st;
  return !p.empty() && stat(p.c_str(), &st) == 0;
}

// Skips the calling test when the kernel or archive is not built.
#define VTB_REQUIRE_IMAGES()                                                                   \
  do {                                                                                         \
    if (!::vtb::test::file_exists(::vtb::default_kernel_path(false)))                          \
      GTEST_SKIP() << "kernel not built: " << ::vtb::default_kernel_path(false);               \
    if (!::vtb::test::file_exists(::vtb::default_archive_path()))                              \
      GTEST_SKIP() << "program archive not built: " << ::vtb::default_archive_path();          \
  } while (0)

}  // namespace vtb::test

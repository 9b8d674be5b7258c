// tags: common|tests — desc: test support shared by the engines' kernel tests: find the built tbk kernel + program archive and boot a command line on an engine through vtb::Vm.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/loader.h"
#include "common/vm.h"

namespace vtb::test {

inline std::string env_or(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : dflt;
}

// The kernel and archive: $VTB_KERNEL_ELF / $VTB_ARCHIVE (the nested runner
// sets both inside its guest), else the build's paths. False (with the
// reason) when either is not readable.
inline bool find_tbk(const char* built_kernel, const char* built_archive, std::string* kernel, std::string* archive,
                     std::string* why) {
  *kernel = env_or("VTB_KERNEL_ELF", built_kernel);
  *archive = env_or("VTB_ARCHIVE", built_archive);
  if (access(kernel->c_str(), R_OK) == 0 && access(archive->c_str(), R_OK) == 0) return true;
  *why = "guest kernel/archive not built (" + *kernel + ", " + *archive + "); set VTB_KERNEL_ELF and VTB_ARCHIVE";
  return false;
}

// Boots the native-flavor `kernel` with `archive` and `cmdline` on `engine`,
// bounded by `wall`; host-side problems are gtest failures (and an empty result).
inline RunResult run_tbk(std::unique_ptr<Engine> engine, const std::string& kernel, const std::string& archive,
                         const std::string& cmdline, std::chrono::seconds wall) {
  GuestImage img;
  std::vector<uint8_t> bytes;
  Status s = read_file(kernel, &bytes);
  EXPECT_TRUE(s.is_ok()) << s.message();
  s = parse_elf(std::move(bytes), kernel, &img.kernel);
  EXPECT_TRUE(s.is_ok()) << s.message();
  s = read_file(archive, &img.archive);
  EXPECT_TRUE(s.is_ok()) << s.message();
  img.cmdline = cmdline;
  img.flavor = Flavor::Native;
  VmConfig cfg;
  cfg.limits.wall = wall;
  Status err;
  auto vm = Vm::create(cfg, std::move(engine), &err);
  EXPECT_TRUE(vm) << err.message();
  if (!vm) return {};
  s = vm->load(img);
  EXPECT_TRUE(s.is_ok()) << s.message();
  if (!s) return {};
  return vm->run();
}

}  // namespace vtb::test

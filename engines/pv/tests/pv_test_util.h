// tags: engines|pv|tests — desc: helpers to boot a pv guest ELF in a Vm and collect the result.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "common/loader.h"
#include "common/vm.h"
#include "engines/pv/pv_engine.h"

namespace vtb::pv::test {

// Fills *out and returns true, or returns false with a skip reason.
inline bool run_pv(const std::string& elf, const std::string& cmdline, const std::vector<uint8_t>& archive,
                   std::chrono::milliseconds wall, RunResult* out, std::string* skip, PvOptions opts = {},
                   size_t mem_mib = 16) {
  // Unforced: the mode VTB_PV_PROTECT names (ctest runs the suite in pv@2as too).
  if (!opts.protect && opts.protect_kernel && opts.config_error.empty()) pv_protect_mode_from_env(&opts);
  auto eng = make_pv_engine(opts);
  const Caps caps = eng->caps();
  if (!caps.available) {
    *skip = caps.available.message();
    return false;
  }
  VmConfig cfg;
  cfg.mem_mib = mem_mib;
  cfg.limits.wall = wall;
  Status st;
  auto vm = Vm::create(cfg, std::move(eng), &st);
  EXPECT_TRUE(vm) << st.message();
  if (!vm) return false;
  std::vector<uint8_t> bytes;
  st = read_file(elf, &bytes);
  EXPECT_TRUE(st) << st.message();
  GuestImage img;
  st = parse_elf(std::move(bytes), elf, &img.kernel);
  EXPECT_TRUE(st) << st.message();
  img.archive = archive;
  img.cmdline = cmdline;
  img.flavor = Flavor::Pv;
  st = vm->load(img);
  EXPECT_TRUE(st) << st.message();
  if (!st) return false;
  *out = vm->run();
  return true;
}

// Boot tbk (pv flavour) with the programs archive: *skip empty when it ran.
inline RunResult boot_tbk(const std::string& cmdline, std::string* skip, PvOptions opts = {}) {
  RunResult r;
  const std::string elf = TBK_PV_ELF;
  if (elf.empty() || !std::ifstream(elf).good() || !std::ifstream(TBK_ARCHIVE).good()) {
    *skip = "tbk.pv.elf or programs.vtba not built";
    return r;
  }
  std::vector<uint8_t> archive;
  EXPECT_TRUE(read_file(TBK_ARCHIVE, &archive));
  if (!run_pv(elf, cmdline, archive, std::chrono::seconds(120), &r, skip, opts, 64)) return r;
  skip->clear();
  return r;
}

}  // namespace vtb::pv::test

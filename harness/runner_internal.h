// tags: harness|runner — desc: internals shared by the runner's parts (engine path, qemu-tcg and native peers).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "common/loader.h"
#include "harness/manifest.h"
#include "harness/runner.h"

namespace vtb::harness {

// Everything resolved before a run: the workload, its parameters, paths.
struct Prepared {
  const Workload* workload = nullptr;
  std::string command_line;        // "program arg..."
  std::vector<std::string> argv;   // command_line split
  std::string kernel_path, archive_path, native_dir;
  std::chrono::milliseconds timeout{0};
  size_t mem_mib = 0;
  bool echo_console = false;
  // Loaded and validated before dispatch (not for the native peer).
  ElfImage kernel;
  std::vector<uint8_t> archive;
  // The engine instance probed for caps, handed to the Vm: in-process
  // engines own the guest address window, so there is never a second one.
  std::unique_ptr<Engine> engine;
};

// Validates a program archive (struct vtb_archive_header ...); on success
// fills `names` with its entries.
Status validate_archive(const std::vector<uint8_t>& bytes, const std::string& what, std::vector<std::string>* names);
// Reads and validates the archive and checks it holds `program`.
Status check_archive(const std::string& path, const std::string& program, std::vector<uint8_t>* bytes);
// Reads and validates the kernel ELF (bad input on any problem).
Status check_kernel(const std::string& path, const char* flavor, ElfImage* out);

void run_on_engine(Prepared& p, RunReport* r);   // a registered engine through vtb::Vm
void run_on_qemu(const Prepared& p, RunReport* r);     // the qemu-tcg peer
void run_on_native(const Prepared& p, RunReport* r);   // the host-native peer

Status qemu_available(std::string* path);              // finds qemu-system-x86_64 (env VTB_QEMU)
Status native_available(const std::string& dir);

void fail(RunReport* r, const Status& s);              // record a setup failure

}  // namespace vtb::harness

// tags: common|vm — desc: the VM: memory, buses, devices, counters, run loop.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/bus.h"
#include "common/counters.h"
#include "common/engine.h"
#include "common/guest_memory.h"
#include "common/loader.h"
#include "common/phase.h"

namespace vtb {

struct VmConfig {
  size_t mem_mib = 64;
  RunLimits limits{0, std::chrono::seconds(60)};
  bool echo_console = false;  // copy guest console bytes to stdout as they come
};

// How a run ended. The CLI maps this to its exit codes.
enum class Outcome { Exited, Shutdown, GuestFault, LimitReached, EngineError };
const char* outcome_name(Outcome o);

struct RunResult {
  Outcome outcome = Outcome::EngineError;
  int exit_code = -1;        // guest exit code (Outcome::Exited)
  std::string message;       // one line, for anything but a clean exit
  std::string console;       // everything the guest wrote to the UART
  std::vector<PhaseTiming> phases;
  std::vector<std::pair<std::string, std::string>> records;  // "R key value"
  Counters counters;         // common loop counts + engine stats()
  double wall_seconds = 0;
};

class Vm {
 public:
  // Creates memory, buses and the standard devices (UART, control, PIT, PIC).
  static std::unique_ptr<Vm> create(const VmConfig& cfg, std::unique_ptr<Engine> engine, Status* err);
  ~Vm();

  Status load(const GuestImage& img);  // place_image + engine->load
  RunResult run();                     // the loop, bounded by cfg.limits

  GuestMemory& memory();
  Bus& pio();
  Bus& mmio();
  Engine& engine();
  Counters& counters();

 private:
  Vm();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vtb

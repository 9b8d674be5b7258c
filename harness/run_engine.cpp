// tags: harness|runner — desc: run a workload on a registered engine (kvm, pv, bt) through vtb::Vm.
#include "common/loader.h"
#include "common/vm.h"
#include "harness/runner_internal.h"

namespace vtb::harness {

void run_on_engine(Prepared& p, RunReport* r) {
  std::unique_ptr<Engine> eng = std::move(p.engine);
  if (!eng) return fail(r, Status::host_error("engine '" + r->engine + "' could not be created"));
  const Caps caps = eng->caps();
  if (!caps.available)
    return fail(r, Status::unavailable("engine '" + r->engine + "' is unavailable on this host: " + caps.available.message()));

  GuestImage img;
  img.flavor = caps.flavor;
  img.cmdline = p.command_line;
  img.kernel = p.kernel;
  img.archive = p.archive;

  VmConfig cfg;
  cfg.mem_mib = p.mem_mib;
  cfg.limits.wall = std::chrono::duration_cast<std::chrono::nanoseconds>(p.timeout);
  cfg.echo_console = p.echo_console;
  Status err;
  std::unique_ptr<Vm> vm = Vm::create(cfg, std::move(eng), &err);
  if (!vm) return fail(r, err.is_ok() ? Status::host_error("Vm::create failed") : err);
  if (Status s = vm->load(img); !s) return fail(r, s);
  r->result = vm->run();
}

}  // namespace vtb::harness

// tags: common — desc: printable names of the common enums.
#include "common/engine.h"
#include "common/exit.h"
#include "common/vm.h"

namespace vtb {

const char* exit_kind_name(ExitKind k) {
  switch (k) {
    case ExitKind::PortIo: return "port_io";
    case ExitKind::Mmio: return "mmio";
    case ExitKind::Hypercall: return "hypercall";
    case ExitKind::Halt: return "halt";
    case ExitKind::Shutdown: return "shutdown";
    case ExitKind::GuestFault: return "guest_fault";
    case ExitKind::LimitReached: return "limit_reached";
    case ExitKind::EngineError: return "engine_error";
  }
  return "unknown";
}

const char* flavor_name(Flavor f) { return f == Flavor::Pv ? "pv" : "native"; }

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Exited: return "exited";
    case Outcome::Shutdown: return "shutdown";
    case Outcome::GuestFault: return "guest_fault";
    case Outcome::LimitReached: return "limit_reached";
    case Outcome::EngineError: return "engine_error";
  }
  return "unknown";
}

}  // namespace vtb

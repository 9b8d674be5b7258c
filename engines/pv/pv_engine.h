// tags: engines|pv — desc: the pv engine (paravirtualization, Xen 2003 style), in-process.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "common/engine.h"

namespace vtb {

// Runs the pv-flavor kernel directly on the host CPU inside this process, at
// host virtual = guest virtual in the reserved window. One per process.
std::unique_ptr<Engine> make_pv_engine();

// How guest-kernel memory is kept from guest user code (docs/pv.md). The
// mode names the result: caps().backend is "pv@<name>".
//  * pkeys:    one memory protection key over the kernel range, WRPKRU on
//              each user<->kernel transition (needs PKU);
//  * 2as:      guest user code in a second host process (pv_2as.h);
//  * mprotect: the kernel range PROT_NONE while user code runs;
//  * off:      unprotected (unsafe; the ablation).
enum class PvProtect { Pkeys, TwoAs, Mprotect, Off };
const char* pv_protect_name(PvProtect m);  // "pkeys", "2as", "mprotect", "off"
bool parse_pv_protect(const std::string& s, PvProtect* out);

// Engine options. `protect` unset: mprotect (the fastest mode that holds
// against user code executing WRPKRU itself; pkeys only when forced); a
// forced mode that is unavailable makes
// the engine unavailable with a one-line reason. `protect_kernel = false` is
// the old spelling of `protect = Off`. `config_error` (a bad environment
// value) makes the engine unavailable with that message.
struct PvOptions {
  bool protect_kernel = true;
  std::optional<PvProtect> protect;
  std::string config_error;
};
// The protection choice of the environment: VTB_PV_PROTECT=pkeys|2as|mprotect|off,
// VTB_PV_UNPROTECTED=1 as an alias of off. Unset: nothing forced. A bad value
// sets opts->config_error.
void pv_protect_mode_from_env(PvOptions* opts);
std::unique_ptr<Engine> make_pv_engine(const PvOptions& opts);

}  // namespace vtb

// tags: engines|pv — desc: the pv engine (paravirtualization, Xen 2003 style), in-process.
#pragma once
#include <memory>

#include "common/engine.h"

namespace vtb {

// Runs the pv-flavor kernel directly on the host CPU inside this process, at
// host virtual = guest virtual in the reserved window. One per process.
std::unique_ptr<Engine> make_pv_engine();

// Engine options: when `protect_kernel` is false the kernel range stays
// readable from guest user mode (faster, unsafe; caps().backend becomes
// "pv-unprotected" so results are labelled). make_pv_engine() without
// options reads VTB_PV_UNPROTECTED=1 from the environment for the CLI.
struct PvOptions {
  bool protect_kernel = true;
};
std::unique_ptr<Engine> make_pv_engine(const PvOptions& opts);

}  // namespace vtb

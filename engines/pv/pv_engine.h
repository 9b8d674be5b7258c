// tags: engines|pv — desc: the pv engine (paravirtualization, Xen 2003 style), in-process.
#pragma once
#include <memory>

#include "common/engine.h"

namespace vtb {

// Runs the pv-flavor kernel directly on the host CPU inside this process, at
// host virtual = guest virtual in the reserved window. One per process.
std::unique_ptr<Engine> make_pv_engine();

// Engine options (environment-free, for tests and the bench): when
// `protect_kernel` is false the kernel range stays readable from guest user
// mode (faster, unsafe; results must be labelled "pv-unprotected").
struct PvOptions {
  bool protect_kernel = true;
};
std::unique_ptr<Engine> make_pv_engine(const PvOptions& opts);

}  // namespace vtb

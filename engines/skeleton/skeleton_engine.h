// tags: engines|skeleton — desc: the template engine (copy this folder to start one): factory for the registry.
#pragma once
#include <memory>

#include "common/engine.h"

namespace vtb {

// The registry calls this (engines/registry.cpp, one VTB_REGISTER line). It
// must not fail: an engine that cannot run here says so in caps().available.
std::unique_ptr<Engine> make_skeleton_engine();

}  // namespace vtb

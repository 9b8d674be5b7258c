// tags: engines|bt — desc: the bt engine (binary translation of the unmodified native kernel) — factory.
#pragma once
#include <memory>

#include "common/engine.h"

namespace vtb {

std::unique_ptr<Engine> make_bt_engine();

}  // namespace vtb

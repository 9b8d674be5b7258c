// tags: engines|bt — desc: the bt engine (binary translation of the unmodified native kernel) — factory.
#pragma once
#include <memory>

#include "common/engine.h"

namespace vtb {

std::unique_ptr<Engine> make_bt_engine();
// The same engine with guest user code executed directly (Syscall User
// Dispatch for its syscalls) instead of translated: backend "bt-direct".
std::unique_ptr<Engine> make_bt_direct_engine();
// The software-MMU memory mode (an inline TLB instead of the host mirror,
// docs/bt.md "Software MMU"): backend "bt-softmmu".
std::unique_ptr<Engine> make_bt_softmmu_engine();

}  // namespace vtb

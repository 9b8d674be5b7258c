// tags: engines|registry — desc: the explicit list of engines.
#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "common/engine.h"

namespace vtb {

struct EngineInfo {
  // `vtb run --engine <name>`; also the folder of its known failures
  // (engines/<name>/known_failures.txt) and a scope of manifest checks.
  std::string_view name;
  // The family it belongs to ("hardware assist", "paravirtualization",
  // "binary translation"): shown by `vtb list`, recorded in every result,
  // and a scope of manifest `expect` lines, so `expect = binary translation:
  // priv.cpuid >= {n}` holds for every engine of that technique (bt and
  // bt-direct). An unscoped `expect` holds for every engine.
  std::string_view technique;
  std::unique_ptr<Engine> (*make)();
};

// Every engine built into this binary (its CMake option VTB_ENGINE_<NAME> ON),
// in the order of the VTB_REGISTER lines in registry.cpp.
const std::vector<EngineInfo>& registered_engines();
// nullptr when `name` is not registered.
const EngineInfo* find_engine(std::string_view name);

}  // namespace vtb

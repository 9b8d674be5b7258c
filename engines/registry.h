// tags: engines|registry — desc: the explicit list of engines.
#pragma once
#include <memory>
#include <string_view>
#include <vector>

#include "common/engine.h"

namespace vtb {

struct EngineInfo {
  std::string_view name;
  std::string_view technique;  // "hardware assist", "paravirtualization", "binary translation"
  std::unique_ptr<Engine> (*make)();
};

// Every engine built into this binary, in a fixed order (kvm, pv, bt).
const std::vector<EngineInfo>& registered_engines();
// nullptr when `name` is not registered.
const EngineInfo* find_engine(std::string_view name);

}  // namespace vtb

// tags: engines|registry — desc: the explicit list of engines.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/engine.h"

namespace vtb {

// An engine option: `--engine pv:protect=off` (docs/cli.md). Each value sets
// the environment the engine reads when it is created ("VAR=v VAR2=w"); the
// first value is the default (what the engine does with no option).
struct EngineOptionValue {
  std::string_view value, env, what;
};
struct EngineOption {
  std::string_view name, what;
  std::vector<EngineOptionValue> values;
};

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
  std::vector<EngineOption> options = {};  // ablations: their own series in vtb bench
};

// An engine named with options: "pv:protect=off[,name=value...]".
struct EngineSpec {
  const EngineInfo* info = nullptr;
  std::vector<std::pair<const EngineOption*, const EngineOptionValue*>> chosen;  // in the spec's order
  std::string options;  // ":protect=off" as given (empty: none)
};
// Resolves `spec`. Returns "" or a one-line error (unknown engine, option or value).
std::string parse_engine_spec(std::string_view spec, EngineSpec* out);
// Sets the environment of every chosen value (before info->make()).
void apply_engine_options(const EngineSpec& spec);

// Every engine built into this binary (its CMake option VTB_ENGINE_<NAME> ON),
// in the order of the VTB_REGISTER lines in registry.cpp.
const std::vector<EngineInfo>& registered_engines();
// nullptr when `name` is not registered.
const EngineInfo* find_engine(std::string_view name);

}  // namespace vtb

// tags: harness|bench — desc: kvm@nested-tcg cells: the kvm engine's cells measured inside the nested runner (npt on and off as two series).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "harness/bench/matrix.h"

namespace vtb::bench {

// The engine name `vtb bench --engines` accepts for the nested runner.
inline constexpr const char* kNestedEngine = "kvm@nested-tcg";

// Removes kNestedEngine from `engines`; true when it was there. When it was
// the only name, `engines` becomes {"kvm"} (the cells to copy), and
// `*direct_too` tells whether the direct kvm cells are wanted as well.
bool take_nested_engine(std::vector<std::string>* engines, bool* direct_too);

// For every kvm cell (cold mode), one cell per nested paging mode: backend
// "kvm@nested-tcg/npt" (nested paging: the guest's page faults stay in the
// guest) and "kvm@nested-tcg/shadow" (kvm_amd npt=0: KVM shadows the guest's
// page tables, the hardware rows of Adams & Agesen). A skip that only says
// the host has no usable /dev/kvm is dropped: the nested runner brings its own.
std::vector<Cell> nested_cells(const std::vector<Cell>& kvm_cells);

// The `vtb run --json` reports of one nested-runner session, by cell name and
// repetition; `error` is set when the runner could not produce them at all.
struct NestedReports {
  std::map<std::string, std::vector<std::string>> by_cell;  // Cell::name() -> one JSON text per repetition
  std::string error;
  std::string log;  // the runner's work folder (serial log, result.json)
  std::string raw;  // result.json as the runner wrote it
};

// Runs harness/nested/run_nested.sh once for all `cells` (both paging
// modes, `reps` runs of each workload with its params), under `work_dir`,
// with the binaries of `build_dir` (the build this vtb belongs to).
NestedReports run_nested(const std::vector<Cell>& cells, int reps, const std::string& source_dir,
                         const std::string& build_dir, const std::string& work_dir);

// The MICRO list item of a cell for harness/nested/init.sh: NAME or NAME:k=v+k2=v2.
std::string nested_micro_item(const Cell& c);

}  // namespace vtb::bench

// tags: harness|conformance — desc: parser for engines/<name>/known_failures.txt (the conformance matrix's known failures).
#pragma once
#include <string>
#include <vector>

#include "common/status.h"

namespace vtb {

// One entry: "<workload>[@full] <reason>". Blank lines and '#' comments are
// skipped; workload "*" = every workload; "@full" = only with
// VTB_CONFORMANCE=full (the manifest's own parameters).
struct KnownFailure {
  std::string workload;
  bool full_only = false;
  std::string reason;
  int line = 0;
};

// Parses a file's text. A malformed line is an error naming `what:line`: no
// reason, a ':' after the workload ("hello: reason" is not the format), a
// suffix other than "@full", or (when `workloads` is given) a workload that
// is not one of them.
Status parse_known_failures(const std::string& text, const std::string& what,
                            const std::vector<std::string>* workloads, std::vector<KnownFailure>* out);

// engines/<engine>/known_failures.txt under `source_dir`; a missing file is no entries.
Status load_known_failures(const std::string& source_dir, const std::string& engine,
                           const std::vector<std::string>* workloads, std::vector<KnownFailure>* out);

// The reason of the first entry that covers `workload` (in `full` mode or
// not), or "" when none does.
std::string known_failure_reason(const std::vector<KnownFailure>& list, const std::string& workload, bool full);

}  // namespace vtb

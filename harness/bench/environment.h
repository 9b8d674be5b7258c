// tags: harness|bench — desc: the environment record of a results folder (CPU, kernel, KVM backend, compiler, commit, load).
#pragma once
#include <string>

#include "harness/json.h"

namespace vtb::bench {

// What /dev/kvm is on this host: "hardware" (kvm_intel/kvm_amd), "pvm"
// (the kvm_pvm software hypervisor), "none" (no usable /dev/kvm). The nested
// runner's results are labelled "nested-tcg" by the run itself.
std::string detect_kvm_backend();

// Short commit id of the source tree ("unknown" outside git), "+dirty" when
// tracked files differ from HEAD.
std::string source_commit(const std::string& source_dir, bool* dirty);

// Host name with characters outside [A-Za-z0-9._-] replaced by '-'.
std::string safe_host_name();

// "/proc/loadavg" first three fields, "" if unreadable.
std::string load_average();

// The kind of host an environment record describes: "<cpu_model> x<cpu_count>,
// <kernel name and release>, kvm <kvm_backend>[, virtualized]" (no ';' or '=',
// so it fits a bench label). Cells of different kinds are never pooled into one
// statistic (analysis/tidy.py host_kind() says the same words).
std::string host_kind(const Json& env);

// This host's unit costs (`vtb calibrate --json`, run as a child of this executable so
// its signal handlers and mappings stay out of the bench): the parsed record, or
// {"available": false, "reason": ...} when it could not run.
Json collect_calibration();

// The whole record written to environment.json (with its host_kind). `extra` members are appended;
// with `calibrate`, "calibration" holds collect_calibration().
Json collect_environment(const std::string& source_dir, const Json& extra, bool calibrate = false);

}  // namespace vtb::bench

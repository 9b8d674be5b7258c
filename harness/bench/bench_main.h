// tags: harness|bench — desc: `vtb bench`: the Google Benchmark matrix over engines x manifest workloads (+ peers).
#pragma once

namespace vtb {

// Entry point of `vtb bench` (argv[0] is "bench" or the program name).
// Options (docs/benchmarks.md): --engines a,b  --workloads x,y  --groups g,h
//   --quick  --repetitions N  --scale F  --out DIR  --list  --vtb PATH
//   plus any --benchmark_* flag of Google Benchmark (except --benchmark_out*).
// Returns 0 when the suite ran (lost cells are reported, not fatal), 2 on
// bad input, 5 on a host error (results folder not writable).
int bench_main(int argc, char** argv);

}  // namespace vtb

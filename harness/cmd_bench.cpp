// tags: harness|cli — desc: `vtb bench` and `vtb compare`: hand over to the bench library when it is built.
#include "harness/commands.h"
#include "harness/runner.h"

#ifdef VTB_HAVE_BENCH
#include "harness/bench/bench_main.h"
#include "harness/bench/compare.h"
#endif

namespace vtb::cli {

int cmd_bench(int argc, char** argv) {
#ifdef VTB_HAVE_BENCH
  return vtb::bench_main(argc, argv);
#else
  (void)argc;
  (void)argv;
  error_line("bench: not built (harness/bench is absent from this tree)");
  return kExitUnavailable;
#endif
}

int cmd_compare(int argc, char** argv) {
#ifdef VTB_HAVE_BENCH
  return vtb::bench::compare_main(argc, argv);
#else
  (void)argc;
  (void)argv;
  error_line("compare: not built (harness/bench is absent from this tree)");
  return kExitUnavailable;
#endif
}

}  // namespace vtb::cli

// tags: harness|cli — desc: `vtb bench`: hands over to the benchmark engineer's bench_main when it is built.
#include "harness/commands.h"
#include "harness/runner.h"

#ifdef VTB_HAVE_BENCH
#include "harness/bench/bench_main.h"
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

}  // namespace vtb::cli

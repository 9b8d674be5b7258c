// tags: harness|cli — desc: `vtb bench` and `vtb compare`: hand over to the bench library when it is built.
#include "harness/commands.h"
#include "harness/runner.h"

#ifdef VTB_HAVE_BENCH
#include "harness/bench/bench_main.h"
#include "harness/bench/compare.h"
#endif

namespace vtb::cli {

#ifdef VTB_HAVE_BENCH
int cmd_bench(int argc, char** argv) { return vtb::bench_main(argc, argv); }
int cmd_compare(int argc, char** argv) { return vtb::bench::compare_main(argc, argv); }
#else
int bench_not_built(const char* cmd) {
  error_line(std::string(cmd) + ": not built (harness/bench is absent from this tree)");
  return kExitUnavailable;
}
int cmd_bench(int, char**) { return bench_not_built("bench"); }
int cmd_compare(int, char**) { return bench_not_built("compare"); }
#endif

}  // namespace vtb::cli

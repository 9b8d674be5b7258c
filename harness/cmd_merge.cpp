// tags: harness|cli — desc: `vtb merge`: hands over to the bench's merge of shard results folders when it is built.
#include "harness/commands.h"
#include "harness/runner.h"

#ifdef VTB_HAVE_BENCH
#include "harness/bench/merge.h"
#endif

namespace vtb::cli {

int cmd_merge(int argc, char** argv) {
#ifdef VTB_HAVE_BENCH
  return vtb::bench::merge_main(argc, argv);
#else
  (void)argc;
  (void)argv;
  error_line("merge: not built (harness/bench is absent from this tree)");
  return kExitUnavailable;
#endif
}

}  // namespace vtb::cli

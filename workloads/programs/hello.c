/* tags: workloads|programs — desc: hello: the smallest program (console, argv, a result record). */
#include "vtb.h"

int main(int argc, char **argv) {
  printf("hello from tbk: %d argument(s)\n", argc - 1);
  for (int i = 1; i < argc; i++) printf("  argv[%d] = %s\n", i, argv[i]);
  vtb_result("hello", "ok");
  return 0;
}

/* tags: workloads|programs — desc: spawn PROG [ARGS]: fork, exec PROG from the archive in the child, wait, report its status. */
#include "vtb.h"

int main(int argc, char **argv) {
  const char *prog = argc > 1 ? argv[1] : "hello";
  char *dflt[] = {(char *)prog, 0};
  long pid = vtb_fork();
  if (pid == 0) {
    long r = vtb_exec(prog, argc > 1 ? argv + 1 : dflt);
    printf("spawn: exec %s failed (%ld)\n", prog, r);
    exit(127);
  }
  if (pid < 0) {
    printf("spawn: fork failed (%ld)\n", pid);
    return 1;
  }
  int st = -1;
  long w = vtb_wait(pid, &st);
  printf("spawn: %s exited with status %d\n", prog, st);
  return w == pid && st == 0 ? 0 : 1;
}

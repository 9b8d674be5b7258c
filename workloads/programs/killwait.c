/* tags: workloads|programs — desc: killwait: wait with a timeout and kill (VTB_SYS_WAIT's timeout, VTB_SYS_KILL), as the fuzz driver uses them.
 *
 * 1. a child that spins: wait(child, 3 ticks) times out (0), kill(child) = 1,
 *    wait gets VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL;
 * 2. a child that forks a spinning grandchild, then spins: kill(-1) ends
 *    both (2), wait(-1) reaps both (the grandchild is ours now);
 * 3. a child that exits at once: wait(child, 1000 ticks) returns it at once
 *    with its code; kill of a pid that is not a descendant is refused.
 * One line per step; the last: "killwait: ok" or what failed. */
#include "vtb.h"

static void spin(void) {
  for (volatile uint64_t i = 0;; i++) {}
}

int main(void) {
  int bad = 0, st = -1;
  long c = vtb_fork();
  if (c == 0) spin();
  long w = vtb_wait_timeout(c, &st, 3);
  long k = vtb_kill(c);
  long w2 = vtb_wait(c, &st);
  int ok = w == 0 && k == 1 && w2 == c && st == (VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL);
  printf("killwait: spinning child: timed out %s, killed %s\n", w == 0 ? "yes" : "no", ok ? "yes" : "no");
  bad += !ok;

  c = vtb_fork();
  if (c == 0) {
    if (vtb_fork() == 0) spin();
    spin();
  }
  vtb_sleep(2);
  k = vtb_kill(-1);
  int reaped = 0, killed = 0;
  for (int s; vtb_wait(-1, &s) > 0; reaped++) killed += s == (VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL);
  ok = k == 2 && reaped == 2 && killed == 2;
  printf("killwait: child and grandchild: killed %ld, reaped %d\n", k, reaped);
  bad += !ok;

  c = vtb_fork();
  if (c == 0) exit(7);
  uint64_t t0 = vtb_ticks();
  w = vtb_wait_timeout(c, &st, 1000);
  ok = w == c && st == 7 && vtb_ticks() - t0 < 500 && vtb_kill(1) == -VTB_EPERM && vtb_kill(c) == -VTB_ESRCH;
  printf("killwait: exiting child: status %d\n", w == c ? st : -1);
  bad += !ok;
  printf(bad ? "killwait: %d step(s) failed\n" : "killwait: ok\n", bad);
  return bad ? 1 : 0;
}

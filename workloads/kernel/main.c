/* tags: kernel — desc: kmain: boot info, CPU tables, memory, timer, then exec the first program. */
#include "kern.h"

void kmain(uint64_t boot_pa) {
  plat_cpu_init(boot_pa);
  boot_parse(boot_pa);
  mm_init();
  plat_timer_start(VTB_TIMER_HZ);
  proc_start_init(boot.cmdline);
}

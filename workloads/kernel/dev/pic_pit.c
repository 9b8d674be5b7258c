/* tags: kernel|dev — desc: 8259 PIC remap + 8254 PIT channel 0 periodic tick (used by the native plat). */
#include "kern.h"

void pic_pit_init(unsigned hz) {
  /* ICW1..ICW4: edge, cascade, vectors VTB_IRQ_BASE / +8, 8086 mode */
  plat_outb(VTB_PORT_PIC1, 0x11);
  plat_outb(VTB_PORT_PIC2, 0x11);
  plat_outb(VTB_PORT_PIC1 + 1, VTB_IRQ_BASE);
  plat_outb(VTB_PORT_PIC2 + 1, VTB_IRQ_BASE + 8);
  plat_outb(VTB_PORT_PIC1 + 1, 0x04);
  plat_outb(VTB_PORT_PIC2 + 1, 0x02);
  plat_outb(VTB_PORT_PIC1 + 1, 0x01);
  plat_outb(VTB_PORT_PIC2 + 1, 0x01);
  plat_outb(VTB_PORT_PIC1 + 1, (uint8_t)~(1u << VTB_IRQ_TIMER)); /* only the timer */
  plat_outb(VTB_PORT_PIC2 + 1, 0xff);
  /* PIT channel 0, lobyte/hibyte, mode 2 (rate generator) */
  unsigned div = (VTB_PIT_HZ + hz / 2) / hz;
  plat_outb(VTB_PORT_PIT + 3, 0x34);
  plat_outb(VTB_PORT_PIT, (uint8_t)(div & 0xff));
  plat_outb(VTB_PORT_PIT, (uint8_t)(div >> 8));
}

void pic_eoi(void) { plat_outb(VTB_PORT_PIC1, 0x20); }

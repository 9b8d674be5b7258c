/* tags: kernel|boot — desc: the two entries: PVH 32-bit (QEMU -kernel, with its ELF note) and the 64-bit e_entry, converging on kmain. */
#include "common/abi/vtb_abi.h"

/* ---- PVH: QEMU jumps here in 32-bit protected mode, paging off, %ebx =
 * physical address of the PVH start info. Build a temporary identity map of
 * [0, 1 GiB) plus the direct map at VTB_KERNEL_VBASE (same PDPT), enter long
 * mode, continue at kentry64 with %rdi = the start info. */
  .section .boot.text, "ax"
  .code32
  .globl pvh_entry32
pvh_entry32:
  cli
  movl %ebx, %esi
  xorl %ecx, %ecx
1:
  movl %ecx, %eax
  shll $21, %eax
  orl $0x83, %eax                      /* P | W | PS: 2 MiB page */
  movl %eax, boot_pd(, %ecx, 8)
  movl $0, boot_pd + 4(, %ecx, 8)
  incl %ecx
  cmpl $512, %ecx
  jb 1b
  movl $boot_pd + 3, boot_pdpt
  movl $boot_pdpt + 3, boot_pml4
  movl $boot_pdpt + 3, boot_pml4 + 8 * VTB_KERNEL_PML4_SLOT
  movl $boot_pml4, %eax
  movl %eax, %cr3
  movl %cr4, %eax
  orl $0x20, %eax                      /* PAE */
  movl %eax, %cr4
  movl $0xc0000080, %ecx               /* EFER.LME */
  rdmsr
  orl $0x100, %eax
  wrmsr
  movl %cr0, %eax
  orl $0x80010001, %eax                /* PG | WP | PE */
  movl %eax, %cr0
  lgdt boot_gdtr
  ljmp $0x08, $2f
  .code64
2:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movl %esi, %edi                      /* zero-extends: the start info pa */
  movabsq $kentry64, %rax
  jmp *%rax

  .section .boot.data, "aw"
  .balign 8
boot_gdt:
  .quad 0
  .quad 0x00af9a000000ffff             /* 0x08: 64-bit code */
  .quad 0x00cf92000000ffff             /* 0x10: data */
boot_gdtr:
  .word boot_gdtr - boot_gdt - 1
  .long boot_gdt

  .section .boot.bss, "aw", @nobits
  .balign 4096
boot_pml4: .zero 4096
boot_pdpt: .zero 4096
boot_pd:   .zero 4096

/* XEN_ELFNOTE_PHYS32_ENTRY (18): QEMU's PVH loader reads the entry here. */
  .section .note.Xen, "a"
  .balign 4
  .long 4
  .long 4
  .long 18
  .asciz "Xen"
  .long pvh_entry32

/* ---- 64-bit entry (ELF e_entry), used by our engines' loader: long mode,
 * loader page tables (identity + direct map of [0, 1 GiB)), %rdi = pa of
 * struct vtb_boot_info, %rsp undefined, IF = 0. Unprivileged, shared by
 * both flavors. */
  .text
  .globl kentry64
  .type kentry64, @function
kentry64:
  leaq boot_stack_top(%rip), %rsp
  xorl %ebp, %ebp
  call kmain
3:
  jmp 3b
  .size kentry64, .-kentry64

  .bss
  .balign 16
boot_stack:
  .zero 16384
boot_stack_top:

  .section .note.GNU-stack, "", @progbits

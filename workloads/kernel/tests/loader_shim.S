/* tags: workloads|kernel|tests — desc: test-only PVH shim that plays our engines' loader: enters tbk's 64-bit e_entry with a vtb_boot_info.
 *
 * QEMU boots this shim (-kernel), with tbk.elf loaded raw at TBK_RAW by
 * `-device loader,file=tbk.elf,addr=0x2000000,force-raw=on` and the archive
 * as -initrd. The shim copies tbk's PT_LOAD segments to their physical
 * addresses, builds the loader state that common/loader.cpp documents
 * (page tables at VTB_LOADER_PT_GPA: identity [0,1 GiB) + the same at
 * VTB_KERNEL_VBASE; GDT at VTB_LOADER_GDT_GPA with 0x08 code / 0x10 data;
 * struct vtb_boot_info at VTB_BOOTINFO_GPA), and jumps to e_entry with
 * %rdi = VTB_BOOTINFO_GPA, %rsp = 0 (undefined), IF = 0. */
#include "common/abi/vtb_abi.h"

#define TBK_RAW   0x2000000
#define SHIM_MEM  (64 << 20)   /* the test runs QEMU with -m 64M */
#define PML4      VTB_LOADER_PT_GPA
#define PDPT      (VTB_LOADER_PT_GPA + 0x1000)
#define PD        (VTB_LOADER_PT_GPA + 0x2000)

  .section .boot.text, "ax"
  .code32
  .globl shim_entry32
shim_entry32:
  cli
  movl %ebx, %ebp                      /* PVH start info */
  cld
  /* zero page tables and boot info */
  movl $VTB_LOADER_PT_GPA, %edi
  movl $(3 * 1024), %ecx
  xorl %eax, %eax
  rep stosl
  movl $VTB_BOOTINFO_GPA, %edi
  movl $1024, %ecx
  rep stosl
  /* copy tbk's PT_LOAD segments (ELF64 program headers) */
  movl $TBK_RAW, %ebx
  movl 32(%ebx), %edx                  /* e_phoff (low 32 bits) */
  addl %ebx, %edx
  movzwl 56(%ebx), %ecx                /* e_phnum */
1:
  testl %ecx, %ecx
  jz 3f
  pushl %ecx
  cmpl $1, (%edx)                      /* PT_LOAD */
  jne 2f
  movl 24(%edx), %edi                  /* p_paddr */
  movl 8(%edx), %esi                   /* p_offset */
  addl %ebx, %esi
  movl 32(%edx), %ecx                  /* p_filesz */
  rep movsb
  movl 40(%edx), %ecx                  /* p_memsz - p_filesz: zero */
  subl 32(%edx), %ecx
  xorl %eax, %eax
  rep stosb
2:
  popl %ecx
  addl $56, %edx
  decl %ecx
  jmp 1b
3:
  /* loader page tables */
  xorl %ecx, %ecx
4:
  movl %ecx, %eax
  shll $21, %eax
  orl $0x83, %eax
  movl %eax, PD(, %ecx, 8)
  incl %ecx
  cmpl $512, %ecx
  jb 4b
  movl $(PD + 3), PDPT
  movl $(PDPT + 3), PML4
  movl $(PDPT + 3), PML4 + 8 * VTB_KERNEL_PML4_SLOT
  /* boot info */
  movl $VTB_BOOTINFO_GPA, %edi
  movl $VTB_BOOT_MAGIC, 0(%edi)
  movl $SHIM_MEM, 8(%edi)
  cmpl $0, 12(%ebp)                    /* nr_modules */
  je 5f
  movl 16(%ebp), %esi                  /* modlist_paddr */
  movl 0(%esi), %eax
  movl %eax, 16(%edi)                  /* archive_gpa */
  movl 8(%esi), %eax
  movl %eax, 24(%edi)                  /* archive_size */
5:
  movl 24(%ebp), %esi                  /* cmdline_paddr */
  leal 88(%edi), %edi                  /* offsetof(struct vtb_boot_info, cmdline) */
  movl $(VTB_CMDLINE_MAX - 1), %ecx
  testl %esi, %esi
  jz 7f
6:
  lodsb
  testb %al, %al
  jz 7f
  stosb
  loop 6b
7:
  /* loader GDT */
  movl $VTB_LOADER_GDT_GPA, %edi
  movl $0, 0(%edi)
  movl $0, 4(%edi)
  movl $0x0000ffff, 8(%edi)
  movl $0x00af9a00, 12(%edi)
  movl $0x0000ffff, 16(%edi)
  movl $0x00cf9200, 20(%edi)
  lgdt shim_gdtr
  movl $PML4, %eax
  movl %eax, %cr3
  movl %cr4, %eax
  orl $0x20, %eax
  movl %eax, %cr4
  movl $0xc0000080, %ecx
  rdmsr
  orl $0x100, %eax
  wrmsr
  movl %cr0, %eax
  orl $0x80000001, %eax                /* PG | PE, no WP: the kernel must set what it needs */
  movl %eax, %cr0
  ljmp $0x08, $8f
  .code64
8:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  movq TBK_RAW + 24, %rax              /* e_entry */
  movl $VTB_BOOTINFO_GPA, %edi
  xorl %esp, %esp
  jmp *%rax

  .balign 8
shim_gdtr:
  .word 23
  .long VTB_LOADER_GDT_GPA

  .section .note.Xen, "a"
  .balign 4
  .long 4
  .long 4
  .long 18
  .asciz "Xen"
  .long shim_entry32

  .section .note.GNU-stack, "", @progbits

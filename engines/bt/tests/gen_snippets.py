#!/usr/bin/env python3
# tags: engines|bt|tests — desc: developer tool: assemble the snippet table (GNU as) into snippet_rows.inc.
# Usage: python3 gen_snippets.py > snippet_rows.inc   (needs binutils `as`; the build does not run it)
import subprocess, tempfile, os, sys

D = 0x600000  # kData
C = 0x400000  # kCode

# (name, asm, inputs, expected, flags) — inputs/expected: register -> value, "m<off>" -> u64 at kData+off,
# "gs"/"fs" -> segment base. flags: "CF=1 ZF=0 ..." checked exactly for the named flags.
ROWS = [
  ("add_imm", "add $7,%rax", {"rax": 5}, {"rax": 12}, "CF=0 ZF=0 SF=0 OF=0"),
  ("add_overflow", "add %rbx,%rax", {"rax": 0x7fffffffffffffff, "rbx": 1}, {"rax": 0x8000000000000000}, "OF=1 SF=1 CF=0 ZF=0"),
  ("sub_borrow", "sub $1,%rax", {"rax": 0}, {"rax": 0xffffffffffffffff}, "CF=1 SF=1 ZF=0"),
  ("cmp_setb", "cmp %rbx,%rax; setb %cl", {"rax": 1, "rbx": 2, "rcx": 0}, {"rcx": 1}, "CF=1"),
  ("xor32_zero_extends", "xor %eax,%eax", {"rax": 0xffffffffffffffff}, {"rax": 0}, "ZF=1 CF=0 OF=0"),
  ("stc_adc", "stc; adc $0,%rax", {"rax": 1}, {"rax": 2}, "CF=0"),
  ("imul3", "imul $3,%rbx,%rax", {"rbx": 7}, {"rax": 21}, ""),
  ("shl", "shl $4,%rax", {"rax": 1}, {"rax": 16}, "CF=0 ZF=0"),
  ("neg", "neg %rax", {"rax": 5}, {"rax": 0xfffffffffffffffb}, "CF=1 SF=1"),
  ("lea_sib", "lea 0x10(%rax,%rbx,4),%rcx", {"rax": 0x100, "rbx": 2}, {"rcx": 0x118}, ""),
  ("bswap", "bswap %rax", {"rax": 0x0102030405060708}, {"rax": 0x0807060504030201}, ""),
  ("div", "xor %edx,%edx; mov $7,%ecx; div %rcx", {"rax": 50}, {"rax": 7, "rdx": 1}, ""),
  ("cmovne", "test %rcx,%rcx; cmovne %rbx,%rax", {"rax": 1, "rbx": 2, "rcx": 3}, {"rax": 2}, "ZF=0"),
  ("flags_survive_block_end", "cmp %rbx,%rax; jmp 1f; 1: setl %cl; setg %dl", {"rax": 1, "rbx": 2, "rcx": 0, "rdx": 0}, {"rcx": 1, "rdx": 0}, "CF=1"),
  ("load_abs", "mov 0x600000,%rax", {"m0": 0x1122334455667788}, {"rax": 0x1122334455667788}, ""),
  ("store_base_disp", "mov %rbx,8(%r15)", {"rbx": 0xabcdef, "r15": D}, {"m8": 0xabcdef}, ""),
  ("movzb", "movzbl 3(%r15),%eax", {"m0": 0x44332211, "r15": D, "rax": 0xffffffffffffffff}, {"rax": 0x44}, ""),
  ("rmw_mem", "add %rax,(%r15)", {"rax": 5, "m0": 10, "r15": D}, {"m0": 15}, "CF=0"),
  ("rip_lea", "lea 0(%rip),%rax", {}, {"rax": C + 7}, ""),
  ("rip_load", "mov 0x1ffff9(%rip),%rax", {"m0": 0x5566}, {"rax": 0x5566}, ""),
  ("rip_store_imm", "movl $0x55,0x1ffff6(%rip)", {"m0": 0}, {"m0": 0x55}, ""),
  ("jmp_forward", "jmp 1f; mov $1,%rax; 1: mov $2,%rbx", {"rax": 0}, {"rax": 0, "rbx": 2}, ""),
  ("je_taken", "cmp $5,%rax; je 1f; mov $1,%rcx; 1:", {"rax": 5, "rcx": 0}, {"rcx": 0}, "ZF=1"),
  ("je_not_taken", "cmp $5,%rax; je 1f; mov $1,%rcx; 1:", {"rax": 4, "rcx": 0}, {"rcx": 1}, "ZF=0"),
  ("loop", "mov $10,%rcx; xor %eax,%eax; 1: add $3,%rax; loop 1b", {}, {"rax": 30, "rcx": 0}, ""),
  ("jrcxz_taken", "jrcxz 1f; mov $1,%rax; 1:", {"rcx": 0, "rax": 0}, {"rax": 0}, ""),
  ("jrcxz_not_taken", "jrcxz 1f; mov $1,%rax; 1:", {"rcx": 3, "rax": 0}, {"rax": 1}, ""),
  ("backward_loop", "mov $1000,%ecx; 1: inc %rax; dec %ecx; jnz 1b", {"rax": 0}, {"rax": 1000, "rcx": 0}, "ZF=1"),
  ("call_ret", "call 1f; jmp 2f; 1: mov $7,%rax; ret; 2:", {"rsp": 0x71ff00}, {"rax": 7, "rsp": 0x71ff00}, ""),
  ("call_pushes_guest_address", "call 1f; 1: pop %rax", {"rsp": 0x71ff00}, {"rax": C + 5, "rsp": 0x71ff00}, ""),
  ("call_reg", "lea 1f(%rip),%rbx; call *%rbx; jmp 2f; 1: mov $9,%rax; ret; 2:", {}, {"rax": 9}, ""),
  ("jmp_mem", "lea 1f(%rip),%rbx; mov %rbx,(%r15); jmp *(%r15); mov $1,%rax; 1: mov $2,%rcx", {"r15": D, "rax": 0}, {"rax": 0, "rcx": 2}, ""),
  ("call_mem_rsp_relative", "lea 1f(%rip),%rbx; push %rbx; call *(%rsp); pop %rbx; jmp 2f; 1: mov 8(%rsp),%rdx; sub %rbx,%rdx; ret; 2:", {}, {"rdx": 0}, ""),
  ("ret_imm", "push $0; call 1f; jmp 2f; 1: ret $8; 2:", {"rsp": 0x71ff00}, {"rsp": 0x71ff00}, ""),
  ("recursion", "mov $10,%rdi; call 1f; jmp 3f; 1: test %rdi,%rdi; jz 2f; push %rdi; dec %rdi; call 1b; pop %rdi; add %rdi,%rax; ret; 2: xor %eax,%eax; ret; 3:", {}, {"rax": 55}, ""),
  ("push_pop", "push %rax; push %rbx; pop %rcx; pop %rdx", {"rax": 1, "rbx": 2}, {"rcx": 2, "rdx": 1}, ""),
  ("push_imm_sign", "pushq $-1; pop %rax", {}, {"rax": 0xffffffffffffffff}, ""),
  ("rep_movsb", "rep movsb", {"rsi": D, "rdi": D + 0x100, "rcx": 16, "m0": 0x0807060504030201, "m8": 0x100f0e0d0c0b0a09}, {"m256": 0x0807060504030201, "m264": 0x100f0e0d0c0b0a09, "rcx": 0, "rsi": D + 16}, ""),
  ("rep_stosq", "rep stosq", {"rdi": D + 0x200, "rcx": 2, "rax": 0xaaaa}, {"m512": 0xaaaa, "m520": 0xaaaa, "rdi": D + 0x210}, ""),
  ("std_lodsq", "std; lodsq; cld", {"rsi": D + 8, "m8": 0x77}, {"rax": 0x77, "rsi": D}, "DF=0"),
  ("gs_abs_load", "mov %gs:8,%rax", {"gs": D, "m8": 0x1234}, {"rax": 0x1234}, ""),
  ("fs_store", "mov %rbx,%fs:0x10", {"fs": D, "rbx": 0x99}, {"m16": 0x99}, ""),
  ("gs_base_index", "mov %gs:(%rbx,%rcx,8),%rax", {"gs": D, "rbx": 0, "rcx": 2, "m16": 0x4242}, {"rax": 0x4242}, ""),
  ("gs_scratch_preserved", "add %gs:(%rbx),%rax", {"gs": D, "rbx": 8, "m8": 3, "rax": 4, "r11": 0xdead}, {"rax": 7, "r11": 0xdead}, "CF=0"),
  ("gs_uses_r11", "mov %gs:(%r11),%r10", {"gs": D, "r11": 8, "m8": 0x66, "r9": 0xbeef}, {"r10": 0x66, "r9": 0xbeef, "r11": 8}, ""),
  ("gs_flags_preserved", "cmp %rbx,%rax; mov %gs:0,%rcx; setb %dl", {"gs": D, "rax": 1, "rbx": 2, "rdx": 0, "m0": 5}, {"rcx": 5, "rdx": 1}, "CF=1"),
  ("gs_byte_rex", "movb %gs:1,%sil", {"gs": D, "m0": 0x3300, "rsi": 0}, {"rsi": 0x33}, ""),
  ("gs_imm_store", "movq $0x12,%gs:0x18", {"gs": D}, {"m24": 0x12}, ""),
  ("gs_indirect_call", "lea 1f(%rip),%rbx; mov %rbx,(%r15); call *%gs:0; jmp 2f; 1: mov $5,%rax; ret; 2:", {"gs": D, "r15": D}, {"rax": 5}, ""),
  # A REX byte before a legacy prefix or another REX is ignored: the opcode
  # after it is still a branch (the fuzz campaign's bt host crashes: these
  # were copied as is and the host jumped to a guest address).
  ("jmp_after_ignored_rex", ".byte 0x4d,0xf3,0xe9; .long 1f-2f; 2: mov $1,%rax; 1: mov $2,%rcx", {"rax": 0}, {"rax": 0, "rcx": 2}, ""),
  ("ret_after_double_rex", "lea 1f(%rip),%rbx; push %rbx; .byte 0x48,0x4a,0xc3; mov $1,%rax; 1: mov $2,%rcx", {"rax": 0}, {"rax": 0, "rcx": 2}, ""),
  ("ret_imm_after_double_rex", "push $0; call 1f; jmp 2f; 1: .byte 0x45,0x4d,0xc2,0x08,0x00; 2:", {"rsp": 0x71ff00}, {"rsp": 0x71ff00}, ""),
  # moffs and %fs:/%gs: operands go through a scratch register now (checked like any access)
  ("moffs_load", "movabs 0x600008,%rax", {"m8": 0x77}, {"rax": 0x77}, ""),
  ("gs_moffs_load", "movabs %gs:8,%rax", {"gs": D, "m8": 0x1234, "rbx": 5}, {"rax": 0x1234, "rbx": 5}, ""),
  ("fs_moffs_store_byte", "movabs %al,%fs:0x11", {"fs": D, "rax": 0xab, "m16": 0}, {"m16": 0xab00}, ""),
  ("gs_base_index_disp_rsp", "mov %gs:8(%rsp,%rbx,8),%rax", {"gs": 0x10, "rsp": D - 0x10, "rbx": 1, "m16": 0x99}, {"rax": 0x99}, ""),
  # string instructions with an %fs:/%gs: source (emulated: StringSeg)
  ("fs_lodsq", "lodsq %fs:(%rsi),%rax", {"fs": D, "rsi": 8, "m8": 0x55, "rax": 1}, {"rax": 0x55, "rsi": 16}, ""),
  ("gs_lodsb_merges", "lodsb %gs:(%rsi),%al", {"gs": D, "rsi": 1, "m0": 0x7700, "rax": 0x1122334455667788}, {"rax": 0x1122334455667777, "rsi": 2}, ""),
  ("gs_rep_movsb", "rep movsb %gs:(%rsi),%es:(%rdi)", {"gs": D, "rsi": 0, "rdi": D + 0x100, "rcx": 8, "m0": 0x0807060504030201}, {"m256": 0x0807060504030201, "rcx": 0, "rsi": 8, "rdi": D + 0x108}, ""),
  ("fs_repe_cmpsb", "repz cmpsb %es:(%rdi),%fs:(%rsi)", {"fs": D, "rsi": 0, "rdi": D + 0x100, "rcx": 8, "m0": 0x58636261, "m256": 0x59636261}, {"rcx": 4, "rsi": 4, "rdi": D + 0x104}, "ZF=0 CF=1"),
  ("xmm_across_callout", "movq %rax,%xmm0; paddq %xmm0,%xmm0; cpuid; movq %xmm0,%rbx", {"rax": 21}, {"rbx": 42}, ""),
]

FLAG_BITS = {"CF": 0, "PF": 2, "AF": 4, "ZF": 6, "SF": 7, "DF": 10, "OF": 11}
REGS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]

def assemble(src):
    with tempfile.TemporaryDirectory() as d:
        s, o, b = (os.path.join(d, x) for x in ("a.s", "a.o", "a.bin"))
        open(s, "w").write(src.replace(";", "\n") + "\n")
        subprocess.check_call(["as", "--64", "-o", o, s])
        subprocess.check_call(["objcopy", "-O", "binary", "-j", ".text", o, b])
        return open(b, "rb").read()

def kv(d):
    out = []
    for k, v in d.items():
        if k in REGS: out.append('{"%s", %d, 0x%xULL}' % (k, REGS.index(k), v))
        elif k.startswith("m"): out.append('{"%s", %d, 0x%xULL}' % (k, 100 + int(k[1:]), v))
        elif k == "fs": out.append('{"fs", 98, 0x%xULL}' % v)
        elif k == "gs": out.append('{"gs", 99, 0x%xULL}' % v)
        else: raise SystemExit("bad key " + k)
    return "{" + ", ".join(out) + "}"

print("// tags: engines|bt|tests — desc: GENERATED by gen_snippets.py: the snippet table (bytes + asm + in/out state).")
for name, src, ins, outs, flags in ROWS:
    code = assemble(src)
    mask = val = 0
    for f in flags.split():
        k, v = f.split("=")
        mask |= 1 << FLAG_BITS[k]
        if v == "1": val |= 1 << FLAG_BITS[k]
    print('{__FILE__, __LINE__, "%s", "%s",\n {%s},\n %s,\n %s, 0x%x, 0x%x},' % (
        name, src, ", ".join("0x%02x" % c for c in code), kv(ins), kv(outs), mask, val))

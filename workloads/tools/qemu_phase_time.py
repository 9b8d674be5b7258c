#!/usr/bin/python3
# tags: workloads|tools — desc: time tbk under QEMU TCG: whole run (QEMU start to exit) and phases, from control-channel lines read through a FIFO.
"""usage: qemu_phase_time.py KERNEL ARCHIVE CMDLINE [REPS]

Runs the documented QEMU command line (docs/kernel.md) REPS times and prints,
per run, the wall time from QEMU start to exit and the time between each
"B n" and "E n" control record (timestamped here when the line arrives).
"""
import os, subprocess, sys, tempfile, threading, time


def one_run(kernel, archive, cmdline):
    d = tempfile.mkdtemp(prefix="tbk-time-")
    fifo, sercon = os.path.join(d, "ctrl"), os.path.join(d, "sercon0")
    os.mkfifo(fifo)
    with open(sercon, "wb") as f:
        f.write(b"\0\0")
    stamps = []

    def reader():
        with open(fifo, "rb") as f:
            buf = b""
            while True:
                c = f.read(1)
                if not c:
                    return
                buf += c
                if c == b"\n":
                    stamps.append((time.monotonic_ns(), buf.decode(errors="replace").strip()))
                    buf = b""

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    cmd = ["qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-cpu", "max", "-m", "64M", "-nodefaults",
           "-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-debugcon", "file:" + fifo,
           "-fw_cfg", "name=etc/sercon-port,file=" + sercon, "-kernel", kernel, "-initrd", archive,
           "-append", cmdline]
    t0 = time.monotonic_ns()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    t1 = time.monotonic_ns()
    t.join(timeout=5)
    phases, begin = {}, {}
    for ts, line in stamps:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "B":
            begin[parts[1]] = ts
        elif len(parts) == 2 and parts[0] == "E" and parts[1] in begin:
            phases[parts[1]] = ts - begin[parts[1]]
    os.unlink(fifo)
    os.unlink(sercon)
    os.rmdir(d)
    return p.returncode, (t1 - t0) / 1e6, {k: v / 1e6 for k, v in phases.items()}, p.stdout.decode(errors="replace")


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    for i in range(reps):
        rc, wall, phases, out = one_run(sys.argv[1], sys.argv[2], sys.argv[3])
        ph = " ".join("phase%s=%.1fms" % (k, v) for k, v in sorted(phases.items()))
        print("run %d: qemu_status=%d guest_code=%s wall=%.1fms %s" %
              (i + 1, rc, (rc >> 1) if rc & 1 else "?", wall, ph))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/bash
# tags: harness|nested — desc: the nested-KVM runner: static build + initramfs + Debian kernel under QEMU TCG (AMD SVM).
#
# Runs the kvm engine's tests (and optionally its benchmark and `vtb`) against
# a real KVM inside `qemu-system-x86_64 -accel tcg -cpu max`, for hosts without
# /dev/kvm. Recipe and measurements: /work/shared/notes/nested-kvm.md; docs/kvm.md.
#
# Exit: 0 pass, 1 tests failed, 2 setup failed (packages, kernel, build, QEMU),
#       77 skipped (only with VTB_NESTED_ONLY_WITHOUT_KVM=1 on a host with /dev/kvm).
# Environment (all optional):
#   VTB_SOURCE_DIR     source tree (default: two levels above this script)
#   VTB_NESTED_BUILD   static build dir (default: $VTB_SOURCE_DIR/build-nested)
#   VTB_NESTED_WORK    scratch dir for initramfs, logs, result.json (default: $VTB_NESTED_BUILD/nested-run)
#   VTB_NESTED_CACHE   kernel+modules cache (default: $HOME/.cache/vtb/nested-kernel)
#   VTB_NESTED_PREBUILT a dir holding already-built kvm_engine_tests [kvm_exit_bench vtb]: skip the build
#   VTB_KERNEL_ELF VTB_ARCHIVE  tbk.elf / programs archive (default: found in the static build)
#   NPT_MODES=1[,0]  IRQCHIP_MODES=user[,kernel]  ITERS=200  BENCH=0|1  BENCH_EXITS=2000
#   NESTED_VTB=0|1     also build the vtb CLI and run `vtb list` / `vtb run --engine kvm` inside
#   MICRO=hello,micro_out:2000,forkwait:n=50+reps=2   manifest workloads to run with vtb inside
#                      (NAME, NAME:n or NAME:k=v+k=v); REPS=1 runs of each; needs NESTED_VTB=1
#   GTEST_FILTER=*  TMO=600 (whole QEMU run, s)  TMO_TEST=240 (each binary inside, s)  MEM=512M  CPU=max
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${VTB_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}"
BUILD="${VTB_NESTED_BUILD:-$SRC/build-nested}"
WORK="${VTB_NESTED_WORK:-$BUILD/nested-run}"
CACHE="${VTB_NESTED_CACHE:-$HOME/.cache/vtb/nested-kernel}"
NPT_MODES="${NPT_MODES:-1}"
IRQCHIP_MODES="${IRQCHIP_MODES:-user}"
ITERS="${ITERS:-200}"
BENCH="${BENCH:-0}"
BENCH_EXITS="${BENCH_EXITS:-2000}"
GTEST_FILTER="${GTEST_FILTER:-*}"
TMO="${TMO:-600}"
MEM="${MEM:-512M}"
CPU="${CPU:-max}"
JOBS="${JOBS:-2}"

say() { echo "nested: $*"; }
# Under ctest (VTB_NESTED_ONLY_WITHOUT_KVM=1): a host with /dev/kvm runs the
# direct tests instead, unless VTB_FORCE_NESTED=1. 77 = ctest SKIP_RETURN_CODE.
if [ "${VTB_NESTED_ONLY_WITHOUT_KVM:-0}" = 1 ] && [ -e /dev/kvm ] && [ "${VTB_FORCE_NESTED:-0}" != 1 ]; then
  echo "nested: skipped: /dev/kvm is present, the kvm tests run directly (VTB_FORCE_NESTED=1 forces the nested runner)"
  exit 77
fi
die() { echo "nested: error: $*" >&2; exit 2; }
T0=$(date +%s.%N)

# 1. Host packages (idempotent; only what is missing).
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx insmod || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  (apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
   { apt-get update -qq >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1; }) ||
    die "apt-get install ${need[*]} failed"
fi
file /bin/busybox 2>/dev/null | grep -q dynamically && die "/bin/busybox is not static (install busybox-static)"

# 2. Kernel + modules (cached outside the tree).
"$HERE/fetch_kernel.sh" "$CACHE" || die "kernel fetch failed"

# 3. Static build of what runs inside.
if [ -n "${VTB_NESTED_PREBUILT:-}" ]; then
  BIN="$VTB_NESTED_PREBUILT"
  say "using prebuilt binaries in $BIN"
else
  say "static build in $BUILD"
  mkdir -p "$BUILD"
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVTB_STATIC=ON \
        -DVTB_ENGINE_BT=OFF -DVTB_ENGINE_PV=OFF >"$BUILD/nested-configure.log" 2>&1 ||
    { tail -20 "$BUILD/nested-configure.log"; die "configure failed (log: $BUILD/nested-configure.log)"; }
  cmake --build "$BUILD" -j"$JOBS" --target kvm_engine_tests >"$BUILD/nested-build.log" 2>&1 ||
    { grep -E "error|Error" "$BUILD/nested-build.log" | head -20; die "build of kvm_engine_tests failed (log: $BUILD/nested-build.log)"; }
  # Optional: the guest kernel + archive (kernel tests), the benchmark, the vtb CLI.
  avail="$(cmake --build "$BUILD" --target help 2>/dev/null)"
  optional=(tbk programs_archive)
  [ "$BENCH" = 1 ] && optional+=(kvm_exit_bench)
  [ "${NESTED_VTB:-0}" = 1 ] && optional+=(vtb)
  for t in "${optional[@]}"; do
    echo "$avail" | grep -qE "^\.\.\. $t( |\$)" || continue
    cmake --build "$BUILD" -j"$JOBS" --target "$t" >>"$BUILD/nested-build.log" 2>&1 ||
      say "optional target $t did not build; continuing without it (log: $BUILD/nested-build.log)"
  done
  BIN="$BUILD"
fi
findbin() { find "$BIN" -type f -name "$1" -perm -u+x 2>/dev/null | head -1; }
TESTS="$(findbin kvm_engine_tests)"; [ -n "$TESTS" ] || die "kvm_engine_tests not found under $BIN"
BENCHBIN="$(findbin kvm_exit_bench)"
VTBBIN="$(find "$BIN" -type f -name vtb -perm -u+x -path '*harness*' 2>/dev/null | head -1)"
KELF="${VTB_KERNEL_ELF:-$(find "$BIN" -type f -name 'tbk.elf' 2>/dev/null | head -1)}"
ARCH="${VTB_ARCHIVE:-$(find "$BIN" -type f -name '*.vtba' 2>/dev/null | head -1)}"

# 4. Initramfs.
rm -rf "$WORK"; mkdir -p "$WORK/root"/{bin,lib/modules,dev,proc,sys,tmp}
R="$WORK/root"
cp /bin/busybox "$R/bin/busybox"
for m in irqbypass ccp kvm kvm-amd; do cp "$CACHE/$m.ko" "$R/lib/modules/"; done
cp "$HERE/init.sh" "$R/init"
add_bin() {  # add_bin FILE NAME: the binary and, if dynamic, its ldd closure
  cp "$1" "$R/$2"; chmod +x "$R/$2"
  ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    [ -f "$lib" ] && mkdir -p "$R$(dirname "$lib")" && cp -L "$lib" "$R$lib"
  done
}
add_bin "$TESTS" kvm_engine_tests
[ "$BENCH" = 1 ] && [ -n "$BENCHBIN" ] && add_bin "$BENCHBIN" kvm_exit_bench
if [ -n "$VTBBIN" ]; then
  add_bin "$VTBBIN" vtb
  mkdir -p "$R/workloads" && cp "$SRC/workloads/manifest" "$R/workloads/" && cp -r "$SRC/workloads/golden" "$R/workloads/"
fi
[ -n "$KELF" ] && [ -n "$ARCH" ] && { cp "$KELF" "$R/tbk.elf"; cp "$ARCH" "$R/programs.vtba"; }
say "initramfs: tests=$(basename "$TESTS") bench=${BENCHBIN:+yes} vtb=${VTBBIN:+yes} kernel=${KELF:+yes} archive=${ARCH:+yes}"
(cd "$R" && find . | cpio -o -H newc --quiet) | gzip -1 > "$WORK/initrd.gz" || die "initramfs failed"

# 5. Boot. QEMU exits with (failures << 1) | 1 through isa-debug-exit.
VTB_CMDS=0; [ -n "$VTBBIN" ] && VTB_CMDS=1
APPEND="console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init NPT_MODES=$NPT_MODES IRQCHIP_MODES=$IRQCHIP_MODES"
APPEND+=" MICRO=${MICRO:-} REPS=${REPS:-1} ITERS=$ITERS BENCH=$BENCH BENCH_EXITS=$BENCH_EXITS GTEST_FILTER=$GTEST_FILTER VTB_CMDS=$VTB_CMDS TMO_TEST=${TMO_TEST:-240}"
say "booting $(cat "$CACHE/VERSION") under qemu -accel tcg -cpu $CPU (npt=$NPT_MODES irqchip=$IRQCHIP_MODES iters=$ITERS bench=$BENCH)"
T1=$(date +%s.%N)
timeout -k 10 "$TMO" qemu-system-x86_64 -accel tcg -cpu "$CPU" -smp 1 -m "$MEM" \
  -nographic -no-reboot -nodefaults -monitor none \
  -serial "file:$WORK/serial.log" -serial "file:$WORK/results.txt" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -kernel "$CACHE/vmlinuz" -initrd "$WORK/initrd.gz" -append "$APPEND" < /dev/null
QRC=$?
T2=$(date +%s.%N)
tr -d '\r' < "$WORK/results.txt" > "$WORK/results.clean" 2>/dev/null || : > "$WORK/results.clean"
tr -d '\r' < "$WORK/serial.log" | sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' |
  grep -aE '^\[ *(OK|FAILED|SKIPPED|PASSED) |^\[=|^RESULT |Failure|Expected|Which is|actual|^BM_|^\[ kvm \]'

# 6. Verdict + result JSON.
nmodes=$(( $(echo "$NPT_MODES" | tr ',' '\n' | wc -l) * $(echo "$IRQCHIP_MODES" | tr ',' '\n' | wc -l) ))
ngood=$(grep -c '^RESULT gtest .* rc=0 ' "$WORK/results.clean")
pass=false
if [ "$QRC" -eq 1 ] && grep -q '^RESULT summary failures=0$' "$WORK/results.clean" && [ "$ngood" -eq "$nmodes" ]; then pass=true; fi
/usr/bin/python3 - "$WORK" "$pass" "$QRC" "$T0" "$T1" "$T2" "$(cat "$CACHE/VERSION")" <<'PY' || say "result.json not written"
import json, sys, re
work, passed, qrc, t0, t1, t2, kver = sys.argv[1:]
lines, blocks, cur, buf = [], {}, None, []
for l in open(f"{work}/results.clean", errors="replace").read().split("\n"):
    if cur is None and l.startswith("BEGIN "): cur, buf = l[6:], []
    elif cur is not None and l == "END " + cur:
        try: blocks[cur] = json.loads("\n".join(buf))
        except ValueError: blocks[cur] = {"unparsed": "\n".join(buf)[:2000]}
        cur = None
    elif cur is not None: buf.append(l)
    elif l.startswith("RESULT "): lines.append(l[7:])
out = {"runner": "nested-kvm", "backend": "kvm@nested-tcg", "pass": passed == "true", "qemu_rc": int(qrc),
       "guest_kernel": kver, "setup_s": round(float(t1) - float(t0), 2), "qemu_s": round(float(t2) - float(t1), 2),
       "results": lines, "blocks": blocks}
json.dump(out, open(f"{work}/result.json", "w"), indent=1)
PY
say "qemu rc=$QRC ($(awk -v a="$T1" -v b="$T2" 'BEGIN{printf "%.1f", b-a}') s), setup $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}') s; log $WORK/serial.log; result $WORK/result.json"
if [ "$pass" = true ]; then say "PASS"; exit 0; fi
case "$QRC" in
  124|137) say "FAIL: QEMU timed out after ${TMO}s" ;;
  0) say "FAIL: guest powered off without isa-debug-exit (panic or init failure); last console lines:"; tail -15 "$WORK/serial.log" ;;
  *) say "FAIL: see RESULT lines above" ;;
esac
exit 1

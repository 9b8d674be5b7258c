#!/bin/busybox sh
# tags: harness|nested — desc: /init of the nested-KVM initramfs: load kvm_amd, run the KVM tests/bench, report, power off.
#
# Environment (kernel command-line words KEY=VALUE): NPT_MODES ("1" or "1,0"),
# IRQCHIP_MODES ("user" or "user,kernel"), ITERS (VTB_KVM_TEST_ITERS),
# BENCH (1: run kvm_exit_bench), BENCH_EXITS, GTEST_FILTER, VTB_CMDS (1: run /vtb checks),
# MICRO (comma list NAME[:N] or NAME:k=v+k2=v2 of manifest workloads run by `vtb run --engine kvm
# [--param n=N | --param k=v ...]`, REPS times each; JSON blocks "vtb-run NAME npt=.. irqchip=.. rep=R"),
# TMO_TEST (s).
# Console (ttyS0): everything. Result channel (ttyS1): only RESULT lines and JSON blocks.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp
R=/dev/ttyS1
stty -F $R raw -echo 2>/dev/null
res() { echo "RESULT $*"; echo "RESULT $*" > $R; }
block() {  # block NAME FILE: copy a file to the result channel between markers
  if [ -s "$2" ]; then echo "BEGIN $1" > $R; cat "$2" > $R; echo "" > $R; echo "END $1" > $R; fi
}
fails=0
res "boot kernel=$(uname -r) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //;s/ /_/g') svm=$(grep -c -w svm /proc/cpuinfo) npt=$(grep -c -w npt /proc/cpuinfo)"
for m in irqbypass ccp kvm; do
  insmod /lib/modules/$m.ko || { res "insmod $m fail"; fails=$((fails+1)); }
done
export VTB_KVM_BACKEND=nested-tcg
[ -n "$ITERS" ] && export VTB_KVM_TEST_ITERS=$ITERS
[ -f /tbk.elf ] && export VTB_KERNEL_ELF=/tbk.elf
[ -f /programs.vtba ] && export VTB_ARCHIVE=/programs.vtba
[ -f /tbk.elf ] && export VTB_KERNEL=/tbk.elf                 # the vtb CLI's names
[ -f /workloads/manifest ] && export VTB_MANIFEST=/workloads/manifest
[ -n "$BENCH_EXITS" ] && export VTB_BENCH_EXITS=$BENCH_EXITS
TMO=${TMO_TEST:-400}
for npt in $(echo "${NPT_MODES:-1}" | tr ',' ' '); do
  if ! insmod /lib/modules/kvm-amd.ko npt=$npt; then res "insmod kvm-amd npt=$npt fail"; fails=$((fails+1)); continue; fi
  if [ ! -c /dev/kvm ]; then res "devkvm npt=$npt missing"; fails=$((fails+1)); rmmod kvm_amd; continue; fi
  for irqchip in $(echo "${IRQCHIP_MODES:-user}" | tr ',' ' '); do
    export VTB_KVM_IRQCHIP=$irqchip
    filter=${GTEST_FILTER:-*}
    timeout $TMO /kvm_engine_tests --gtest_filter="$filter" --gtest_output=json:/tmp/gtest.json
    rc=$?
    [ $rc -eq 0 ] || fails=$((fails+1))
    sed -n 's/.*"tests": \([0-9]*\).*/\1/p' /tmp/gtest.json | head -1 > /tmp/n
    res "gtest npt=$npt irqchip=$irqchip rc=$rc tests=$(cat /tmp/n) failures=$(sed -n 's/.*"failures": \([0-9]*\).*/\1/p' /tmp/gtest.json | head -1)"
    block "gtest npt=$npt irqchip=$irqchip" /tmp/gtest.json
    rm -f /tmp/gtest.json
    if [ "$BENCH" = 1 ] && [ -x /kvm_exit_bench ]; then
      timeout $TMO /kvm_exit_bench --benchmark_enable_random_interleaving=true --benchmark_out=/tmp/bench.json --benchmark_out_format=json > /tmp/bench.txt 2>&1
      brc=$?
      cat /tmp/bench.txt
      [ $brc -eq 0 ] || { res "bench npt=$npt irqchip=$irqchip rc=$brc"; fails=$((fails+1)); }
      grep '^RESULT ' /tmp/bench.txt | sed "s/^RESULT //;s/\$/ npt=$npt irqchip=$irqchip/" | while read -r l; do res "$l"; done
      block "bench npt=$npt irqchip=$irqchip" /tmp/bench.json
    fi
    if [ "$VTB_CMDS" = 1 ] && [ -x /vtb ]; then
      timeout $TMO /vtb list > /tmp/list.txt 2>&1; cat /tmp/list.txt
      grep -q 'kvm@nested-tcg' /tmp/list.txt && res "vtb-list names-backend=yes" || { res "vtb-list names-backend=no"; fails=$((fails+1)); }
      if [ -n "$VTB_KERNEL_ELF" ]; then
        timeout $TMO /vtb run --engine kvm --workload forkwait --param n=1000 --json > /tmp/run.json 2>/tmp/run.err
        vrc=$?
        cat /tmp/run.err
        res "vtb-run forkwait npt=$npt irqchip=$irqchip rc=$vrc"
        [ $vrc -eq 0 ] || fails=$((fails+1))
        block "vtb-run forkwait npt=$npt irqchip=$irqchip" /tmp/run.json
        for item in $(echo "$MICRO" | tr ',' ' '); do  # NAME, NAME:N (n=N) or NAME:k=v+k2=v2
          w=${item%%:*}; p=""
          if [ "$w" != "$item" ]; then
            case "${item#*:}" in
              *=*) for kv in $(echo "${item#*:}" | tr '+' ' '); do p="$p --param $kv"; done ;;
              *) p="--param n=${item#*:}" ;;
            esac
          fi
          r=1
          while [ $r -le ${REPS:-1} ]; do
            timeout $TMO /vtb run --engine kvm --workload $w $p --json > /tmp/m.json 2>/tmp/m.err
            mrc=$?
            res "vtb-run $w${p:+$(echo $p | sed 's/--param //g;s/^/ /')} npt=$npt irqchip=$irqchip rep=$r rc=$mrc"
            [ $mrc -eq 0 ] || { cat /tmp/m.err; fails=$((fails+1)); }
            block "vtb-run $w npt=$npt irqchip=$irqchip rep=$r" /tmp/m.json
            r=$((r+1))
          done
        done
      fi
    fi
  done
  rmmod kvm_amd
done
dmesg | grep -i -e 'kvm' -e 'svm' | tail -5
res "summary failures=$fails"
[ $fails -gt 127 ] && fails=127
printf "\\$(printf %03o $fails)" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f

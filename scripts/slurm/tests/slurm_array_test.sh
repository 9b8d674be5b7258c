#!/usr/bin/env bash
# tags: scripts|slurm|tests — desc: ctest: a single-node Slurm on this machine runs scripts/slurm/submit.sh (N=3, quick suite); the merge equals one unsharded quick run.
# usage: slurm_array_test.sh VTB_BINARY OUT_DIR
#
# Installs Debian's slurm-wlm and munge when missing (apt-get; SKIP, exit 77, with the reason
# when that is not possible: not root, no package source), then starts munged, slurmctld and
# slurmd as root on loopback (one node = this host, proctrack/linuxproc, no cgroups, ports
# picked free, every file under OUT_DIR/slurm), submits the array through scripts/slurm/submit.sh
# with N=3 on `--quick`, waits (bounded by VTB_SLURM_TEST_TIMEOUT, default 720 s) for the
# dependent merge + analysis + paper job, and checks that the merged folder has exactly the
# cells of `vtb bench --quick --list`, each with a row per repetition, and that the paper built.
# A trap stops every daemon it started (by pid) on exit.
# Measured on the 2-core development machine: about 3-4 minutes (the three shards run one after
# another: --exclusive, one shard per node).
set -euo pipefail
VTB=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
OUT=$2
PY="${VTB_PYTHON:-/usr/bin/python3}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
LIMIT=${VTB_SLURM_TEST_TIMEOUT:-720}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "not root: a single-node Slurm (munged, slurmctld, slurmd) needs root"
"$PY" -c 'import numpy, matplotlib' >/dev/null 2>&1 || skip "$PY lacks numpy/matplotlib"
t_start=$(date +%s)

# 1. Packages (idempotent).
need=()
for p in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || skip "no apt-get to install ${need[*]}"
  echo "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" > "$OUT.apt.log" 2>&1; then
    apt-get update -qq >> "$OUT.apt.log" 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >> "$OUT.apt.log" 2>&1 ||
      skip "apt-get install ${need[*]} failed: $(tail -1 "$OUT.apt.log")"
  fi
fi
for b in munged slurmctld slurmd sbatch squeue scontrol; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || skip "$b not found after installing slurm-wlm and munge"
done
export PATH="$PATH:/usr/sbin"
echo "packages ready: $(( $(date +%s) - t_start )) s"

# 2. A private single-node cluster under OUT/slurm.
rm -rf "$OUT"
S="$OUT/slurm"
mkdir -p "$S/state" "$S/spool" "$S/munge"
chmod 700 "$S/munge"
NODE=$(hostname -s)
read -r P1 P2 < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
cat > "$S/slurm.conf" <<EOF
ClusterName=vtbtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$P1
SlurmdPort=$P2
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/munge.socket
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=5
MailProg=/bin/true
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=vtb Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"
dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$S/munge/munge.key"

PIDS=()
cleanup() {
  local rc=$?
  # Jobs first (their slurmstepd outlives slurmd), then the daemons, by pid.
  if [ ${#PIDS[@]} -ge 3 ] && kill -0 "${PIDS[1]}" 2>/dev/null; then
    scancel --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 30); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
    for f in "$S"/slurmctld.log "$S"/slurmd.log "$S"/munged.log "$OUT"/sweep/logs/*; do
      [ -f "$f" ] && { echo "--- $f (tail)"; tail -20 "$f"; }
    done
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

munged --foreground --force --socket="$S/munge/munge.socket" --key-file="$S/munge/munge.key" \
  --pid-file="$S/munge/munged.pid" --log-file="$S/munged.log" --seed-file="$S/munge/munged.seed" \
  > "$S/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$S/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$S/munge/munge.socket" ] || fail "munged did not start"
slurmctld -D -c -f "$SLURM_CONF" > "$S/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -N "$NODE" -f "$SLURM_CONF" > "$S/slurmd.out" 2>&1 &
PIDS+=($!)
up=""
for _ in $(seq 60); do
  if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then up=1; break; fi
  sleep 1
done
[ -n "$up" ] || { sinfo -N 2>&1 | tail -3; fail "the Slurm node did not come up"; }
echo "slurm up: node $NODE, ports $P1/$P2 ($(( $(date +%s) - t_start )) s)"

# 3. The documented submission: an array of 3 shards of the quick suite, then merge + analysis + paper.
RES="$OUT/results"
export VTB_BUILD_DIR
VTB_BUILD_DIR=$(dirname "$(dirname "$VTB")")
t_sub=$(date +%s)
rc=0
timeout "$LIMIT" "$ROOT/scripts/slurm/submit.sh" --shards 3 --sweep "$OUT/sweep" --results "$RES" --wait -- --quick ||
  rc=$?
echo "sweep: $(( $(date +%s) - t_sub )) s, submit.sh exit $rc"
[ "$rc" != 124 ] || fail "the sweep did not finish within $LIMIT s"
for i in 1 2 3; do
  f="$OUT/sweep/logs/shard-$i.out"
  [ -f "$f" ] && echo "shard $i/3: $(grep -m1 '^vtb bench: shard' "$f" || true) | $(grep '^results:' "$f" || echo 'no results line')"
done
cat "$OUT/sweep/logs/merge.out" 2>/dev/null | grep -E '^(results:|merge-sweep:|paper:|tidy:|vtb merge:)' || true
[ "$rc" = 0 ] || fail "the merge job failed (exit $rc)"

# 4. The merged folder has exactly the cells of one unsharded quick run.
MERGED=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/sweep/merge.log" | tail -1)
[ -n "$MERGED" ] && [ -f "$MERGED/bench.json" ] || fail "no merged results folder"
"$VTB" bench --quick --list > "$OUT/quick.list"
"$PY" "$ROOT/harness/bench/tests/check_merged.py" "$MERGED" "$OUT/quick.list" || fail "merged folder check"
[ -s "$OUT/sweep/tidy.csv" ] || fail "no tidy table"
[ -s "$OUT/sweep/paper/paper.pdf" ] || grep -q "paper skipped" "$OUT/sweep/merge.log" "$OUT/sweep/logs/merge.out" ||
  fail "no paper built from the merged folder"
echo "slurm_array: ok ($(( $(date +%s) - t_start )) s)"

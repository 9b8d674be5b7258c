#!/bin/sh
# tags: harness|bench|tests — desc: ctest: the shards of --quick are exactly its cells; a real sharded run merges into the unsharded run's cells.
# usage: shard_merge_test.sh VTB_BINARY OUT_DIR
#  1. `vtb bench --quick --shard i/3 --list`, i = 1..3: together exactly the cells of `vtb bench --quick
#     --list`, each in one shard, the same split twice; the kvm@nested-tcg cells all in one shard.
#  2. A real run of a small selection (--quick --engines bt,native --groups micro: in-process
#     engine + host native, seconds) as 3 shards + `vtb merge`: the same rows as the same
#     selection unsharded, in the same order; the analysis loads it and the paper builds from it.
#  3. vtb merge refuses a shard of other options (one line, exit 2) and names every cell of a
#     missing shard (exit 1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/test_setup.sh"
cells() { grep -v '^n/a \|^shard ' "$1" | sort; }

# 1. The split of the whole quick suite (and of one with the nested cells).
for sel in "--quick" "--quick --engines kvm@nested-tcg,bt,native"; do
  "$VTB" bench $sel --list > "$OUT/all.txt"
  : > "$OUT/union.txt"
  for i in 1 2 3; do
    "$VTB" bench $sel --shard $i/3 --list > "$OUT/s$i.txt"
    "$VTB" bench $sel --shard $i/3 --list | cmp -s - "$OUT/s$i.txt" || fail "$sel: shard $i/3 differs between two runs"
    grep "^shard $i/3: " "$OUT/s$i.txt" || fail "$sel: no shard line"
    cells "$OUT/s$i.txt" >> "$OUT/union.txt"
  done
  sort "$OUT/union.txt" > "$OUT/union.sorted"
  cells "$OUT/all.txt" > "$OUT/all.sorted"
  [ -s "$OUT/all.sorted" ] || fail "$sel: no cells listed"
  cmp -s "$OUT/all.sorted" "$OUT/union.sorted" || { diff "$OUT/all.sorted" "$OUT/union.sorted" | head; fail "$sel: shards 1-3 are not the cells of the unsharded run"; }
  echo "$sel: $(wc -l < "$OUT/all.sorted") cells = shards $(for i in 1 2 3; do cells "$OUT/s$i.txt" | wc -l; done | tr '\n' ' ')"
  nested_shards=$(grep -l '^kvm@nested-tcg/' "$OUT"/s[123].txt | wc -l)
  case "$sel" in *nested*) [ "$nested_shards" = 1 ] || fail "the kvm@nested-tcg cells are in $nested_shards shards (one runner session: one shard)" ;; esac
done

# 2. A real sharded run of a small selection, merged, against the same selection unsharded.
SEL="--quick --engines bt,native --groups micro"
t0=$(date +%s)
for i in 1 2 3; do
  ts=$(date +%s)
  "$VTB" bench $SEL --shard $i/3 --out "$OUT/shards" > "$OUT/shard$i.log" 2>&1 || { cat "$OUT/shard$i.log"; fail "shard $i/3 exit $?"; }
  echo "shard $i/3: $(( $(date +%s) - ts )) s, $(sed -n 's/^results: [^ ]* (\(.*\))$/\1/p' "$OUT/shard$i.log")"
done
echo "3 shards: $(( $(date +%s) - t0 )) s"
"$VTB" bench $SEL --out "$OUT/unsharded" > "$OUT/unsharded.log" 2>&1 || { cat "$OUT/unsharded.log"; fail "unsharded run"; }
"$VTB" merge "$OUT/shards" --out "$OUT/merged" > "$OUT/merge.log" 2> "$OUT/merge.err" || { cat "$OUT/merge.log" "$OUT/merge.err"; fail "vtb merge exit $?"; }
MERGED=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/merge.log")
UNSHARDED=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/unsharded.log")
[ -d "$MERGED" ] && [ -d "$UNSHARDED" ] || fail "no results folder"
ls "$MERGED"/shards/1of3/environment.json "$MERGED"/shards/3of3/summary.txt > /dev/null || fail "the shards' own records are not kept"
"$VTB" bench $SEL --list > "$OUT/sel.list"
"$PY" "$HERE/check_merged.py" "$MERGED" "$OUT/sel.list" "$UNSHARDED" || fail "merged folder check"
prc=0
"$ROOT/paper/build.sh" --run "$MERGED" --out "$OUT/paper" > "$OUT/paper.log" 2>&1 || prc=$?
case "$prc" in
  0) echo "paper: built from the merged folder" ;;
  77) echo "paper: skipped ($(tail -1 "$OUT/paper.log"))" ;;
  *) cat "$OUT/paper.log"; fail "paper/build.sh exit $prc" ;;
esac

# 3. Refusals and missing shards.
"$VTB" bench --quick --engines native --workloads micro_callret --shard 1/3 --out "$OUT/other" > /dev/null 2>&1 || fail "the other sweep's shard"
mkdir -p "$OUT/mixed"
cp -r "$OUT"/shards/*shard-2of3 "$OUT"/shards/*shard-3of3 "$OUT"/other/* "$OUT/mixed/"
rc=0
"$VTB" merge "$OUT/mixed" --out "$OUT/refused" > /dev/null 2> "$OUT/refused.err" || rc=$?
[ "$rc" = 2 ] || fail "merging shards of two sweeps: exit $rc, want 2"
[ "$(wc -l < "$OUT/refused.err")" = 1 ] && grep -q "not shards of one sweep" "$OUT/refused.err" || { cat "$OUT/refused.err"; fail "not one line"; }
[ ! -d "$OUT/refused" ] || [ -z "$(ls "$OUT/refused")" ] || fail "a refused merge wrote a folder"
echo "refused: $(cat "$OUT/refused.err")"
rc=0
"$VTB" merge "$OUT"/shards/*shard-1of3 "$OUT"/shards/*shard-3of3 --out "$OUT/partial" > "$OUT/partial.log" 2> "$OUT/partial.err" || rc=$?
[ "$rc" = 1 ] || { cat "$OUT/partial.err"; fail "a missing shard: exit $rc, want 1"; }
"$VTB" bench $SEL --shard 2/3 --list | grep -v '^n/a \|^shard ' | awk '{print $1}' > "$OUT/missing.want"
for c in $(cat "$OUT/missing.want"); do
  grep -qF "$c" "$OUT/partial.err" || fail "cell $c of the missing shard is not named"
done
PARTIAL=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/partial.log")
"$PY" - "$PARTIAL" "$ROOT/analysis" "$(wc -l < "$OUT/missing.want")" <<'PYEOF' || fail "partial merge check"
import sys
sys.path.insert(0, sys.argv[2])
import tidy
t = tidy.load([sys.argv[1]])
lost = {(e["engine"], e["workload"], e["mode"]) for e in t.errors if "shard 2/3 is missing" in e["message"]}
assert len(lost) == int(sys.argv[3]), (len(lost), sys.argv[3])
print("missing shard 2/3: %d cells kept as lost cells, named on stderr" % len(lost))
PYEOF
echo "shard_merge: ok"

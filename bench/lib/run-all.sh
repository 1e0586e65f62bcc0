#!/usr/bin/env bash
# `make bench`: runs every benchmark script (bench/*/*.sh) with the results file
# $BENCH_RESULTS, notes the machine and its load before and after each script, and regenerates
# docs/benchmarks.md from the records with bench/lib/table.py. A script that fails gets a FAILED
# row in the table (with the last line it wrote on stderr), and this exits 1 after writing the
# table; so does a script that records nothing or records a failed check.
#
# Environment (the Makefile sets the first four):
#   BIN_DIR, TEST_BIN_DIR   the release binaries and the debug test-cluster (scripts then build nothing)
#   RUNS                    runs per measurement, passed to every script as its argument
#                           (empty: each script's default)
#   BENCH                   run only the scripts whose path contains this (the table then goes to
#                           target/bench/benchmarks.md; only a full run rewrites docs/benchmarks.md)
#   BENCH_OUT               where the table goes instead
#   BENCH_NOTE              a sentence about the run for the table (e.g. how the binaries were built)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out_dir=${CARGO_TARGET_DIR:-$root/target}/bench
mkdir -p "$out_dir/logs"
export BENCH_RESULTS=$out_dir/results.jsonl
: > "$BENCH_RESULTS"
runs=${RUNS:-}
filter=${BENCH:-}
if [[ -n $filter ]]; then table=${BENCH_OUT:-$out_dir/benchmarks.md}; else table=${BENCH_OUT:-$root/docs/benchmarks.md}; fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
# Other compilers and builds running now: the noise the table should mention.
busy() {
  ps -eo comm= | awk '/^(rustc|cargo|go|cc1|cc1plus|ld|ld.lld|mold|kube-apiserver|etcd)$/ { n[$1]++ }
    END { s = ""; for (k in n) s = s (s ? ", " : "") n[k] " " k; print s ? s : "none" }'
}
# Prints its arguments as one JSON object (NAME VALUE pairs; VALUE taken as a string).
json() { python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(dict(zip(a[::2], a[1::2]))))' "$@"; }

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo yes || echo no)
json type machine date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" commit "$commit" dirty "$dirty" \
  nproc "$(nproc)" memory "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" \
  cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" kernel "$(uname -sr)" \
  load_before "$(load)" busy_before "$(busy)" runs "${runs:-default}" filter "$filter" \
  bin_dir "${BIN_DIR:-}" >> "$BENCH_RESULTS"

start=$SECONDS
failed=0
for script in bench/*/*.sh; do
  [[ $script == bench/lib/* ]] && continue
  [[ -n $filter && $script != *"$filter"* ]] && continue
  name=$(echo "${script#bench/}" | tr / - | sed 's/\.sh$//')
  log=$out_dir/logs/$name
  before=$(load) busy_now=$(busy) t0=$SECONDS
  lines_before=$(wc -l < "$BENCH_RESULTS")
  echo "== $script ${runs} (load $before; also running: $busy_now)" >&2
  BENCH_SCRIPT=$script bash "$script" $runs 2> >(tee "$log.err" >&2) | tee "$log.out"
  rc=${PIPESTATUS[0]}
  wait  # the tee of stderr
  recorded=$(( $(wc -l < "$BENCH_RESULTS") - lines_before ))
  reason=
  if [[ $rc != 0 ]]; then
    reason=$(grep -v '^[[:space:]]*$' "$log.err" | tail -1)
    reason=${reason:-"no message on stderr"}
  elif [[ $recorded == 0 ]]; then
    rc=1 reason="the script succeeded but recorded no result"
  fi
  [[ $rc == 0 ]] || failed=1
  json type script script "$script" command "bash $script${runs:+ $runs}" exit "$rc" \
    reason "$reason" seconds "$((SECONDS - t0))" load_before "$before" load_after "$(load)" \
    busy_before "$busy_now" >> "$BENCH_RESULTS"
done
json type end load_after "$(load)" busy_after "$(busy)" seconds "$((SECONDS - start))" >> "$BENCH_RESULTS"

python3 bench/lib/table.py "$BENCH_RESULTS" "$table" --logs "$out_dir/logs" ${BENCH_NOTE:+--note "$BENCH_NOTE"} || exit 2
echo "bench: wrote $table (records: $BENCH_RESULTS)" >&2
# A failed correctness check in any record fails the run too.
if python3 -c 'import json, sys; sys.exit(any("FAILED" in (json.loads(l).get("checks") or {}).values() for l in open(sys.argv[1])))' "$BENCH_RESULTS"; then :; else failed=1; fi
if [[ $failed != 0 ]]; then
  echo "bench: error: some benchmarks failed (see the FAILED rows in $table)" >&2
  exit 1
fi

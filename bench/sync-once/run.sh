#!/usr/bin/env bash
# sync-once against its peers on the real kube-apiserver, in one run on the same input (release
# build): 1,000 generated objects (850 ConfigMaps, 75 Deployments, 75 Services), each tool in a
# namespace of its own, median of RUNS:
#   first sync  : ours vs `kubectl apply --server-side` and `kubectl apply --server-side --prune
#                 --applyset` into an empty namespace (target: ours >= 3x faster);
#   no-op re-sync: the same input again (target: ours >= 10x faster).
# With Go on the PATH, bare-ssa/ (one server-side apply per object and nothing else, 16 in
# flight) runs on the same input as a further peer: the floor no client's first sync can beat
# on this server, and so the best ratio to kubectl a client can reach here.
# The peers alternate within each run, and the order rotates from run to run, so that a change
# in the machine's load, or the controllers still digesting the previous tool's objects, falls
# on every tool alike. The load average is printed with the figures: the control plane and the
# tools share the machine's cores, so a busy machine slows every figure (kubectl's serial
# requests less than our concurrent ones).
# usage: bench/sync-once/run.sh [RUNS]   (default 5; needs `make tools`: the control plane and
#        kubectl in KUBEBUILDER_ASSETS or ~/.cache/gitops-toolkit/tools/current)
#        SYNC_ONCE_BASELINE=PATH adds another sync-once binary (an earlier build) as a peer, to
#        measure a change against it in the same run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-5}
assets=${KUBEBUILDER_ASSETS:-$HOME/.cache/gitops-toolkit/tools/current}
kubectl=$assets/kubectl
cd "$root"
# BIN_DIR / TEST_BIN_DIR (as `make bench` sets them): the caller's binaries, nothing is built.
[ -n "${BIN_DIR:-}" ] || cargo build -q --release -p sync-once
[ -n "${TEST_BIN_DIR:-}" ] || cargo build -q -p gitops-tests --bins
ours=${BIN_DIR:-$root/target/release}/sync-once
work=$(mktemp -d)
cluster_pid=
cleanup() {
  if [ -n "$cluster_pid" ]; then kill "$cluster_pid" 2>/dev/null; wait "$cluster_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/cluster.out"
"${TEST_BIN_DIR:-$root/target/debug}/test-cluster" > "$work/cluster.out" 2>"$work/cluster.err" &
cluster_pid=$!
exec 3<"$work/cluster.out"
read -r kubeconfig <&3
k() { "$kubectl" --kubeconfig "$kubeconfig" --cache-dir "$work/kcache" "$@"; }
bare=
if command -v go >/dev/null; then
  (cd "$here/bare-ssa" && go build -o "$work/bare-ssa" .)
  bare=$work/bare-ssa
  cluster_dir=$(dirname "$kubeconfig")
  server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  # The test control plane's admin token (tokens.csv: token,user,uid,groups).
  head -n1 "$cluster_dir/tokens.csv" | cut -d, -f1 > "$work/token"
fi
# bare-ssa's input: each object's URL path and JSON, from the same file.
bare_lines() { # bare_lines FILE OUT
  k create --dry-run=client -o json -f "$1" | python3 -c '
import json, sys
route = {"ConfigMap": "api/v1/namespaces/{}/configmaps/{}", "Service": "api/v1/namespaces/{}/services/{}",
         "Deployment": "apis/apps/v1/namespaces/{}/deployments/{}"}
text, at, decoder = sys.stdin.read(), 0, json.JSONDecoder()
while text[at:].strip():  # one JSON document per object, one after the other
    o, end = decoder.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
    at = end
    m = o["metadata"]
    print("/" + route[o["kind"]].format(m["namespace"], m["name"]) + "\t" + json.dumps(o))
' > "$2"
}

gen() { # gen NAMESPACE FILE
  python3 - "$1" "$2" <<'PY'
import sys
ns, out = sys.argv[1], sys.argv[2]
docs = []
for i in range(850):
    docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04d}\n  namespace: {ns}\n  labels: {{app: bench}}\ndata:\n  key: value-{i}\n  config.yaml: |\n    replicas: {i % 5}\n    feature: {'on' if i % 2 else 'off'}\n")
for i in range(75):
    docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i:03d}\n  namespace: {ns}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: web-{i:03d}}}}}\n  template:\n    metadata: {{labels: {{app: web-{i:03d}}}}}\n    spec:\n      containers:\n      - name: web\n        image: registry.example/web:{i}\n        ports: [{{containerPort: 8080}}]\n        resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}\n")
    docs.append(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web-{i:03d}\n  namespace: {ns}\nspec:\n  selector: {{app: web-{i:03d}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n")
open(out, "w").write("---\n".join(docs))
PY
}

# Waits until the machine is quiet again (at most 20 s): under a quarter of the cores busy in two
# half-second samples in a row. The control plane's controllers digest a first sync of 1,000
# objects for seconds after the tool has exited (ReplicaSets, EndpointSlices, the garbage
# collector's graph); without this, that work lands on whichever tool is measured next.
settle() {
  python3 - <<'PY'
import time
def sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]
quiet, deadline = 0, time.time() + 20
t0, i0 = sample()
while quiet < 2 and time.time() < deadline:
    time.sleep(0.5)
    t1, i1 = sample()
    busy = 1 - (i1 - i0) / max(t1 - t0, 1)
    quiet = quiet + 1 if busy < 0.25 else 0
    t0, i0 = t1, i1
PY
}

# Seconds a command takes (its output discarded).
timed() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}
median() { printf '%s\n' "$@" | python3 -c 'import statistics, sys; print(f"{statistics.median(float(l) for l in sys.stdin):.3f}")'; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.1f}')" "$1" "$2"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# first_TOOL / noop_TOOL: the times of each run.
declare -a first_ours noop_ours first_kssa noop_kssa first_kset noop_kset first_base noop_base first_bare noop_bare
measure() { # measure TOOL RUN: a first sync and a no-op re-sync into bench-TOOL-RUN
  local tool=$1 ns=bench-$1-$2 f n
  local file=$work/$ns.yaml
  case $tool in
    ours | base)
      local bin=$ours
      [ "$tool" = base ] && bin=$SYNC_ONCE_BASELINE
      settle; f=$(timed "$bin" --kubeconfig "$kubeconfig" -f "$file" --inventory "$ns/set")
      settle; n=$(timed "$bin" --kubeconfig "$kubeconfig" -f "$file" --inventory "$ns/set") ;;
    kssa)
      settle; f=$(timed k apply --server-side -f "$file")
      settle; n=$(timed k apply --server-side -f "$file") ;;
    kset)
      settle; f=$(KUBECTL_APPLYSET=true timed k apply -n "$ns" --server-side --prune --applyset=secret/set -f "$file")
      settle; n=$(KUBECTL_APPLYSET=true timed k apply -n "$ns" --server-side --prune --applyset=secret/set -f "$file") ;;
    bare)
      bare_lines "$file" "$work/$ns.lines"
      local args=(-server "$server" -ca "$cluster_dir/ca.crt" -token "$work/token" -file "$work/$ns.lines")
      settle; f=$(timed "$bare" "${args[@]}")
      settle; n=$(timed "$bare" "${args[@]}") ;;
  esac
  eval "first_$tool+=($f) noop_$tool+=($n)"
}

tools=(ours kssa kset)
[ -n "${SYNC_ONCE_BASELINE:-}" ] && tools+=(base)
[ -n "$bare" ] && tools+=(bare)
load_start=$(load)
for run in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    k create namespace "bench-$tool-$run" >/dev/null
    gen "bench-$tool-$run" "$work/bench-$tool-$run.yaml"
  done
  # Rotate: run 1 starts with ours, run 2 with the next peer, and so on.
  for i in "${!tools[@]}"; do
    measure "${tools[$(( (i + run - 1) % ${#tools[@]} ))]}" "$run"
  done
done
load_end=$(load)
# Sanity: every tool really applied the 1,000 objects.
for tool in "${tools[@]}"; do
  n=$(k get configmaps,deployments,services -n "bench-$tool-1" -o name | grep -vc 'kube-root-ca.crt' || true)
  [ "$n" -ge 1000 ] || { echo "bench-$tool-1 holds only $n objects" >&2; exit 2; }
done
kubectl_version=$(k version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')
of=$(median "${first_ours[@]}") on=$(median "${noop_ours[@]}")
kf=$(median "${first_kssa[@]}") kn=$(median "${noop_kssa[@]}")
af=$(median "${first_kset[@]}") an=$(median "${noop_kset[@]}")
echo "sync-once vs kubectl $kubectl_version, 1,000 objects, median of $runs runs (seconds)"
echo "load average (1, 5, 15 min): $load_start at the start, $load_end at the end ($(nproc) cores)"
printf '%-48s %9s %9s\n' "" "first" "no-op"
printf '%-48s %9s %9s\n' "sync-once" "$of" "$on"
printf '%-48s %9s %9s\n' "kubectl apply --server-side" "$kf" "$kn"
printf '%-48s %9s %9s\n' "kubectl apply --server-side --prune --applyset" "$af" "$an"
echo "ratio vs kubectl apply --server-side:            first $(ratio "$of" "$kf")x (target 3x), no-op $(ratio "$on" "$kn")x (target 10x)"
echo "ratio vs kubectl apply --server-side --applyset: first $(ratio "$of" "$af")x, no-op $(ratio "$on" "$an")x"
if [ -n "${SYNC_ONCE_BASELINE:-}" ]; then
  printf '%-48s %9s %9s\n' "sync-once baseline ($SYNC_ONCE_BASELINE)" "$(median "${first_base[@]}")" "$(median "${noop_base[@]}")"
fi
if [ -n "$bare" ]; then
  bf=$(median "${first_bare[@]}")
  printf '%-48s %9s %9s\n' "bare-ssa (one apply per object, nothing else)" "$bf" "$(median "${noop_bare[@]}")"
  echo "the floor: bare-ssa's first sync is $(ratio "$bf" "$kf")x faster than kubectl's; sync-once takes $(python3 -c "print(f'{float(\"$of\") / float(\"$bf\"):.2f}')")x bare-ssa's time"
fi
echo "every run (first / no-op): sync-once ${first_ours[*]} / ${noop_ours[*]}; kubectl ${first_kssa[*]} / ${noop_kssa[*]}; kubectl --applyset ${first_kset[*]} / ${noop_kset[*]}${SYNC_ONCE_BASELINE:+; baseline ${first_base[*]} / ${noop_base[*]}}${bare:+; bare-ssa ${first_bare[*]} / ${noop_bare[*]}}"

# ---- make bench: record the figures (bench/lib/record.py; a no-op outside make bench) ----------
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
record=(python3 "$root/bench/lib/record.py" --tool sync-once --runs "$runs"
  --command "bash bench/sync-once/run.sh $runs" --input "1,000 objects (850 ConfigMaps, 75 Deployments, 75 Services)"
  --peer-version-of "$kubectl")
"${record[@]}" --case "first sync into an empty namespace" --peer "kubectl apply --server-side" \
  --ours-ms "$(ms "$of")" --peer-ms "$(ms "$kf")" --target "speedup>=3"
"${record[@]}" --case "no-op re-sync of the same input" --peer "kubectl apply --server-side" \
  --ours-ms "$(ms "$on")" --peer-ms "$(ms "$kn")" --target "speedup>=10"
"${record[@]}" --case "first sync into an empty namespace" --peer "kubectl apply --server-side --prune --applyset" \
  --ours-ms "$(ms "$of")" --peer-ms "$(ms "$af")"
"${record[@]}" --case "no-op re-sync of the same input" --peer "kubectl apply --server-side --prune --applyset" \
  --ours-ms "$(ms "$on")" --peer-ms "$(ms "$an")"
if [ -n "$bare" ]; then
  "${record[@]}" --case "first sync into an empty namespace" --peer "bare-ssa (one apply per object, nothing else: the floor)" \
    --ours-ms "$(ms "$of")" --peer-ms "$(ms "$bf")"
fi

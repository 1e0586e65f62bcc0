#!/usr/bin/env bash
# sync-once against its peers on the real kube-apiserver, in one run on the same input (release
# build): 1,000 generated objects (850 ConfigMaps, 75 Deployments, 75 Services), each tool in a
# namespace of its own, best of RUNS:
#   first sync  : ours vs `kubectl apply --server-side` and `kubectl apply --server-side --prune
#                 --applyset` into an empty namespace (target: ours >= 3x faster);
#   no-op re-sync: the same input again (target: ours >= 10x faster).
# usage: bench/sync-once/run.sh [RUNS]   (needs `make tools`: the control plane and kubectl in
#        KUBEBUILDER_ASSETS or ~/.cache/gitops-toolkit/tools/current)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-3}
assets=${KUBEBUILDER_ASSETS:-$HOME/.cache/gitops-toolkit/tools/current}
kubectl=$assets/kubectl
cd "$root"
cargo build -q --release -p sync-once
cargo build -q -p gitops-tests --bins
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

# Seconds a command takes (its output discarded).
timed() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}
best() { printf '%s\n' "$@" | sort -n | head -1; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.1f}')" "$1" "$2"; }

declare -a of ok kf kn af an
for run in $(seq "$runs"); do
  for tool in ours kssa kset; do
    ns=bench-$tool-$run
    k create namespace "$ns" >/dev/null
    gen "$ns" "$work/$ns.yaml"
  done
  of+=("$(timed "$ours" --kubeconfig "$kubeconfig" -f "$work/bench-ours-$run.yaml" --inventory "bench-ours-$run/set")")
  ok+=("$(timed "$ours" --kubeconfig "$kubeconfig" -f "$work/bench-ours-$run.yaml" --inventory "bench-ours-$run/set")")
  kf+=("$(timed k apply --server-side -f "$work/bench-kssa-$run.yaml")")
  kn+=("$(timed k apply --server-side -f "$work/bench-kssa-$run.yaml")")
  af+=("$(KUBECTL_APPLYSET=true timed k apply -n "bench-kset-$run" --server-side --prune --applyset=secret/set -f "$work/bench-kset-$run.yaml")")
  an+=("$(KUBECTL_APPLYSET=true timed k apply -n "bench-kset-$run" --server-side --prune --applyset=secret/set -f "$work/bench-kset-$run.yaml")")
done
# Sanity: every tool really applied the 1,000 objects.
for tool in ours kssa kset; do
  n=$(k get configmaps,deployments,services -n "bench-$tool-1" -o name | grep -vc 'kube-root-ca.crt' || true)
  [ "$n" -ge 1000 ] || { echo "bench-$tool-1 holds only $n objects" >&2; exit 2; }
done
kubectl_version=$(k version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')
echo "sync-once vs kubectl $kubectl_version, 1,000 objects, best of $runs (seconds)"
printf '%-44s %9s %9s\n' "" "first" "no-op"
printf '%-44s %9s %9s\n' "sync-once" "$(best "${of[@]}")" "$(best "${ok[@]}")"
printf '%-44s %9s %9s\n' "kubectl apply --server-side" "$(best "${kf[@]}")" "$(best "${kn[@]}")"
printf '%-44s %9s %9s\n' "kubectl apply --server-side --prune --applyset" "$(best "${af[@]}")" "$(best "${an[@]}")"
echo "ratio vs kubectl apply --server-side:            first $(ratio "$(best "${of[@]}")" "$(best "${kf[@]}")")x (target 3x), no-op $(ratio "$(best "${ok[@]}")" "$(best "${kn[@]}")")x (target 10x)"
echo "ratio vs kubectl apply --server-side --applyset: first $(ratio "$(best "${of[@]}")" "$(best "${af[@]}")")x, no-op $(ratio "$(best "${ok[@]}")" "$(best "${an[@]}")")x"

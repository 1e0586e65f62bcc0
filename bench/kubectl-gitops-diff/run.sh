#!/usr/bin/env bash
# kubectl-gitops-diff against its peers, in one run on the same input (release build):
#  (a) live diff of 1,000 objects (10 % changed) on the real kube-apiserver:
#      ours vs `kubectl diff --server-side -f` (target >= 5x);
#  (b) revision diff of a GitOps repository with 3 environments x 50 apps where the change
#      touches one app: ours vs checking out both revisions, `kustomize build` each
#      kustomization and `diff -u` (target >= 50x).
# usage: bench/kubectl-gitops-diff/run.sh [RUNS]   (PART=a or PART=b runs one half)   (needs `make tools`: kubectl, kustomize, the
#        control plane; KUBEBUILDER_ASSETS or ~/.cache/gitops-toolkit/tools/current)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-${RUNS:-5}}
assets=${KUBEBUILDER_ASSETS:-$HOME/.cache/gitops-toolkit/tools/current}
kubectl=$assets/kubectl
kustomize=$assets/kustomize
cd "$root"
# Under `make bench` (BIN_DIR, TEST_BIN_DIR set) everything is built already.
[[ -n ${BIN_DIR:-} ]] || cargo build -q --release -p kubectl-gitops-diff
[[ -n ${TEST_BIN_DIR:-} ]] || cargo build -q -p gitops-tests --bins
ours=${BIN_DIR:-$root/target/release}/kubectl-gitops-diff
work=$(mktemp -d)
cluster_pid=
cleanup() {
  [ -n "$cluster_pid" ] && kill "$cluster_pid" 2>/dev/null && wait "$cluster_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ratio() { python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.1f}')" "$1" "$2"; }

part=${PART:-ab}
# (a) live diff ---------------------------------------------------------------------------
if [[ $part == *a* ]]; then
mkfifo "$work/cluster.out"
"${TEST_BIN_DIR:-$root/target/debug}/test-cluster" > "$work/cluster.out" 2>"$work/cluster.err" &
cluster_pid=$!
exec 3<"$work/cluster.out"
read -r kubeconfig <&3
ns=bench-diff
"$kubectl" --kubeconfig "$kubeconfig" create namespace "$ns" >/dev/null
python3 "$here/gen.py" live "$work" "$ns" 1000
"$kubectl" --kubeconfig "$kubeconfig" apply --server-side --field-manager=sync-once \
  -f "$work/base.yaml" >/dev/null
kdiff="$kubectl --kubeconfig $kubeconfig --cache-dir $work/kcache diff --server-side --field-manager=sync-once --force-conflicts -f $work/desired.yaml"
odiff="$ours --kubeconfig $kubeconfig -f $work/desired.yaml"
# Both must see the same 100 objects differ.
k_n=$($kdiff 2>/dev/null | grep -c '^diff -u -N ' || true)
o_n=$($odiff -o json | python3 -c "import json,sys; print(sum(o['action']!='unchanged' for o in json.load(sys.stdin)['objects']))" || true)
echo "(a) objects that differ: kubectl diff $k_n, ours $o_n"
out=$(python3 "$root/bench/lib/measure.py" "$runs" \
  "ours=$odiff >/dev/null || [ \$? = 1 ]" \
  "kubectl=$kdiff >/dev/null || [ \$? = 1 ]")
echo "$out"
o_ms=$(echo "$out" | awk '$1=="ours"{print $2}')
k_ms=$(echo "$out" | awk '$1=="kubectl"{print $2}')
echo "(a) live diff, 1000 objects, 10% changed: ours ${o_ms} ms, kubectl diff --server-side ${k_ms} ms: $(ratio "$o_ms" "$k_ms")x"
[[ $k_n == 100 && $o_n == 100 ]] && same=ok || same=FAILED
python3 "$root/bench/lib/record.py" --tool kubectl-gitops-diff --runs "$runs" \
  --command "PART=a bash bench/kubectl-gitops-diff/run.sh $runs" \
  --case "live diff against the real kube-apiserver (server-side dry-run)" \
  --input "1,000 objects, 100 changed" --peer "kubectl diff --server-side" --peer-version-of "$kubectl" \
  --ours-ms "$o_ms" --peer-ms "$k_ms" \
  --ours-kib "$(echo "$out" | awk '$1=="ours"{print $4}')" --peer-kib "$(echo "$out" | awk '$1=="kubectl"{print $4}')" \
  --target "speedup>=5" --check "both find the same 100 objects differ (kubectl $k_n, ours $o_n)=$same"
kill "$cluster_pid"; wait "$cluster_pid" 2>/dev/null || true; cluster_pid=
fi

# (b) revision diff -----------------------------------------------------------------------
[[ $part == *b* ]] || exit 0
repo=$work/gitops
mkdir -p "$repo"
python3 "$here/gen.py" repo "$repo" 3 50
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@example.com commit -q -m initial
sed -i 's/newTag: 1.0.0/newTag: 1.1.0/' "$repo/envs/env1/app17/kustomization.yaml"
git -C "$repo" -c user.name=b -c user.email=b@example.com commit -q -am "app17 1.1.0 in env1"
o_changed=$($ours --repo "$repo" --path envs --from HEAD~1 --to HEAD -o json \
  | python3 -c "import json,sys; d=json.load(sys.stdin); print('(b) ours:', d['summary'], d['units'], file=sys.stderr); print(d['summary']['changed'])" || true)
n_lines=$(bash "$here/lib/naive-revision-diff.sh" "$kustomize" "$repo" envs HEAD~1 HEAD | grep -c '^[-+] ' || true)
echo "(b) ours: $o_changed changed object(s); naive: $n_lines changed lines"
out=$(python3 "$root/bench/lib/measure.py" "$runs" \
  "ours=$ours --repo $repo --path envs --from HEAD~1 --to HEAD >/dev/null || [ \$? = 1 ]" \
  "naive=bash $here/lib/naive-revision-diff.sh $kustomize $repo envs HEAD~1 HEAD")
echo "$out"
o_ms=$(echo "$out" | awk '$1=="ours"{print $2}')
n_ms=$(echo "$out" | awk '$1=="naive"{print $2}')
echo "(b) revision diff, 3 envs x 50 apps, one app changed: ours ${o_ms} ms, checkout + kustomize build + diff -u ${n_ms} ms: $(ratio "$o_ms" "$n_ms")x"
[[ $o_changed == 1 && $n_lines -ge 2 ]] && found=ok || found=FAILED
python3 "$root/bench/lib/record.py" --tool kubectl-gitops-diff --runs "$runs" \
  --command "PART=b bash bench/kubectl-gitops-diff/run.sh $runs" \
  --case "revision diff for a pull request, no cluster" \
  --input "3 envs x 50 apps (150 kustomizations), one app's image tag changed" \
  --peer "check out both revisions, kustomize build each kustomization, diff -u" --peer-version-of "$kustomize" \
  --ours-ms "$o_ms" --peer-ms "$n_ms" \
  --ours-kib "$(echo "$out" | awk '$1=="ours"{print $4}')" --peer-kib "$(echo "$out" | awk '$1=="naive"{print $4}')" \
  --target "speedup>=50" --check "both find the change (ours: $o_changed object, diff -u: $n_lines lines)=$found"

#!/usr/bin/env bash
# Benchmark: manifest-render on a folder of plain YAML with ${VAR} placeholders (2,000 objects in
# 1,000 files) against `kubectl kustomize` on a kustomization listing the same files — what users
# run today to merge a folder of YAML. Same input, one run, alternating; prints median times,
# the ratio and peak memory. Also times `manifest-render --version` (start-up).
#
# usage: bench/manifest-render/plain.sh [RUNS]   (default $RUNS or 5; builds the release binary
#        unless BIN_DIR names one); under `make bench` it records its results (bench/lib/record.py)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-${RUNS:-5}}
bin=${BIN_DIR:-$root/target/release}/manifest-render
[[ -n ${BIN_DIR:-} ]] || cargo build --release -q -p manifest-render --manifest-path "$root/Cargo.toml"
command -v kubectl >/dev/null || { echo "kubectl not on PATH: it is the peer" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/app" <<'PY'
import os, sys
root = sys.argv[1]
os.makedirs(root)
names = []
for i in range(1000):
    d = os.path.join(root, f"svc{i // 100:02d}")
    os.makedirs(d, exist_ok=True)
    name = f"svc{i // 100:02d}/app{i:04d}.yaml"
    names.append(name)
    with open(os.path.join(root, name), "w") as f:
        f.write(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i:04d}
  labels:
    app: app{i:04d}
    env: ${{ENV}}
spec:
  replicas: ${{REPLICAS:=2}}
  selector:
    matchLabels:
      app: app{i:04d}
  template:
    metadata:
      labels:
        app: app{i:04d}
    spec:
      containers:
      - name: app
        image: registry.example.com/app{i:04d}:${{TAG}}
        ports:
        - containerPort: 8080
        env:
        - name: LOG_LEVEL
          value: ${{LOG_LEVEL:=info}}
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: app{i:04d}
spec:
  selector:
    app: app{i:04d}
  ports:
  - port: 80
    targetPort: 8080
""")
with open(os.path.join(root, "kustomization.yaml"), "w") as f:
    f.write("resources:\n" + "".join(f"- {n}\n" for n in names))
PY
# manifest-render reads the folder (the kustomization is for kubectl); point it at the subfolders.
ours="$bin --var ENV=dev --var TAG=1.0 $work/app/svc*"
peer="kubectl kustomize $work/app"
n=$($bin --var ENV=dev --var TAG=1.0 "$work"/app/svc* | grep -c '^kind:')
echo "input: $n objects in $(ls "$work"/app/svc*/*.yaml | wc -l) files; $runs runs each"
python3 "$root/bench/lib/measure.py" "$runs" "manifest-render=$ours" "kubectl-kustomize=$peer" > "$work/render.txt"
python3 "$root/bench/lib/measure.py" --time-only 20 "version=$bin --version" > "$work/version.txt"
read -r _ ours_ms _ ours_kib < <(grep '^manifest-render ' "$work/render.txt")
read -r _ peer_ms _ peer_kib < <(grep '^kubectl-kustomize ' "$work/render.txt")
read -r _ version_ms _ _ < "$work/version.txt"
awk -v om="$ours_ms" -v ok="$ours_kib" -v pm="$peer_ms" -v pk="$peer_kib" -v vm="$version_ms" 'BEGIN {
  printf "%-20s %10s %12s\n", "tool", "median ms", "peak RSS MiB"
  printf "%-20s %10.1f %12.1f\n", "manifest-render", om, ok / 1024
  printf "%-20s %10.1f %12.1f\n", "kubectl kustomize", pm, pk / 1024
  printf "speed-up: %.1fx (target >= 50x)\n", pm / om
  printf "memory: %.3f of kustomize (target <= 0.333)\n", ok / pk
  printf "manifest-render --version median: %.2f ms (target <= 5 ms)\n", vm
}'
record=(python3 "$root/bench/lib/record.py" --tool manifest-render --runs "$runs"
  --command "bash bench/manifest-render/plain.sh $runs")
"${record[@]}" --case "plain YAML folder with \${VAR} placeholders" \
  --input "$n objects in 1000 files" --peer "kubectl kustomize" --peer-version-of "$(command -v kubectl)" \
  --ours-ms "$ours_ms" --peer-ms "$peer_ms" --ours-kib "$ours_kib" --peer-kib "$peer_kib" \
  --target "speedup>=50" --target "memory<=0.333"
"${record[@]}" --case "start-up: manifest-render --version" --input "no input; 20 runs" \
  --value "median=${version_ms}ms" --target "median<=5"

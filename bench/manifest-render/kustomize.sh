#!/usr/bin/env bash
# Benchmark: manifest-render's native kustomize engine against `kubectl kustomize` on generated
# overlays of 1,000 and 2,000 objects (a base of Deployments and Services; an overlay with
# namespace, namePrefix, labels, images, a JSON 6902 patch on every Deployment, a
# strategic-merge patch and a configMapGenerator whose hashed name every Deployment refers to).
# Same input, one run, alternating; prints median times, ratios, peak memory, the scaling of
# manifest-render from 1,000 to 2,000 objects, and whether the outputs are byte-identical.
#
# usage: bench/manifest-render/kustomize.sh [RUNS]   (default $RUNS or 5; builds the release binary
#        first unless BIN_DIR names one); under `make bench` it records its results (bench/lib/record.py)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-${RUNS:-5}}
bin=${BIN_DIR:-$root/target/release}/manifest-render
[[ -n ${BIN_DIR:-} ]] || cargo build --release -q -p manifest-render --manifest-path "$root/Cargo.toml"   # no-op when up to date
command -v kubectl >/dev/null || { echo "kubectl not on PATH: it is the peer" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

generate() { # DIR OBJECTS
  python3 - "$1" "$2" <<'PY'
import os, sys
root, objects = sys.argv[1], int(sys.argv[2])
apps = (objects - 2) // 2            # a Deployment and a Service per app, a ServiceAccount, a ConfigMap
base = os.path.join(root, "base")
os.makedirs(base)
names = []
for i in range(apps):
    name = f"app{i:04d}.yaml"
    names.append(name)
    with open(os.path.join(base, name), "w") as f:
        f.write(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i:04d}
  labels:
    app: app{i:04d}
spec:
  replicas: 2
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
        image: registry.example.com/app:1.0
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: shared-config
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
with open(os.path.join(base, "sa.yaml"), "w") as f:
    f.write("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: apps\n")
names.append("sa.yaml")
with open(os.path.join(base, "kustomization.yaml"), "w") as f:
    f.write("resources:\n" + "".join(f"- {n}\n" for n in names))
overlay = os.path.join(root, "overlay")
os.makedirs(overlay)
with open(os.path.join(overlay, "kustomization.yaml"), "w") as f:
    f.write("""resources:
- ../base
namespace: production
namePrefix: prod-
labels:
- pairs:
    env: production
  includeSelectors: true
images:
- name: registry.example.com/app
  newTag: "2.0"
configMapGenerator:
- name: shared-config
  literals:
  - LOG_LEVEL=info
  - REGION=eu-west-1
patches:
- target:
    kind: Deployment
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 3
    - op: add
      path: /spec/template/metadata/annotations
      value:
        prometheus.io/scrape: "true"
- path: service-patch.yaml
  target:
    kind: Service
""")
with open(os.path.join(overlay, "service-patch.yaml"), "w") as f:
    f.write("""apiVersion: v1
kind: Service
metadata:
  name: any
spec:
  type: ClusterIP
  ports:
  - port: 80
    targetPort: 8080
    protocol: TCP
""")
PY
}

declare -A ours_ms peer_ms ours_kib peer_kib same_at objects_at
for n in 1000 2000; do
  generate "$work/$n" "$n"
  "$bin" "$work/$n/overlay" > "$work/ours-$n.yaml"
  kubectl kustomize "$work/$n/overlay" > "$work/peer-$n.yaml"
  objects=$(grep -c '^kind:' "$work/ours-$n.yaml")
  if cmp -s "$work/ours-$n.yaml" "$work/peer-$n.yaml"; then same="byte-identical"; else same="DIFFERENT"; fi
  echo "input $n: $objects objects rendered; outputs $same"
  same_at[$n]=$same objects_at[$n]=$objects
  python3 "$root/bench/lib/measure.py" "$runs" \
    "manifest-render=$bin $work/$n/overlay" \
    "kubectl-kustomize=kubectl kustomize $work/$n/overlay" > "$work/m-$n.txt"
  read -r _ ours_ms[$n] _ ours_kib[$n] < <(grep '^manifest-render ' "$work/m-$n.txt")
  read -r _ peer_ms[$n] _ peer_kib[$n] < <(grep '^kubectl-kustomize ' "$work/m-$n.txt")
done
# Scaling of manifest-render alone: 1,000 and 2,000 alternating, more runs (each run is short, so
# machine noise weighs more than for kubectl).
python3 "$root/bench/lib/measure.py" $((runs * 4)) \
  "mr-1000=$bin $work/1000/overlay" "mr-2000=$bin $work/2000/overlay" > "$work/scale.txt"
read -r _ s1 s1min _ < <(grep '^mr-1000 ' "$work/scale.txt")
read -r _ s2 s2min _ < <(grep '^mr-2000 ' "$work/scale.txt")
awk -v o1="${ours_ms[1000]}" -v p1="${peer_ms[1000]}" -v o2="${ours_ms[2000]}" -v p2="${peer_ms[2000]}" \
    -v ok1="${ours_kib[1000]}" -v pk1="${peer_kib[1000]}" -v ok2="${ours_kib[2000]}" -v pk2="${peer_kib[2000]}" -v runs="$runs" \
    -v s1="$s1" -v s2="$s2" -v s1min="$s1min" -v s2min="$s2min" 'BEGIN {
  printf "%d runs each (median)\n", runs
  printf "%-8s %-18s %10s %12s\n", "objects", "tool", "median ms", "peak RSS MiB"
  printf "%-8s %-18s %10.1f %12.1f\n", 1000, "manifest-render", o1, ok1 / 1024
  printf "%-8s %-18s %10.1f %12.1f\n", 1000, "kubectl kustomize", p1, pk1 / 1024
  printf "%-8s %-18s %10.1f %12.1f\n", 2000, "manifest-render", o2, ok2 / 1024
  printf "%-8s %-18s %10.1f %12.1f\n", 2000, "kubectl kustomize", p2, pk2 / 1024
  printf "speed-up at 1,000: %.1fx; at 2,000: %.1fx (target >= 100x at 2,000)\n", p1 / o1, p2 / o2
  printf "manifest-render time(2,000)/time(1,000): %.2f in the runs above; %.2f by median and %.2f by minimum over %d alternating runs of manifest-render alone (%.1f / %.1f ms) (target <= 2.3)\n", o2 / o1, s2 / s1, s2min / s1min, runs * 4, s1, s2
  printf "memory at 2,000: %.3f of kustomize (target <= 0.25)\n", ok2 / pk2
}'
record=(python3 "$root/bench/lib/record.py" --tool manifest-render --runs "$runs"
  --command "bash bench/manifest-render/kustomize.sh $runs")
for n in 1000 2000; do
  [[ ${same_at[$n]} == byte-identical ]] && same=ok || same=FAILED
  targets=()
  [[ $n == 2000 ]] && targets=(--target "speedup>=100" --target "memory<=0.25")
  "${record[@]}" --case "kustomize overlay (namespace, namePrefix, labels, images, JSON 6902 + strategic-merge patches, configMapGenerator)" \
    --input "${objects_at[$n]} objects" --peer "kubectl kustomize" --peer-version-of "$(command -v kubectl)" \
    --ours-ms "${ours_ms[$n]}" --peer-ms "${peer_ms[$n]}" --ours-kib "${ours_kib[$n]}" --peer-kib "${peer_kib[$n]}" \
    "${targets[@]}" --check "output byte-identical to kubectl kustomize=$same"
done
"${record[@]}" --case "scaling: time(2,000 objects) / time(1,000), manifest-render alone" \
  --input "the two overlays above, $((runs * 4)) alternating runs" \
  --value "median_ratio=$(awk -v a="$s2" -v b="$s1" 'BEGIN { printf "%.2f", a / b }')" \
  --value "min_ratio=$(awk -v a="$s2min" -v b="$s1min" 'BEGIN { printf "%.2f", a / b }')" \
  --target "median_ratio<=2.3"

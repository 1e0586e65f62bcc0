#!/usr/bin/env bash
# image-tag against its peers, in one run, as ratios (see docs/image-tag.md):
#  (a) pin: a stream with 500 image references (100 distinct) vs a shell loop of
#      `skopeo inspect --format {{.Digest}}` per distinct reference;
#  (b) copy --all-platforms of a 3-platform image (3 x 2 layers x LAYER_MIB MiB) between two
#      registries vs `skopeo copy --all`, each run into a fresh repository;
#  (c) compute on a repository with 10,000 commits vs `git describe --tags` + `git log -1 --format=%ct`.
# Needs docker-registry, skopeo, git, python3. usage: bench/image-tag/run.sh [RUNS]
# Environment: RUNS (default 5; the argument wins), LAYER_MIB (default 16). Under `make bench` it
# records its results (bench/lib/record.py).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-${RUNS:-5}}
layer_mib=${LAYER_MIB:-16}
measure="$root/bench/lib/measure.py"

for tool in docker-registry skopeo git python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done

[[ -n ${BIN_DIR:-} ]] || (cd "$root" && cargo build --release -p image-tag --quiet)
bin="${BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}/image-tag"

work=$(mktemp -d "${TMPDIR:-/tmp}/image-tag-bench.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sets $registry_host. Not called through $(...): a subshell would lose the pid to kill.
start_registry() { # name
    local name=$1 port
    port=$(free_port)
    mkdir -p "$work/$name/storage"
    cat >"$work/$name/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $work/$name/storage}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$work/$name/config.yml" >"$work/$name/log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/')" 2>/dev/null && break
        sleep 0.05
    done
    registry_host="127.0.0.1:$port"
}

start_registry src
src=$registry_host
start_registry dst
dst=$registry_host
export DOCKER_CONFIG="$work/docker-config"   # anonymous, whatever the machine has
skopeo_flags=(--insecure-policy)

# ---- (a) pin ---------------------------------------------------------------------------------
echo "bench: preparing 100 distinct references on $src" >&2
python3 "$here/make_layout.py" "$work/small" small linux/amd64 1 1 >/dev/null
skopeo "${skopeo_flags[@]}" copy --all --quiet --dest-tls-verify=false "oci:$work/small:latest" "docker://$src/app0:seed"
refs=()
for r in $(seq 0 9); do
    [ "$r" = 0 ] || "$bin" copy --all-platforms "$src/app0:seed" "$src/app$r:seed" >/dev/null
    for t in $(seq 0 9); do
        "$bin" retag "$src/app$r:seed" "v1.$t.0" >/dev/null
        refs+=("$src/app$r:v1.$t.0")
    done
done
stream="$work/stream.yaml"
: >"$stream"
for d in $(seq 0 99); do
    {
        echo "---"
        echo "apiVersion: apps/v1"
        echo "kind: Deployment"
        echo "metadata: {name: web$d}"
        echo "spec:"
        echo "  template:"
        echo "    spec:"
        echo "      containers:"
        for c in $(seq 0 4); do
            echo "      - {name: c$c, image: '${refs[$(( (d * 5 + c) % 100 ))]}'}"
        done
    } >>"$stream"
done
printf '%s\n' "${refs[@]}" >"$work/distinct.txt"
cat >"$work/skopeo-loop.sh" <<EOF
while read -r ref; do
    skopeo --insecure-policy inspect --tls-verify=false --format '{{.Digest}}' "docker://\$ref"
done <"$work/distinct.txt"
EOF
echo "bench: (a) pin, $runs runs each" >&2
pin_out=$(python3 "$measure" "$runs" \
    "image-tag=$bin pin $stream" \
    "skopeo-loop=bash $work/skopeo-loop.sh")

# ---- (b) copy --all-platforms ------------------------------------------------------------------
echo "bench: preparing a 3-platform image (2 layers x ${layer_mib} MiB each) on $src" >&2
python3 "$here/make_layout.py" "$work/big" big linux/amd64,linux/arm64,linux/arm/v7 2 "$layer_mib" >/dev/null
skopeo "${skopeo_flags[@]}" copy --all --quiet --dest-tls-verify=false "oci:$work/big:latest" "docker://$src/big:v1"
echo "bench: (b) copy, $runs runs each (fresh destination repository per run)" >&2
# skopeo remembers in its blob-info cache which repositories hold a blob and then mounts instead
# of copying; each run starts without that memory so both tools really copy (image-tag keeps no
# such cache). The cache is /var/lib/containers/cache for root, ~/.local/share/containers/cache
# otherwise.
forget="rm -f /var/lib/containers/cache/blob-info-cache-v1.* \"\${XDG_DATA_HOME:-\$HOME/.local/share}\"/containers/cache/blob-info-cache-v1.* 2>/dev/null;"
copy_out=$(python3 "$measure" "$runs" \
    "image-tag=$bin copy --all-platforms $src/big:v1 $dst/ours-\$(date +%s%N):v1" \
    "skopeo-copy=$forget skopeo --insecure-policy copy --all --quiet --src-tls-verify=false --dest-tls-verify=false docker://$src/big:v1 docker://$dst/skopeo-\$(date +%s%N):v1")

# ---- (c) compute -------------------------------------------------------------------------------
echo "bench: preparing a repository with 10,000 commits" >&2
repo="$work/repo"
git init -q -b main "$repo"
python3 - "$repo" <<'EOF' | git -C "$repo" fast-import --quiet
import sys
n = 10000
for i in range(1, n + 1):
    data = f"line {i}\n"
    print("commit refs/heads/main")
    print(f"mark :{i}")
    print(f"committer bench <bench@example.com> {1700000000 + i} +0000")
    msg = f"commit {i}"
    print(f"data {len(msg)}")
    print(msg)
    if i > 1:
        print(f"from :{i - 1}")
    print(f"M 644 inline services/svc{i % 20}/file.txt")
    print(f"data {len(data)}")
    print(data)
    if i % 1000 == 0:
        print(f"tag v1.{i // 1000}.0")
        print(f"from :{i}")
        print("tagger bench <bench@example.com> 1700000000 +0000")
        print("data 3")
        print("tag")
EOF
git -C "$repo" checkout -q -f main
echo "bench: (c) compute, $runs runs each" >&2
compute_out=$(python3 "$measure" "$((runs * 4))" \
    "image-tag=$bin compute --repo $repo" \
    "git={ git -C $repo describe --tags && git -C $repo log -1 --format=%ct; }" \
    "image-tag-path=$bin compute --repo $repo --path services/svc7" \
    "git-path=git -C $repo log -1 --format=%H%n%ct -- services/svc7")

# ---- report ------------------------------------------------------------------------------------
ratio() { python3 -c "print(f'{$1 / $2:.1f}')"; }
ms() { echo "$1" | awk -v n="$2" '$1 == n {print $2}'; }
a_ours=$(ms "$pin_out" image-tag); a_peer=$(ms "$pin_out" skopeo-loop)
b_ours=$(ms "$copy_out" image-tag); b_peer=$(ms "$copy_out" skopeo-copy)
c_ours=$(ms "$compute_out" image-tag); c_peer=$(ms "$compute_out" git)
cp_ours=$(ms "$compute_out" image-tag-path); cp_peer=$(ms "$compute_out" git-path)
echo
echo "| case | image-tag (median ms) | peer (median ms) | peer / image-tag |"
echo "|---|---|---|---|"
echo "| (a) pin 500 refs / 100 distinct vs skopeo inspect loop | $a_ours | $a_peer | $(ratio "$a_peer" "$a_ours")x faster (target >= 20x) |"
echo "| (b) copy --all-platforms 3 platforms x 2 x ${layer_mib} MiB vs skopeo copy --all | $b_ours | $b_peer | ours takes $(ratio "$b_ours" "$b_peer")x skopeo's time (target <= 1.0x) |"
echo "| (c) compute, 10,000 commits vs git describe + git log | $c_ours | $c_peer | $(ratio "$c_peer" "$c_ours") |"
echo "| (c') compute --path vs git log -1 -- path | $cp_ours | $cp_peer | $(ratio "$cp_peer" "$cp_ours") |"

kib() { echo "$1" | awk -v n="$2" '$1 == n {print $4}'; }
record=(python3 "$root/bench/lib/record.py" --tool image-tag --runs "$runs"
  --command "bash bench/image-tag/run.sh $runs")
"${record[@]}" --case "pin: tag -> digest for every image reference" \
  --input "500 references (100 distinct) in 100 Deployments" \
  --peer "shell loop of skopeo inspect per distinct reference" --peer-version-of "$(command -v skopeo)" \
  --ours-ms "$a_ours" --peer-ms "$a_peer" --ours-kib "$(kib "$pin_out" image-tag)" --peer-kib "$(kib "$pin_out" skopeo-loop)" \
  --target "speedup>=20"
"${record[@]}" --case "copy --all-platforms between two registries" \
  --input "3 platforms x 2 layers x ${layer_mib} MiB" --peer "skopeo copy --all" --peer-version-of "$(command -v skopeo)" \
  --ours-ms "$b_ours" --peer-ms "$b_peer" --ours-kib "$(kib "$copy_out" image-tag)" --peer-kib "$(kib "$copy_out" skopeo-copy)" \
  --target "speedup>=1.0"
"${record[@]}" --case "compute: tags for HEAD" --input "10,000 commits, 10 tags" --runs "$((runs * 4))" \
  --peer "git describe --tags + git log -1" --peer-version-of "$(command -v git)" \
  --ours-ms "$c_ours" --peer-ms "$c_peer" --ours-kib "$(kib "$compute_out" image-tag)" --peer-kib "$(kib "$compute_out" git)" \
  --note "compute has no speed target: two git processes on a packed 10,000-commit repository take a few ms; image-tag's start-up is most of its time."
"${record[@]}" --case "compute --path: tags for the last commit touching a directory" --input "10,000 commits, 20 directories" --runs "$((runs * 4))" \
  --peer "git log -1 -- PATH" --peer-version-of "$(command -v git)" \
  --ours-ms "$cp_ours" --peer-ms "$cp_peer" --ours-kib "$(kib "$compute_out" image-tag-path)" --peer-kib "$(kib "$compute_out" git-path)"

#!/bin/sh
# git-promote benchmark: promote one app (200 objects) into a GitOps repository of 3
# environments x 50 apps (~20,000 files) over file://, with `git promote --direct` and with a
# create-pr.sh-style script (shallow clone, copy, git add -A, commit, push), in one run.
# Before every run the remote's main is reset to the same commit, so both do the same change.
#
# usage: bench/git-promote/run.sh [RUNS]      (make bench runs it)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-5}
bin="${BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}/git-promote"
if [ ! -x "$bin" ] || [ -n "$(find "$root/bins/git-promote/src" "$root/shared/src" -newer "$bin" -name '*.rs' 2>/dev/null | head -1)" ]; then
  (cd "$root" && cargo build --release -q -p git-promote)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
mkdir -p "$HOME"

echo "generating the GitOps repository..." >&2
python3 "$here/lib/gen.py" repo "$tmp/seed"
git -C "$tmp/seed" init -q -b main
git -C "$tmp/seed" add -A
git -C "$tmp/seed" commit -q -m "3 environments x 50 apps"
git init -q --bare -b main "$tmp/remote.git"
git -C "$tmp/seed" push -q "$tmp/remote.git" main
git -C "$tmp/remote.git" gc -q
files=$(git -C "$tmp/remote.git" ls-tree -r --name-only main | wc -l)
base=$(git -C "$tmp/remote.git" rev-parse main)
python3 "$here/lib/gen.py" stream "$tmp/rendered.yaml" v2
python3 "$here/lib/gen.py" split "$tmp/rendered" v2
remote="file://$tmp/remote.git"

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_once() { # $1 = ours|script; prints milliseconds
  git -C "$tmp/remote.git" update-ref refs/heads/main "$base"
  t0=$(now)
  if [ "$1" = ours ]; then
    "$bin" dev --app app-07 --manifests "$tmp/rendered.yaml" --repo "$remote" --direct -q \
      --source-commit 0123456789abcdef >/dev/null
  else
    sh "$here/lib/create-pr.sh" "$remote" "$tmp/rendered" clusters/dev/app-07 >/dev/null
  fi
  t1=$(now)
  test "$(git -C "$tmp/remote.git" rev-parse main)" != "$base" || { echo "$1 did not push" >&2; exit 1; }
  ms "$t0" "$t1"
}

report() { # $1 = label
  : > "$tmp/ours" ; : > "$tmp/script"
  bench_once ours >/dev/null; bench_once script >/dev/null   # warm the page cache
  i=0
  while [ $i -lt "$runs" ]; do
    bench_once ours >> "$tmp/ours"
    bench_once script >> "$tmp/script"
    i=$((i + 1))
  done
  o=$(median < "$tmp/ours"); s=$(median < "$tmp/script")
  ratio=$(awk -v s="$s" -v o="$o" 'BEGIN { printf "%.1f", s / (o > 0 ? o : 1) }')
  printf '%-44s git promote %5d ms   create-pr.sh %5d ms   %sx\n' "$1" "$o" "$s" "$ratio"
}

echo "repository: $files files; promoting 200 objects into clusters/dev/app-07; median of $runs runs" >&2
git -C "$tmp/remote.git" config uploadpack.allowFilter true
report "remote allows partial clone (GitHub, GitLab):"
git -C "$tmp/remote.git" config uploadpack.allowFilter false
report "remote without partial clone:"

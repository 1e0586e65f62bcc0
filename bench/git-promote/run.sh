#!/bin/sh
# git-promote benchmark: promote one app (200 objects) into a GitOps repository of 3
# environments x 50 apps (~20,000 files) over file://, with `git promote --direct` and with a
# create-pr.sh-style script (shallow clone, copy, git add -A, commit, push), in one run.
# Before every run the remote's main is reset to the same commit, so both do the same change.
#
# usage: bench/git-promote/run.sh [RUNS]   (default $RUNS or 5; make bench runs it and it records
#        its results through bench/lib/record.py)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-${RUNS:-5}}
bin="${BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}/git-promote"
if [ -z "${BIN_DIR:-}" ] && { [ ! -x "$bin" ] || [ -n "$(find "$root/bins/git-promote/src" "$root/shared/src" -newer "$bin" -name '*.rs' 2>/dev/null | head -1)" ]; }; then
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

# Each measured command first resets the remote's main to the same commit, so every run of
# both makes the same change (the reset, a single update-ref, costs both alike).
reset="git -C $tmp/remote.git update-ref refs/heads/main $base"
ours="$reset && $bin dev --app app-07 --manifests $tmp/rendered.yaml --repo $remote --direct -q --source-commit 0123456789abcdef"
script="$reset && sh $here/lib/create-pr.sh $remote $tmp/rendered clusters/dev/app-07"

pushed() { # $1 = label, $2 = command: it must move the remote's main
  sh -c "$2" >/dev/null
  test "$(git -C "$tmp/remote.git" rev-parse main)" != "$base" || { echo "$1 did not push" >&2; exit 1; }
}

report() { # $1 = label, $2 = case for the record
  pushed "git promote" "$ours"
  pushed "create-pr.sh" "$script"
  python3 "$root/bench/lib/measure.py" "$runs" "ours=$ours" "script=$script" > "$tmp/m.txt"
  read -r _ o _ ok < "$tmp/m.txt"
  grep '^script ' "$tmp/m.txt" > "$tmp/m-script.txt"
  read -r _ s _ sk < "$tmp/m-script.txt"
  ratio=$(awk -v s="$s" -v o="$o" 'BEGIN { printf "%.1f", s / (o > 0 ? o : 1) }')
  printf '%-44s git promote %7.0f ms   create-pr.sh %7.0f ms   %sx\n' "$1" "$o" "$s" "$ratio"
  python3 "$root/bench/lib/record.py" --tool "git promote" --runs "$runs" \
    --command "bash bench/git-promote/run.sh $runs" --case "$2" \
    --input "200 objects into a $files-file GitOps repo (3 envs x 50 apps) over file://" \
    --peer "create-pr.sh-style script (shallow clone, copy, add, commit, push)" \
    --peer-version-of "$(command -v git)" \
    --ours-ms "$o" --peer-ms "$s" --ours-kib "$ok" --peer-kib "$sk" --target "speedup>=3"
}

echo "repository: $files files; promoting 200 objects into clusters/dev/app-07; median of $runs runs" >&2
git -C "$tmp/remote.git" config uploadpack.allowFilter true
report "remote allows partial clone (GitHub, GitLab):" "promote --direct; remote allows partial clone (as GitHub, GitLab)"
git -C "$tmp/remote.git" config uploadpack.allowFilter false
report "remote without partial clone:" "promote --direct; remote without partial clone"

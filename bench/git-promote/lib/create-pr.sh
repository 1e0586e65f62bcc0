#!/bin/sh
# The peer: a promotion in the style of the Azure GitOps sample's create-pr.sh — shallow clone,
# replace the app's folder with the generated manifests, git add -A, commit, push. (The sample
# then opens a PR with the az CLI; both sides of the benchmark push straight to main instead.)
# usage: create-pr.sh REMOTE_URL MANIFESTS_DIR TARGET_PATH
set -eu
remote=$1 manifests=$2 target=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q --depth 1 --branch main "$remote" "$work/repo"
cd "$work/repo"
rm -rf "$target"
mkdir -p "$target"
cp -r "$manifests"/. "$target"/
git add -A
if git diff --cached --quiet; then
  echo "nothing to promote"
  exit 0
fi
git commit -q -m "Promote $(basename "$target")"
git push -q origin HEAD:main

#!/usr/bin/env bash
# The peer of `kubectl gitops diff --from A --to B`: check out both revisions, `kustomize build`
# every kustomization of the path at each, and `diff -u` the results.
# usage: naive-revision-diff.sh KUSTOMIZE REPO PATH FROM TO
set -euo pipefail
kustomize=$1 repo=$2 path=$3 from=$4 to=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in from to; do
  rev=${!side}
  mkdir -p "$work/$side"
  git -C "$repo" archive "$rev" | tar -x -C "$work/$side"
  : > "$work/$side.yaml"
  for k in $(cd "$work/$side" && find "$path" -name kustomization.yaml | sort); do
    "$kustomize" build "$work/$side/$(dirname "$k")" >> "$work/$side.yaml"
    echo --- >> "$work/$side.yaml"
  done
done
diff -u "$work/from.yaml" "$work/to.yaml" || [ $? = 1 ]

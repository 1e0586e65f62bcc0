#!/usr/bin/env bash
# The main job on the bundled example: render the shop app for dev, qa and prod (strict: every
# placeholder must have a value), write one file per object, and show how the environments
# differ. Run by `make demo`; BIN points at the built binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/../target/release}
# DEMO_OUT keeps the rendered directories for a look afterwards; by default they are removed.
if [[ -n ${DEMO_OUT:-} ]]; then
  out=$DEMO_OUT
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
render="$bin/manifest-render"

echo "== rendering examples/app for dev, qa and prod into $out"
for env in dev qa prod; do
  vars=$(ls "$here"/app/env/"$env".*)
  "$render" "$here/app/deploy" --vars-file "$vars" --strict \
    --namespace "shop-$env" --out-dir "$out/$env" --digest 2> "$out/$env.digest"
  printf '%-5s %3d objects  %s\n' "$env" "$(ls "$out/$env" | wc -l)" "$(cat "$out/$env.digest")"
done

echo
echo "== the rendered dev Deployment"
cat "$out/dev/apps.v1.Deployment.shop-dev.web.yaml"

# Object files are named by namespace, so compare the streams rather than the directories.
for pair in "dev qa" "qa prod"; do
  set -- $pair
  echo
  echo "== what changes from $1 to $2"
  diff -u --label "$1" --label "$2" \
    <("$render" "$here/app/deploy" --vars-file "$(ls "$here"/app/env/"$1".*)" --strict | sed "s/shop-$1/shop-ENV/") \
    <("$render" "$here/app/deploy" --vars-file "$(ls "$here"/app/env/"$2".*)" --strict | sed "s/shop-$2/shop-ENV/") || true
done

echo
echo "== the rendered directories are up to date (the CI gate)"
"$render" "$here/app/deploy" --vars-file "$here/app/env/prod.yaml" --strict --namespace shop-prod --out-dir "$out/prod" --check && echo "prod: up to date"

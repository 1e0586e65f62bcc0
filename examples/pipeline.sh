#!/usr/bin/env bash
# The whole CD flow on the bundled example, locally: an application repository with a tagged
# commit, a bare GitOps repository, and the tools in between —
#   image-tag compute  → the tags CI would push the image under
#   manifest-render    → the rendered manifests for each environment
#   git promote        → commits them into the GitOps repo (dev, then qa and prod from dev)
# Run by `make demo` after the rendering demo; BIN points at the built binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${BIN:-$here/../target/release}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME="Alice" GIT_AUTHOR_EMAIL="alice@example.com"
export GIT_COMMITTER_NAME="CI" GIT_COMMITTER_EMAIL="ci@example.com"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

echo "== the application repository: Alice's change, merged and tagged v1.4.2"
git init -q -b main "$work/app"
cp -r "$here/app/deploy" "$here/app/env" "$work/app/"
git -C "$work/app" add -A
git -C "$work/app" commit -qm "web: new checkout page"
git -C "$work/app" tag v1.4.2
"$bin/image-tag" compute --repo "$work/app" | sed 's/^/  tag: /'
tag=$("$bin/image-tag" compute --repo "$work/app" | sed -n 2p)

echo
echo "== the GitOps repository (bare, as on the Git server); every environment committed directly"
git init -q --bare -b main "$work/gitops.git"
git clone -q "$work/gitops.git" "$work/seed" 2>/dev/null
mkdir -p "$work/seed/.gitops"
cat > "$work/seed/.gitops/promote.yaml" <<'YAML'
environments:
- name: dev
  branch: main
  path: clusters/dev/{app}
  pullRequest: false
- name: qa
  branch: main
  path: clusters/qa/{app}
  pullRequest: false
- name: prod
  branch: main
  path: clusters/prod/{app}
  pullRequest: false
YAML
git -C "$work/seed" add -A && git -C "$work/seed" commit -qm "gitops: environments" && git -C "$work/seed" push -q origin main

from=""
for env in dev qa prod; do
  vars=$(ls "$work"/app/env/"$env".*)
  echo
  echo "== promote $env (image tag $tag${from:+, the same images as $from})"
  "$bin/manifest-render" "$work/app/deploy" --vars-file "$vars" --var IMAGE_TAG="$tag" --strict -n "shop-$env" \
    | (cd "$work/app" && "$bin/git-promote" "$env" --app shop --manifests - ${from:+--from-env "$from"} --repo "$work/gitops.git")
  from=$env
done

echo
echo "== promoting dev again changes nothing"
"$bin/manifest-render" "$work/app/deploy" --vars-file "$work/app/env/dev.env" --var IMAGE_TAG="$tag" --strict -n shop-dev \
  | (cd "$work/app" && "$bin/git-promote" dev --app shop --manifests - --repo "$work/gitops.git")

echo
echo "== what each environment runs"
"$bin/git-promote" status --repo "$work/gitops.git"

echo
echo "== the GitOps repository's history"
git -C "$work/gitops.git" log --format='%h %s%n%(trailers:only,unfold)' main | sed 's/^/  /'

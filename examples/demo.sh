#!/usr/bin/env bash
# The whole GitOps workflow of the reference scenario (PRODUCT.md §1), end to end on this
# machine, with a transcript of every command as it is run. Run by `make demo`.
#
# Services, all on 127.0.0.1 and all stopped again at the end (also on Ctrl-C and on failure):
#   - an OCI registry (Debian's docker-registry, as the tests run it);
#   - a Kubernetes control plane (tests/src/bin/test-cluster: etcd, kube-apiserver, controllers,
#     kwok fake nodes so that Deployments really roll out), unless DEMO_CLUSTER=current;
#   - the Git host: bare repositories for the application and the GitOps repo, reached as
#     file:// remotes. Gitea is not built here, so a pull request is a pushed branch and its merge
#     is done locally with `git merge --no-ff`, as the merge button would.
#
# Then Alice's change goes through the PR gate, CI (image-tag compute, a tiny image built here
# and pushed, image-tag pin), CD (manifest-render, git promote dev), sync-once, a drift check,
# the qa pull request as a reviewer sees it, the promotion to qa, a prune and a rollback.
# Every step checks its result; the first failure stops the demo with a message naming it.
#
# Environment:
#   BIN           the tools' directory (default target/release)
#   TEST_BIN      where test-cluster is built (default target/debug)
#   DEMO_CLUSTER  `test` (default): start the test control plane; `current`: use the cluster of
#                 the current kubeconfig (namespaces shop-dev and shop-qa must not exist; they and
#                 the inventory Secrets default/shop-dev, default/shop-qa are deleted afterwards)
#   DEMO_REGISTRY HOST:PORT of a registry to use instead of starting one (with DEMO_CLUSTER=current
#                 the cluster's nodes must be able to pull from it, e.g. kind's local registry)
#   DEMO_KEEP=1   keep the work directory (repositories, rendered files, logs) for a look
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$(cd "${BIN:-$root/target/release}" && pwd)
test_bin=$(realpath -m "${TEST_BIN:-$root/target/debug}")
mode=${DEMO_CLUSTER:-test}
started=$SECONDS

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' reset=$'\e[0m'
else
  bold='' dim='' red='' reset=''
fi

# --- the transcript and its checks ------------------------------------------------------------

step_no=0 step_title="start"
step() {
  step_no=$((step_no + 1)) step_title=$*
  printf '\n%s== %d. %s%s\n' "$bold" "$step_no" "$*" "$reset"
}
note() { printf '%s# %s%s\n' "$dim" "$*" "$reset"; }
fail() {
  printf '\n%sdemo: FAILED in step %d (%s): %s%s\n' "$red" "$step_no" "$step_title" "$*" "$reset" >&2
  exit 2
}
# A tool interrupted by Ctrl-C exits 130 (it handles SIGINT itself, so bash's own trap does not
# fire): that is an interruption, not a failed step.
interrupted() {
  printf '\ndemo: interrupted\n' >&2
  exit 130
}
# run CMD: shows the command line as it is run (from the work directory), then runs it; any
# failure of it stops the demo.
run() {
  printf '%s$ %s%s\n' "$bold" "$*" "$reset"
  local rc=0
  eval "$*" || rc=$?
  [[ $rc != 130 ]] || interrupted
  [[ $rc == 0 ]] || fail "\`$*\` exited $rc"
}
# run_rc CODE CMD: the command must exit with CODE (a gate that must fail, a diff that must
# find a difference).
run_rc() {
  local want=$1 rc=0
  shift
  printf '%s$ %s%s\n' "$bold" "$*" "$reset"
  eval "$*" || rc=$?
  [[ $rc != 130 ]] || interrupted
  [[ $rc == "$want" ]] || fail "\`$*\` exited $rc, expected $want"
  note "exit $rc, as expected"
}
# check WHAT CMD...: an assertion on the result of the step.
check() {
  local what=$1
  shift
  "$@" >/dev/null || fail "check failed: $what"
  printf '%s✓ %s%s\n' "$dim" "$what" "$reset"
}
trap 'rc=$?; [[ $rc != 130 ]] || interrupted; fail "line $LINENO: \`$BASH_COMMAND\` exited $rc"' ERR

# --- services and cleanup ---------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/gitops-demo.XXXXXX")
cluster_pid='' registry_pid='' cluster_dir='' created_ns=()
cleanup() {
  local rc=$?
  trap - ERR EXIT INT TERM
  set +e
  if [[ $mode == current && ${#created_ns[@]} -gt 0 ]]; then
    kubectl delete namespace "${created_ns[@]}" --ignore-not-found --wait=false >/dev/null 2>&1
    kubectl delete secret -n default shop-dev shop-qa --ignore-not-found >/dev/null 2>&1
  fi
  # test-cluster's supervisors stop every control-plane process and remove its directory when
  # it exits; wait for that, so that nothing outlives the demo.
  if [[ -n $cluster_pid ]]; then
    kill "$cluster_pid" 2>/dev/null
    wait "$cluster_pid" 2>/dev/null
    for _ in $(seq 100); do [[ -e $cluster_dir ]] || break; sleep 0.1; done
  fi
  if [[ -n $registry_pid ]]; then
    kill "$registry_pid" 2>/dev/null
    wait "$registry_pid" 2>/dev/null
  fi
  if [[ -n ${DEMO_KEEP:-} ]]; then
    echo "demo: kept the work directory $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap interrupted INT TERM

# A port nothing listens on (the registry needs one before it starts).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  return 1
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local what=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what did not come up in time"
    sleep 0.2
  done
}

# The tiny image: an OCI image layout (one gzip layer with the app's files under /srv, an image
# config, a manifest, index.json) written from scratch, so its digest depends only on the files.
# build_image SRC_DIR LAYOUT_DIR TAG: prints the manifest digest.
build_image() {
  local src=$1 out=$2 tag=$3 layer diffid config manifest
  mkdir -p "$out/blobs/sha256"
  blob() { # FILE: moves it into the layout, prints its digest hex and size
    local hex
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    mv "$1" "$out/blobs/sha256/$hex"
    echo "$hex $(stat -c %s "$out/blobs/sha256/$hex")"
  }
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --transform 's|^\./|srv/|' \
    -C "$src" -cf "$out/layer.tar" .
  diffid=$(sha256sum "$out/layer.tar" | cut -d' ' -f1)
  gzip -n -9 "$out/layer.tar"
  read -r layer layer_size < <(blob "$out/layer.tar.gz")
  printf '{"architecture":"amd64","os":"linux","config":{"WorkingDir":"/srv","Labels":{"org.opencontainers.image.title":"shop-web"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$diffid" > "$out/config.json"
  read -r config config_size < <(blob "$out/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
    "$config" "$config_size" "$layer" "$layer_size" > "$out/manifest.json"
  read -r manifest manifest_size < <(blob "$out/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$tag" > "$out/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
  echo "sha256:$manifest"
}

# merge_pr REPO BRANCH TITLE: the host's merge button, done locally (no Gitea here): a merge
# commit of BRANCH into main, pushed, and the branch deleted.
merge_pr() {
  local repo=$1 branch=$2 title=$3 clone=$work/.merge
  printf '%s$ git merge --no-ff origin/%s && git push origin main :%s   # the merge button, in a clone of %s%s\n' \
    "$bold" "$branch" "$branch" "$repo" "$reset"
  rm -rf "$clone"
  git clone -q "$repo" "$clone"
  git -C "$clone" merge -q --no-ff -m "Merge pull request: $title" -m "from $branch" "origin/$branch"
  git -C "$clone" push -q origin main ":$branch"
}

if [[ $mode == test ]]; then
  # The pinned kube-apiserver, etcd, kubectl, kwok… (built once and cached, with progress on
  # stderr), found before XDG_CACHE_HOME moves below.
  assets=$(bash "$root/tests/tools/build.sh" | tail -1) || fail "tests/tools/build.sh failed"
  export KUBEBUILDER_ASSETS=$assets
fi

# Identities: Alice writes the application change, CI and CD commit as the pipeline, Bob reviews
# and merges. No user or system git configuration leaks in.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Alice GIT_AUTHOR_EMAIL=alice@example.com
export GIT_COMMITTER_NAME=Alice GIT_COMMITTER_EMAIL=alice@example.com
as_bob() { GIT_AUTHOR_NAME=Bob GIT_AUTHOR_EMAIL=bob@example.com GIT_COMMITTER_NAME=Bob GIT_COMMITTER_EMAIL=bob@example.com "$@"; }
as_cd() { GIT_AUTHOR_NAME="CD pipeline" GIT_AUTHOR_EMAIL=cd@example.com GIT_COMMITTER_NAME="CD pipeline" GIT_COMMITTER_EMAIL=cd@example.com "$@"; }
# Fetch caches (sync-once, kubectl gitops diff) and kubectl's discovery cache stay in the work
# directory.
export XDG_CACHE_HOME=$work/cache KUBECACHEDIR=$work/cache/kube GIT_PAGER=cat PAGER=cat
cd "$work"

# ---------------------------------------------------------------------------------------------

step "Services on 127.0.0.1: an OCI registry, the control plane, the Git host"
for tool in manifest-render image-tag git-promote sync-once kubectl-gitops-diff; do
  [[ -x $bin/$tool ]] || fail "$bin/$tool is not built (make demo builds it)"
done
for tool in git skopeo tar gzip sha256sum setsid; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install git skopeo)"
done
PATH=$bin:$PATH
if [[ $mode == test ]]; then
  PATH=$bin:$assets:$PATH
  [[ -x $test_bin/test-cluster ]] || fail "$test_bin/test-cluster is not built (make demo builds it)"
  note "the control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (fake node)"
  printf '%s$ test-cluster &%s\n' "$bold" "$reset"
  # In a session of its own: Ctrl-C reaches the terminal's process group, and etcd and the
  # apiserver would stop at once while a tool still talks to them (and hang it); the cleanup
  # below stops them in order instead.
  setsid "$test_bin/test-cluster" > cluster.out 2> cluster.log &
  cluster_pid=$!
  # Its first line of stdout is the admin kubeconfig, written once the node is schedulable.
  for _ in $(seq 600); do
    [[ -s cluster.out ]] && break
    kill -0 "$cluster_pid" 2>/dev/null || fail "test-cluster exited: $(tail -5 cluster.log)"
    sleep 0.2
  done
  KUBECONFIG=$(head -1 cluster.out)
  [[ -f $KUBECONFIG ]] || fail "test-cluster printed no kubeconfig: $(tail -5 cluster.log)"
  export KUBECONFIG
  cluster_dir=$(dirname "$KUBECONFIG")
  grep 'ready at' cluster.log | sed 's/^/  /'
elif [[ $mode == current ]]; then
  command -v kubectl >/dev/null || fail "kubectl is not on PATH (needed with DEMO_CLUSTER=current)"
  note "DEMO_CLUSTER=current: the cluster of the current kubeconfig"
  run "kubectl config current-context"
  for ns in shop-dev shop-qa; do
    if kubectl get namespace "$ns" >/dev/null 2>&1; then
      fail "namespace $ns already exists in this cluster; the demo will not touch it"
    fi
  done
  created_ns=(shop-dev shop-qa)
else
  fail "DEMO_CLUSTER must be test or current, not $mode"
fi
run "kubectl get nodes"

if [[ -n ${DEMO_REGISTRY:-} ]]; then
  REG=$DEMO_REGISTRY
  note "DEMO_REGISTRY: using the registry at $REG"
else
  command -v docker-registry >/dev/null || fail "docker-registry is not installed (apt-get install docker-registry)"
  REG=127.0.0.1:$(free_port)
  mkdir -p registry
  cat > registry/config.yml <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry/storage}}
http: {addr: $REG}
EOF
  printf '%s$ docker-registry serve registry/config.yml &   # %s%s\n' "$bold" "$REG" "$reset"
  setsid docker-registry serve registry/config.yml > registry/log 2>&1 &
  registry_pid=$!
  # Up when it answers "no such image" (exit 1) rather than "unreachable" (exit 2).
  registry_answers() { local rc=0; image-tag exists "$REG/shop/web:probe" || rc=$?; [[ $rc == 1 ]]; }
  wait_for "the registry" 15 registry_answers
fi

note "the Git host: bare repositories (file://); pull requests are branches merged locally"
run "git init -q --bare -b main app.git"
run "git init -q --bare -b main gitops.git"
mkdir -p seed/.gitops
cat > seed/.gitops/promote.yaml <<'EOF'
# Every environment is promoted by pull request; the Git host here has no API that git-promote
# speaks, so it pushes the promotion branch (provider none) and the demo merges it.
environments:
- name: dev
  branch: main
  path: clusters/dev/{app}
  templatesPath: templates/dev/{app}
  pullRequest: true
- name: qa
  branch: main
  path: clusters/qa/{app}
  templatesPath: templates/qa/{app}
  pullRequest: true
- name: prod
  branch: main
  path: clusters/prod/{app}
  templatesPath: templates/prod/{app}
  pullRequest: true
apps: [shop]
provider:
  type: none
EOF
git -C seed init -q -b main
git -C seed add -A
as_bob git -C seed commit -q -m "gitops: environments dev, qa, prod"
git -C seed push -q ../gitops.git main
run "cat seed/.gitops/promote.yaml"
GITOPS=gitops.git
# How the tools reach it: a URL, as they would reach a Git host.
GITOPS_URL=file://$work/gitops.git
# The reviewers' clone, for reading pull requests.
git clone -q "$GITOPS" review

# ---------------------------------------------------------------------------------------------

# CI for one commit of the application: tags, the image (built only when it is not in the
# registry yet), the rendered and pinned manifests of an environment. ci_image [COMPUTE FLAGS]
# sets KEY (the sha- tag), TAGS and BUILT (the digest).
ci_image() {
  run "git -C ci pull -q --ff-only --tags origin main"
  run "image-tag compute --repo ci${*:+ $*}"
  TAGS=$(image-tag compute --repo ci "$@" | tr '\n' ' ')
  KEY=$(tr ' ' '\n' <<< "$TAGS" | grep '^sha-')
  local rc=0
  printf '%s$ image-tag exists %s%s\n' "$bold" "$REG/shop/web:$KEY" "$reset"
  image-tag exists "$REG/shop/web:$KEY" || rc=$?
  case $rc in
    0) note "already built: $REG/shop/web:$KEY"
       BUILT=$(skopeo inspect --tls-verify=false --raw "docker://$REG/shop/web:$KEY" | sha256sum | sed 's/^/sha256:/; s/ .*//')
       ;;
    1)
      note "not in the registry yet: build it from src/ and push it"
      rm -rf image
      printf '%s$ build_image ci/src image %s   # tar + gzip + sha256sum: an OCI image layout%s\n' "$bold" "$KEY" "$reset"
      BUILT=$(build_image ci/src image "$KEY")
      note "manifest $BUILT"
      run "skopeo copy -q --preserve-digests --dest-tls-verify=false oci:image:$KEY docker://$REG/shop/web:$KEY"
      for t in $TAGS; do
        [[ $t == "$KEY" ]] || run "image-tag retag $REG/shop/web:$KEY $t"
      done
      run "image-tag exists $REG/shop/web:$KEY"
      local pushed
      pushed=$(skopeo inspect --tls-verify=false --raw "docker://$REG/shop/web:$KEY" | sha256sum | cut -d' ' -f1)
      check "the registry holds the image built here (sha256:$pushed)" [ "sha256:$pushed" = "$BUILT" ]
      ;;
    *) fail "image-tag exists exited $rc" ;;
  esac
}

# render_pin ENV: the environment's manifests, image tags pinned to digests (lock shared by all
# environments, so qa gets exactly dev's digests).
render_pin() {
  local env=$1 vars
  vars=$(ls "$here/env/$env".*)
  cp "$vars" "cd/env/"
  run "manifest-render ci/deploy --vars-file cd/env/$(basename "$vars") --var IMAGE_TAG=$KEY --var REGISTRY=$REG -n shop-$env | image-tag pin --lock cd/images.lock > cd/$env.yaml"
  run "grep 'image:' cd/$env.yaml"
  check "cd/$env.yaml pins $REG/shop/web:$KEY to its digest" grep -q "image: $REG/shop/web:$KEY@sha256:" "cd/$env.yaml"
}

# promote ENV [FLAGS]: git promote into the GitOps repo; sets BRANCH (the pull request).
promote() {
  local env=$1
  shift
  printf '%s$ (cd ci && git promote %s --app shop --manifests ../cd/%s.yaml --templates deploy --repo %s %s)%s\n' \
    "$bold" "$env" "$env" "$GITOPS_URL" "$*" "$reset"
  local out rc=0
  out=$(cd ci && as_cd git-promote "$env" --app shop --manifests "../cd/$env.yaml" --templates deploy --repo "$GITOPS_URL" "$@") || rc=$?
  echo "$out"
  [[ $rc != 130 ]] || interrupted
  [[ $rc == 0 ]] || fail "git promote $env exited $rc"
  BRANCH=$(sed -n 's/.* pushed [0-9a-f]* to //p' <<< "$out")
  [[ -n $BRANCH ]] || fail "git promote $env printed no promotion branch: $out"
  check "the pull request's branch $BRANCH is on the Git host" git -C "$GITOPS" rev-parse -q --verify "refs/heads/$BRANCH"
}

# sync ENV: one reconcile pass of the environment from the GitOps repo's main branch.
sync() {
  run "sync-once --repo $GITOPS_URL --ref main --path clusters/$1 --inventory default/shop-$1 --prune --wait --timeout 2m"
}

# ---------------------------------------------------------------------------------------------

step "Before Alice's change: the application at v1.4.1 runs in dev and qa"
git clone -q app.git seed-app 2>/dev/null
cp -r "$here/app/deploy" "$here/app/src" seed-app/
git -C seed-app add -A
git -C seed-app commit -q -m "shop: web front end"
git -C seed-app tag v1.4.1
git -C seed-app push -q origin main v1.4.1
git clone -q app.git ci
mkdir -p cd/env
note "CI built and pushed v1.4.1; CD promoted it to dev and qa and both were synced"
ci_image >/dev/null
for env in dev qa; do
  render_pin "$env" >/dev/null
  (cd ci && as_cd git-promote "$env" --app shop --manifests "../cd/$env.yaml" --templates deploy --repo "$GITOPS_URL" --direct -q) >/dev/null \
    || fail "could not promote v1.4.1 to $env"
  sync "$env" >/dev/null
done
run "git promote status --repo $GITOPS_URL"

step "Alice's change in the application repository"
run "git clone -q app.git alice && git -C alice switch -q -c alice/one-click-checkout"
cat > alice/src/index.html <<'EOF'
<!doctype html>
<title>shop</title>
<h1>Shop</h1>
<p>Checkout: one click, where the environment enables it.</p>
EOF
# The template change: the checkout flow comes from the environment.
sed -i 's|^\(          value: ${LOG_LEVEL:=info}\)$|\1\n        - name: CHECKOUT_FLOW\n          value: ${CHECKOUT_FLOW}|' alice/deploy/deployment.yaml
run "git -C alice diff --stat && git -C alice diff deploy/"
run "git -C alice commit -qam 'web: one-click checkout' && git -C alice push -q origin alice/one-click-checkout"
note "Alice opens a pull request alice/one-click-checkout -> main"

step "The PR gate: render every environment with test values, strictly, and validate"
note "the gate renders the pushed branch; a placeholder without a value fails it"
gate() {
  local vars failed=0
  for env in dev qa prod; do
    vars=$(ls "$here/env/$env".*)
    printf '%s$ manifest-render alice/deploy --vars-file %s --var IMAGE_TAG=pr-test --var REGISTRY=registry.test --strict -n shop-%s > gate-%s.yaml%s\n' \
      "$bold" "env/$(basename "$vars")" "$env" "$env" "$reset"
    manifest-render alice/deploy --vars-file "$vars" --var IMAGE_TAG=pr-test --var REGISTRY=registry.test \
      --strict -n "shop-$env" > "gate-$env.yaml" || failed=1
  done
  return $failed
}
if gate; then fail "the gate passed although qa and prod have no CHECKOUT_FLOW"; fi
note "the gate failed: qa and prod define no CHECKOUT_FLOW (file:line above); Alice adds a default"
sed -i 's|value: ${CHECKOUT_FLOW}$|value: ${CHECKOUT_FLOW:=classic}|' alice/deploy/deployment.yaml
run "git -C alice diff"
run "git -C alice commit -qam 'web: the classic checkout unless the environment says otherwise' && git -C alice push -q origin alice/one-click-checkout"
gate || fail "the PR gate failed on Alice's fixed change"
check "every environment renders (dev $(grep -c '^kind:' gate-dev.yaml), qa $(grep -c '^kind:' gate-qa.yaml), prod $(grep -c '^kind:' gate-prod.yaml) objects)" \
  grep -q 'value: one-click' gate-dev.yaml
check "qa and prod fall back to the classic checkout" grep -q 'value: classic' gate-prod.yaml
note "the team signs off; the change is merged and released as v1.4.2"
as_bob merge_pr app.git alice/one-click-checkout "web: one-click checkout"
git clone -q app.git .tag && git -C .tag tag v1.4.2 && git -C .tag push -q origin v1.4.2 && rm -rf .tag
run "git -C app.git log --oneline --graph -5 main"

step "CI: image-tag compute, build the image, push it to the registry"
ci_image
check "the commit's tags include v1.4.2" grep -q 'v1.4.2' <<< "$TAGS"

step "CI: image-tag pin, then CD: manifest-render for dev"
render_pin dev
check "the image is pinned to the digest that was pushed" grep -q "@$BUILT" cd/dev.yaml
run "cat cd/images.lock"

step "CD: git promote dev (branch + pull request)"
promote dev --open-pr -v
run "git -C $GITOPS log -1 --format='%s%n%n%b' $BRANCH"
check "the commit carries the provenance trailers" \
  bash -c "git -C '$GITOPS' log -1 --format='%(trailers:key=Promote-Environment,valueonly)%(trailers:key=Image,valueonly)' '$BRANCH' | grep -q '^dev\$' && git -C '$GITOPS' log -1 --format='%(trailers:key=Image,valueonly)' '$BRANCH' | grep -q '$BUILT'"
note "the dev pull request is reviewed and merged (locally: no Gitea)"
as_bob merge_pr "$GITOPS" "$BRANCH" "Promote shop to dev"
run "git -C $GITOPS log --oneline -3 main"

step "sync-once applies dev and waits until the Deployment is rolled out"
sync dev
run "kubectl -n shop-dev rollout status deployment/web --timeout=60s"
run "kubectl -n shop-dev get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}{\"\\n\"}'"
check "dev runs the pinned image" bash -c "kubectl -n shop-dev get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}' | grep -q '$BUILT'"
check "dev's pods are ready" bash -c "[ \"\$(kubectl -n shop-dev get deployment web -o jsonpath='{.status.readyReplicas}')\" = 1 ]"

step "kubectl gitops diff: the cluster matches Git (no drift)"
run "kubectl gitops diff --repo $GITOPS_URL --ref main --path clusters/dev --inventory default/shop-dev"

step "CD: the qa pull request, as a reviewer sees it"
render_pin qa
promote qa --from-env dev --open-pr
git -C review fetch -q origin
run_rc 1 "kubectl gitops diff --repo review --path clusters/qa --from origin/main --to origin/$BRANCH -o markdown > qa-review.md"
run "cat qa-review.md"
check "the review shows the Deployment changing" grep -qF '| changed | Deployment.apps | shop-qa | web |' qa-review.md

step "Promotion to qa: merge, sync, verify"
as_bob merge_pr "$GITOPS" "$BRANCH" "Promote shop to qa"
sync qa
check "qa runs the same digest as dev" bash -c "kubectl -n shop-qa get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}' | grep -q '$BUILT'"
check "qa's 2 replicas are ready" bash -c "[ \"\$(kubectl -n shop-qa get deployment web -o jsonpath='{.status.readyReplicas}')\" = 2 ]"
run "kubectl gitops diff --repo $GITOPS_URL --ref main --path clusters/qa --inventory default/shop-qa"
run "git promote status --repo $GITOPS_URL"

step "An object removed in the application repository is pruned"
note "Alice drops the HorizontalPodAutoscaler (merged straight to main for brevity)"
run "git -C alice switch -q main && git -C alice pull -q && git -C alice rm -q deploy/hpa.yaml && git -C alice commit -qm 'web: no autoscaler' && git -C alice push -q origin main"
note "CI runs for the new commit: new tags; the image is rebuilt from the same src/"
before=$BUILT
ci_image
check "the rebuilt image is byte for byte the one before (same digest: the build is reproducible)" [ "$BUILT" = "$before" ]
render_pin dev
promote dev --open-pr
as_bob merge_pr "$GITOPS" "$BRANCH" "Promote shop to dev"
sync dev | tee sync-prune.out
check "sync-once pruned the HorizontalPodAutoscaler" grep -q 'horizontalpodautoscaler.autoscaling/web pruned' sync-prune.out
check "it is gone from the cluster" bash -c "! kubectl -n shop-dev get hpa web >/dev/null 2>&1"

step "Rollback by revert: git promote rollback dev"
printf '%s$ git promote rollback dev --app shop --repo %s%s\n' "$bold" "$GITOPS_URL" "$reset"
out=$(as_cd git-promote rollback dev --app shop --repo "$GITOPS_URL") || fail "git promote rollback exited $?"
echo "$out"
BRANCH=$(sed -n 's/.* pushed [0-9a-f]* to //p' <<< "$out")
[[ -n $BRANCH ]] || fail "git promote rollback printed no branch: $out"
run "git -C $GITOPS log -1 --format='%s%n%n%b' $BRANCH"
check "the revert names the promotion it rolls back" bash -c "git -C '$GITOPS' log -1 --format='%(trailers:key=Rollback-Of,valueonly)' '$BRANCH' | grep -q '[0-9a-f]'"
as_bob merge_pr "$GITOPS" "$BRANCH" "Roll back shop in dev"
sync dev
check "the HorizontalPodAutoscaler is back" kubectl -n shop-dev get hpa web
run "kubectl gitops diff --repo $GITOPS_URL --ref main --path clusters/dev --inventory default/shop-dev"

step "The GitOps repository's history"
run "git -C $GITOPS log --format='%h %an: %s' --first-parent main"
run "git promote status --repo $GITOPS_URL"

printf '\n%sdemo: the reference scenario passed in %d s%s\n' "$bold" "$((SECONDS - started))" "$reset"

#!/usr/bin/env bash
# Builds the pinned test and reference tools from their Go modules (the go.mod/go.sum files in
# the directories beside this script) and prints the assets directory as its last line, laid out
# like envtest's KUBEBUILDER_ASSETS:
#
#   export KUBEBUILDER_ASSETS=$(make -s tools | tail -1)
#
# Each module is built once per content of its go.mod/go.sum (and Go version) into the cache
# (GITOPS_TOOLS_CACHE, default ~/.cache/gitops-toolkit/tools), so a second run takes seconds.
# A KUBEBUILDER_ASSETS already set (from setup-envtest, say) that holds kube-apiserver, etcd and
# kubectl is used as is for those three; the other tools are still built.
#
# usage: tests/tools/build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${GITOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-toolkit/tools}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=${GOFLAGS:--mod=readonly}
mkdir -p "$cache"

say() { printf 'tools: %s\n' "$*" >&2; }
# The Go toolchain's usual home, for a shell whose PATH lacks it.
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { say "error: go is not on PATH (Go 1.26 builds the test tools)"; exit 2; }
gover=$(go env GOVERSION)

# The module's go.mod says which version of what it builds; read it from there so that the pin
# lives in one place.
modver() { awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$here/$1/go.mod"; }

# key MODULE ARGS...: a short hash of what determines the module's binaries (its pins, the Go
# version, the flags and packages), so that editing this script rebuilds nothing.
key() { local m=$1; shift; cat "$here/$m/go.mod" "$here/$m/go.sum" <(echo "$gover $*") | sha256sum | cut -c1-16; }

# build MODULE LDFLAGS PACKAGE... : go build into $cache/MODULE-KEY unless it is there already.
build() {
  local module=$1 ldflags=$2; shift 2
  local out=$cache/$module-$(key "$module" "$ldflags" "$@")
  if [[ -f $out/.complete ]]; then
    echo "$out"
    return
  fi
  local start=$SECONDS
  say "building $module ($*) — the first build takes minutes"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  (cd "$here/$module" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp/" "$@") >&2
  touch "$out.tmp/.complete"
  rm -rf "$out" && mv "$out.tmp" "$out"
  say "built $module in $((SECONDS - start)) s"
  echo "$out"
}

k8s=$(modver kube k8s.io/kubernetes)
kminor=$(echo "$k8s" | cut -d. -f2)
# Without these the binaries report v0.0.0 and kubectl warns about version skew.
kflags="-X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1"
kflags+=" -X k8s.io/component-base/version.gitMinor=$kminor -X k8s.io/component-base/version.gitTreeState=clean"
kflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s -X k8s.io/client-go/pkg/version.gitMajor=1"
kflags+=" -X k8s.io/client-go/pkg/version.gitMinor=$kminor"

dirs=()
user=${KUBEBUILDER_ASSETS:-}
if [[ -n $user && -x $user/kube-apiserver && -x $user/etcd && -x $user/kubectl ]]; then
  say "using kube-apiserver, etcd and kubectl from KUBEBUILDER_ASSETS=$user"
  dirs+=("$user")
else
  dirs+=("$(build kube "$kflags" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl ./etcd)")
fi
kust=$(modver kustomize sigs.k8s.io/kustomize/kustomize/v5)
dirs+=("$(build kustomize "-X sigs.k8s.io/kustomize/api/provenance.version=$kust" sigs.k8s.io/kustomize/kustomize/v5)")
helmv=$(modver helm helm.sh/helm/v3)
# helm's default .Capabilities.KubeVersion comes from these (its Makefile sets them from the
# client-go it is built with); without them charts see Kubernetes v1.20.
hminor=$(modver helm k8s.io/client-go | cut -d. -f2)
hflags="-X helm.sh/helm/v3/internal/version.version=$helmv"
for pkg in pkg/chartutil pkg/lint/rules; do
  hflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$hminor"
done
dirs+=("$(build helm "$hflags" helm.sh/helm/v3/cmd/helm)")
kwokdir=$(build kwok "" sigs.k8s.io/kwok/cmd/kwok)
# kwok runs only the stages it is given. Ours are kwok's own "fast" node and pod stages from the
# pinned module, plus its chaos stage for failing containers, and one change: pods labelled
# gitops-toolkit.test/never-ready=true are never made ready (how tests stall a rollout).
if [[ ! -f $kwokdir/kwok-stages.yaml ]]; then
  src=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
    pod/fast/pod-complete pod/fast/pod-delete pod/chaos/pod-container-running-failed; do
    echo "---"
    if [[ $f == pod/fast/pod-ready ]]; then
      awk '{ print } /^    matchExpressions:$/ && !done {
        print "    - key: '"'"'.metadata.labels[\"gitops-toolkit.test/never-ready\"]'"'"'"
        print "      operator: '"'"'DoesNotExist'"'"'"; done = 1 }' "$src/$f.yaml"
    else
      cat "$src/$f.yaml"
    fi
  done > "$kwokdir/kwok-stages.yaml.tmp"
  grep -q 'gitops-toolkit.test/never-ready' "$kwokdir/kwok-stages.yaml.tmp"
  mv "$kwokdir/kwok-stages.yaml.tmp" "$kwokdir/kwok-stages.yaml"
fi
dirs+=("$kwokdir")
# krew, the kubectl plugin manager: the install test installs our plugin manifest with it. Built
# without its version ldflags, krew counts as a development build and never checks for updates.
dirs+=("$(build krew "" sigs.k8s.io/krew/cmd/krew)")

# The assets directory: links to every built binary, named by the combination of builds.
assets=$cache/assets-$(printf '%s\n' "${dirs[@]}" | sha256sum | cut -c1-16)
if [[ ! -d $assets ]]; then
  mkdir -p "$assets.tmp"
  for d in "${dirs[@]}"; do
    for f in "$d"/*; do ln -sf "$f" "$assets.tmp/$(basename "$f")"; done
  done
  rm -rf "$assets" && mv "$assets.tmp" "$assets"
fi
# `current` lets `cargo test` run by hand find the tools without KUBEBUILDER_ASSETS.
ln -sfn "$assets" "$cache/current"
echo "$assets"

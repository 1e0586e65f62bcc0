# gitops-toolkit: every target here is what CI and the README use. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
PREFIX ?= /usr/local
BINS := $(notdir $(wildcard bins/*))
# Where cargo puts its output: CARGO_TARGET_DIR when set (relative to this directory, as cargo
# reads it), else target/.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
RELEASE := $(TARGET_DIR)/release
# `make install PROFILE=dev` installs the debug build (the install test does, to spare a release
# build); cargo's `dev` profile builds into target/debug.
PROFILE ?= release
PROFILE_DIR = $(if $(filter dev,$(PROFILE)),debug,$(PROFILE))

.PHONY: help build tools cluster test lint demo bench install krew doc

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## Build release binaries of every tool
	$(CARGO) build --release --workspace --bins

tools: ## Build the pinned test tools from their Go modules (cached); prints their directory last
	@bash tests/tools/build.sh

cluster: ## Start a test control plane (etcd, kube-apiserver, controllers, kwok) and print its kubeconfig
	$(CARGO) run -q -p gitops-tests --bin test-cluster

test: lint ## Format check, clippy -D warnings, then every test (unit, integration, conformance, cluster)
	assets=$$(bash tests/tools/build.sh | tail -1); \
	export KUBEBUILDER_ASSETS=$$assets PATH=$$assets:$$PATH HELM_BIN=$$assets/helm; \
	$(CARGO) build --workspace --bins; \
	$(CARGO) test --workspace --no-fail-fast

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The demo's tools (release) and, unless DEMO_CLUSTER=current, the test control plane (debug,
# as the tests build it).
# `make demo DEMO_PROFILE=dev` runs it on the debug build instead (CI does: `make test` builds
# that anyway, so the demo costs CI no release build).
DEMO_TOOLS := -p manifest-render -p image-tag -p git-promote -p sync-once -p kubectl-gitops-diff
DEMO_CLUSTER ?= test
DEMO_PROFILE ?= release
demo: ## The whole workflow on this machine: registry, control plane, Git host; PR gate, CI, dev, qa, prune, rollback
	$(CARGO) build --profile $(DEMO_PROFILE) $(DEMO_TOOLS)
	$(if $(filter current,$(DEMO_CLUSTER)),,$(CARGO) build -p gitops-tests --bin test-cluster)
	BIN=$(TARGET_DIR)/$(if $(filter dev,$(DEMO_PROFILE)),debug,$(DEMO_PROFILE)) TEST_BIN=$(TARGET_DIR)/debug \
		DEMO_CLUSTER=$(DEMO_CLUSTER) bash examples/demo.sh

# `make bench RUNS=3` sets the runs per measurement of every script (default: each script's);
# `make bench BENCH=image-tag` runs the scripts whose path contains that (table in target/bench/).
RUNS ?=
BENCH ?=
bench: build ## Run every benchmark against its peer and regenerate docs/benchmarks.md (RUNS=N, BENCH=part)
	$(CARGO) build -p gitops-tests --bins
	@assets=$$(bash tests/tools/build.sh | tail -1); export PATH=$$assets:$$PATH KUBEBUILDER_ASSETS=$$assets \
		BIN_DIR=$(RELEASE) TEST_BIN_DIR=$(TARGET_DIR)/debug RUNS=$(RUNS) BENCH=$(BENCH); \
	bash bench/lib/run-all.sh

install: ## Install binaries, the kubectl plugin link, man pages and completions under PREFIX
	$(CARGO) build --profile $(PROFILE) --workspace --bins
	install -d $(PREFIX)/bin $(PREFIX)/share/man/man1 $(PREFIX)/share/bash-completion/completions \
		$(PREFIX)/share/zsh/site-functions $(PREFIX)/share/fish/vendor_completions.d
	docs=$$(mktemp -d); trap 'rm -rf $$docs' EXIT; \
	for b in $(BINS); do \
		install -m 0755 $(TARGET_DIR)/$(PROFILE_DIR)/$$b $(PREFIX)/bin/$$b; \
		GITOPS_GENERATE_DOCS=$$docs $(TARGET_DIR)/$(PROFILE_DIR)/$$b; \
	done; \
	install -m 0644 $$docs/man1/*.1 $(PREFIX)/share/man/man1/; \
	for f in $$docs/completions/*.bash; do install -m 0644 $$f $(PREFIX)/share/bash-completion/completions/$$(basename $$f .bash); done; \
	install -m 0644 $$docs/completions/_* $(PREFIX)/share/zsh/site-functions/; \
	install -m 0644 $$docs/completions/*.fish $(PREFIX)/share/fish/vendor_completions.d/
	@# kubectl finds plugins by name: `kubectl gitops diff` runs kubectl-gitops-diff, and
	@# `kubectl gitops-diff` looks for kubectl-gitops_diff.
	ln -sf kubectl-gitops-diff $(PREFIX)/bin/kubectl-gitops_diff

# `make krew KREW_URI_BASE=https://…/releases/download/v0.1.0` names where the archive will be
# published (the manifest's uri); the default is the workspace's repository URL.
KREW_DIR ?= $(TARGET_DIR)/krew
KREW_URI_BASE ?=
krew: ## Package kubectl-gitops-diff for krew (host platform): tar.gz + plugin manifest with its sha256 in target/krew
	$(CARGO) build --profile $(PROFILE) -p kubectl-gitops-diff
	bash deploy/krew/package.sh $(TARGET_DIR)/$(PROFILE_DIR)/kubectl-gitops-diff $(KREW_DIR) $(KREW_URI_BASE)

doc: ## API documentation of the workspace crates
	$(CARGO) doc --workspace --no-deps

# gitops-toolkit: every target here is what CI and the README use. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
PREFIX ?= /usr/local
BINS := $(notdir $(wildcard bins/*))
RELEASE := target/release

.PHONY: help build test lint demo bench install doc

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## Build release binaries of every tool
	$(CARGO) build --release --workspace --bins

test: lint ## Format check, clippy -D warnings, then every test (unit, integration, conformance)
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --no-fail-fast

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

demo: ## Render the example app for dev, qa and prod, then tag, render and promote it into a local GitOps repo
	$(CARGO) build --release -p manifest-render -p image-tag -p git-promote
	BIN=$(CURDIR)/$(RELEASE) examples/demo.sh
	BIN=$(CURDIR)/$(RELEASE) examples/pipeline.sh

bench: build ## Run every benchmark against its peer (needs kubectl, skopeo, git on PATH)
	@for b in bench/*/*.sh; do case $$b in */install-*|*/lib/*) continue;; esac; echo "== $$b"; bash $$b; done

install: build ## Install binaries, the kubectl plugin link, man pages and completions under PREFIX
	install -d $(PREFIX)/bin $(PREFIX)/share/man/man1 $(PREFIX)/share/bash-completion/completions \
		$(PREFIX)/share/zsh/site-functions $(PREFIX)/share/fish/vendor_completions.d
	docs=$$(mktemp -d); trap 'rm -rf $$docs' EXIT; \
	for b in $(BINS); do \
		install -m 0755 $(RELEASE)/$$b $(PREFIX)/bin/$$b; \
		GITOPS_GENERATE_DOCS=$$docs $(RELEASE)/$$b; \
	done; \
	install -m 0644 $$docs/man1/*.1 $(PREFIX)/share/man/man1/; \
	for f in $$docs/completions/*.bash; do install -m 0644 $$f $(PREFIX)/share/bash-completion/completions/$$(basename $$f .bash); done; \
	install -m 0644 $$docs/completions/_* $(PREFIX)/share/zsh/site-functions/; \
	install -m 0644 $$docs/completions/*.fish $(PREFIX)/share/fish/vendor_completions.d/
	@# kubectl finds plugins by name: both `kubectl gitops diff` and `kubectl gitops-diff` work.
	if [[ -x $(PREFIX)/bin/kubectl-gitops-diff ]]; then ln -sf kubectl-gitops-diff $(PREFIX)/bin/kubectl-gitops_diff; fi

doc: ## API documentation of the workspace crates
	$(CARGO) doc --workspace --no-deps

# anklume — common tasks. `make help` lists them.
#
# The infra is infra/ when infra/base.yml exists, else infra.yml
# (override: make sync INFRA=path).

SHELL := /bin/bash
CARGO ?= cargo
GEN_BIN := target/release/anklume-gen
# An installed anklume-gen (Debian package) wins over a checkout build.
ANKLUME_GEN ?= $(shell command -v anklume-gen 2>/dev/null || echo $(GEN_BIN))
NETD_BIN := target/release/anklume-netd
ANKLUME_NETD ?= $(shell command -v anklume-netd 2>/dev/null || echo $(NETD_BIN))
INFRA ?= $(if $(wildcard infra/base.yml),infra,infra.yml)
BASE_DIR ?= .
DEMO_EXAMPLE ?= examples/pro-workstation/infra.yml
# Ansible runs from a venv (scripts/install-ansible.sh, pinned versions).
ANKLUME_VENV ?= $(shell ./scripts/install-ansible.sh --path)
PLAYBOOK := ANSIBLE_CONFIG=$(CURDIR)/ansible/ansible.cfg $(ANKLUME_VENV)/bin/ansible-playbook
# Extra ansible-playbook arguments, e.g. A="-e incus_networks_ipv4_nat=false -v".
A ?=
# The user's own roles sit in roles_custom/ next to the infra.
APPLY_ARGS = -i $(BASE_DIR)/inventory $(CURDIR)/ansible/site.yml \
	-e anklume_infra=$(abspath $(INFRA)) -e anklume_netd=$(abspath $(ANKLUME_NETD)) \
	-e anklume_roles_custom=$(dir $(abspath $(INFRA)))roles_custom $(A)

.PHONY: help sync sync-dry sync-clean validate demo demo-clean test lint bench build clean \
	apply apply-infra apply-provision apply-llm apply-stt apply-ai apply-limit check syntax ansible-deps tree \
	snapshot snapshot-domain restore restore-domain snapshot-delete snapshot-list \
	netd-preview netd-apply netd-status destroy status flush import-infra upgrade gpu-list gpu-claims gpu-processes

help:
	@echo "make sync        generate the Ansible tree from $(INFRA)"
	@echo "make sync-dry    show what sync would change, change nothing"
	@echo "make sync-clean  sync and delete unprotected orphan files"
	@echo "make validate    check $(INFRA) and report every problem"
	@echo "make apply       sync, then every play of ansible/site.yml (infra, provision, firewall)"
	@echo "make apply-infra                      Incus projects, bridges, profiles, images, instances"
	@echo "make apply-provision                  provision the instances (base_system, admin_bootstrap)"
	@echo "make apply-llm                        Ollama and Open WebUI only (docs/ai-services.md)"
	@echo "make apply-stt                        the speech-to-text server (stt_server) only"
	@echo "make apply-ai                         every AI service role"
	@echo "make apply-limit G=<domain>           all plays, one domain"
	@echo "make check       dry run of apply (--check --diff)"
	@echo "make status      domains, instances, addresses, isolation state, snapshots"
	@echo "make destroy [D=<domain>] [YES=1]     delete what apply built (lists it, asks first)"
	@echo "make flush [YES=1] [FORCE=1]          delete all anklume made for the infra + its nft table; keeps protected machines (docs/lifecycle.md)"
	@echo "make import-infra [OUT=infra.yml] [FORCE=1]  write an infra from the running Incus (anklume-gen import)"
	@echo "make upgrade [REF=<remote>/<branch>]  update this checkout (framework files only), then re-sync"
	@echo "make syntax      ansible-playbook --syntax-check"
	@echo "make demo        the main job: bring up a small demo infra on this machine, show isolation"
	@echo "make demo-clean  remove exactly what make demo created"
	@echo "make install     build the release binaries, install them to $(DESTDIR)$(BINDIR) (PREFIX=/usr/local, DESTDIR)"
	@echo "make release     build the release binaries only (target/release)"
	@echo "make uninstall   remove exactly the binaries make install put there"
	@echo "make debian-image  build (debootstrap, cached) and import the Debian 12 image anklume-test-debian (no image server needed)"
	@echo "make deb         build the Debian package target/debian/anklume_<version>_<arch>.deb (cargo-deb, pinned), then lintian"
	@echo "make test-system install the package in a systemd-booted Incus container and check it (part of make test)"
	@echo "make test        install test dependencies, build the package, run all tests"
	@echo "make lint        rustfmt, clippy, ansible-lint (production), yamllint"
	@echo "make bench       benchmarks (generator vs cp -r; snapshots vs the incus CLI; isolation apply and per-packet cost; the admin proxy vs direct Incus; GPU claim round trip; make apply-infra at 5x4)"
	@echo "make snapshot [NAME=]                 snapshot every instance (anklume-snapd)"
	@echo "make snapshot-domain D=<d> [NAME=]    snapshot one domain"
	@echo "make restore NAME=<n>                 roll every instance back (safety snapshot first)"
	@echo "make restore-domain D=<d> NAME=<n>    roll one domain back"
	@echo "make snapshot-delete NAME=<n> [D=<d>] delete a snapshot"
	@echo "make snapshot-list [D=<d>]            list snapshots"
	@echo "make netd-preview    print the isolation ruleset of $(INFRA) (nft syntax; touches nothing)"
	@echo "make netd-apply      have anklume-netd re-read the host's infra and apply it"
	@echo "make netd-status     anklume-netd's state (Applied, RulesetHash, LastError, ...)"
	@echo "make gpu-list        the GPUs as anklume-gpud sees them (gpu-claims: who holds which; gpu-processes: who uses them)"

build: $(GEN_BIN)

# Building needs cargo >= the workspace's rust-version; say what to do when not.
need-cargo = @./scripts/need-cargo.sh $(CARGO)

$(NETD_BIN): $(shell find lib bins -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml
	$(need-cargo)
	$(CARGO) build --release -p anklume-netd

$(GEN_BIN): $(shell find lib bins -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml
	$(need-cargo)
	$(CARGO) build --release -p anklume-gen

# make install: every binary of bins/ (one crate each, named after its
# directory), built in release, to $(DESTDIR)$(BINDIR); make uninstall
# removes exactly those files. The build is skipped when the binaries are
# newer than the sources, so `make release` as a user then `sudo make
# install` needs no cargo for root. RELEASE_DIR: where cargo puts them.
.PHONY: release install uninstall debian-image
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
INSTALL ?= install
RELEASE_DIR ?= target/release
BINS := $(notdir $(wildcard bins/*))
RELEASE_STAMP = $(RELEASE_DIR)/.anklume-release

release: $(RELEASE_STAMP)

$(RELEASE_STAMP): $(shell find lib bins -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml Cargo.lock
	$(need-cargo)
	$(CARGO) build --release --locked $(addprefix -p ,$(BINS))
	@touch $@

install: $(RELEASE_STAMP)
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(addprefix $(RELEASE_DIR)/,$(BINS)) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(BINS))

# A Debian 12 image built locally (debootstrap from the Debian mirror, cached
# in /var/cache/anklume-test) and imported as anklume-test-debian: for hosts
# that cannot reach the Incus image server.
debian-image:
	./scripts/debian-image.sh

# The generator is built first only when no installed one is found.
$(if $(filter $(GEN_BIN),$(ANKLUME_GEN)),sync sync-dry sync-clean validate tree import-infra: $(GEN_BIN))

sync:
	$(ANKLUME_GEN) sync $(INFRA) --base-dir $(BASE_DIR)

sync-dry:
	$(ANKLUME_GEN) sync $(INFRA) --base-dir $(BASE_DIR) --dry-run

sync-clean:
	$(ANKLUME_GEN) sync $(INFRA) --base-dir $(BASE_DIR) --clean-orphans

validate:
	$(ANKLUME_GEN) validate $(INFRA)

# Show what the generator writes for a bundled example (make demo's former job).
tree:
	@dir=$$(mktemp -d /tmp/anklume-tree.XXXXXX) && \
	echo "== anklume-gen sync $(DEMO_EXAMPLE) --base-dir $$dir" && \
	$(ANKLUME_GEN) sync $(DEMO_EXAMPLE) --base-dir $$dir && \
	echo && echo "== the generated tree ($$dir)" && \
	(cd $$dir && find . -type f | sort | sed 's|^\./|  |') && \
	echo && echo "== $$dir/group_vars/all.yml" && cat $$dir/group_vars/all.yml && \
	echo && echo "== a second sync changes nothing" && \
	$(ANKLUME_GEN) sync $(DEMO_EXAMPLE) --base-dir $$dir | grep -c 'Unchanged:' | sed 's/$$/ files unchanged/'

# The main job: Incus, an image, a small infra applied, isolation measured.
demo: $(if $(filter $(GEN_BIN),$(ANKLUME_GEN)),$(GEN_BIN))
	ANKLUME_GEN=$(abspath $(ANKLUME_GEN)) ./scripts/demo.sh up

demo-clean:
	./scripts/demo.sh clean

ansible-deps:
	@./scripts/install-ansible.sh

# apply and apply-limit run the firewall play: build anklume-netd when
# none is installed.
$(if $(filter $(NETD_BIN),$(ANKLUME_NETD)),apply apply-limit: $(NETD_BIN))

has-tree = @test -d $(BASE_DIR)/inventory || { echo "ERROR: no $(BASE_DIR)/inventory: run make sync (INFRA=$(INFRA)) first" >&2; exit 2; }

apply: sync ansible-deps
	$(PLAYBOOK) $(APPLY_ARGS)

apply-infra: ansible-deps
	$(has-tree)
	$(PLAYBOOK) $(APPLY_ARGS) --tags infra

apply-provision: ansible-deps
	$(has-tree)
	$(PLAYBOOK) $(APPLY_ARGS) --tags provision

# The AI services (docs/ai-services.md): their roles only, on the machines
# that list them (the instances must exist: make apply-infra first).
# The tag is the target's suffix: apply-llm → --tags llm.
apply-llm apply-stt apply-ai: ansible-deps
	$(has-tree)
	$(PLAYBOOK) $(APPLY_ARGS) --tags $(@:apply-%=%)

apply-limit: ansible-deps
	@test -n "$(G)" || { echo "usage: make apply-limit G=<domain>" >&2; exit 2; }
	$(has-tree)
	$(PLAYBOOK) $(APPLY_ARGS) --limit '$(G),localhost'

check: ansible-deps
	$(has-tree)
	$(PLAYBOOK) $(APPLY_ARGS) --check --diff

# Undo and status: scripts/destroy.sh and scripts/status.sh.
destroy:
	./scripts/destroy.sh $(if $(YES),--yes) $(BASE_DIR) $(D)

# Lifecycle (docs/lifecycle.md): flush, import, upgrade.
flush:
	./scripts/flush.sh $(if $(YES),--yes) $(if $(FORCE),--force) $(BASE_DIR)

OUT ?= infra.yml
import-infra:
	$(ANKLUME_GEN) import -o $(OUT) $(if $(FORCE),--force) $(addprefix --project ,$(P))

upgrade:
	ANKLUME_GEN=$(ANKLUME_GEN) ./scripts/upgrade.sh $(REF)

$(if $(filter $(NETD_BIN),$(ANKLUME_NETD)),status: $(NETD_BIN))
status:
	@./scripts/status.sh $(BASE_DIR) $(abspath $(INFRA)) $(abspath $(ANKLUME_NETD))

syntax: ansible-deps
	$(PLAYBOOK) -i localhost, $(CURDIR)/ansible/site.yml --syntax-check

# The Debian package: every bins/* binary in release, the man pages and
# completions generated from their clap definitions (packaging/), then
# cargo-deb (pinned; scripts/install-cargo-deb.sh caches it) on the
# packaging crate, then lintian (0 errors, 0 warnings; overrides with
# reasons in packaging/debian/anklume.lintian-overrides).
.PHONY: deb test-system
CARGO_DEB = $(shell ./scripts/install-cargo-deb.sh --path)
DEB_GLOB := target/debian/anklume_*.deb

deb:
	$(need-cargo)
	./scripts/install-cargo-deb.sh
	$(CARGO) build --release --locked $(addprefix -p ,$(BINS)) -p anklume-packaging
	rm -rf $(RELEASE_DIR)/packaging target/debian/anklume_*.deb
	$(RELEASE_DIR)/anklume-packaging $(RELEASE_DIR)/packaging
	gzip -9n $(RELEASE_DIR)/packaging/man/*.1
	$(CARGO_DEB) deb -p anklume-packaging --no-build --locked
	lintian --fail-on error,warning $(DEB_GLOB)

# The system test alone (make test runs it with every other test).
test-system: deb
	$(CARGO) test --locked -p anklume-system-tests -- --test-threads=1

test:
	./scripts/install-test-deps.sh
	$(MAKE) deb
	$(CARGO) test --workspace --locked

lint: ansible-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	cd ansible && PATH=$(ANKLUME_VENV)/bin:$$PATH ANSIBLE_CONFIG=$(CURDIR)/ansible/ansible.cfg ansible-lint --profile production --strict
	$(ANKLUME_VENV)/bin/yamllint --strict -c ansible/.yamllint ansible

bench:
	$(CARGO) bench -p anklume-gen --bench sync
	$(CARGO) bench -p anklume-infra --bench restrictions
	./scripts/install-test-deps.sh
	$(CARGO) bench -p anklume-snapd --bench snapshot
	$(CARGO) bench -p anklume-netpolicy --bench isolation
	$(CARGO) bench -p anklume-proxy --bench proxy
	$(CARGO) bench -p anklume-gpud --bench claim
	./benches/apply-infra.sh

# Snapshots go through anklume-snapd on the system bus (root, or polkit's
# org.anklume.snapshot.manage). An empty NAME gives a timestamped one.
# scripts/daemon-call.sh says when the daemon is not running, and how to
# start it, instead of busctl's "Failed to connect to bus".
SNAPD := ./scripts/daemon-call.sh snapd --timeout=600 call org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1
NAME ?=
target = $(if $(D),domain:$(D),all)

snapshot:
	$(SNAPD) Create ss all "$(NAME)"

snapshot-domain:
	@test -n "$(D)" || { echo "usage: make snapshot-domain D=<domain> [NAME=<name>]"; exit 2; }
	$(SNAPD) Create ss domain:$(D) "$(NAME)"

restore:
	@test -n "$(NAME)" || { echo "usage: make restore NAME=<snapshot>"; exit 2; }
	$(SNAPD) Restore ss all "$(NAME)"

restore-domain:
	@test -n "$(D)" -a -n "$(NAME)" || { echo "usage: make restore-domain D=<domain> NAME=<snapshot>"; exit 2; }
	$(SNAPD) Restore ss domain:$(D) "$(NAME)"

snapshot-delete:
	@test -n "$(NAME)" || { echo "usage: make snapshot-delete NAME=<snapshot> [D=<domain>]"; exit 2; }
	$(SNAPD) Delete ss $(target) "$(NAME)"

snapshot-list:
	@./scripts/daemon-call.sh snapd list $(target)

# Network isolation: preview runs locally on $(INFRA); apply and status go
# through anklume-netd on the system bus (Apply: root, or polkit's
# org.anklume.network.apply), which reads the host's infra (anklume.conf.yml).
NETD := ./scripts/daemon-call.sh netd call org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1
$(if $(filter $(NETD_BIN),$(ANKLUME_NETD)),netd-preview: $(NETD_BIN))

netd-preview:
	$(ANKLUME_NETD) preview --infra $(INFRA)

netd-apply:
	$(NETD) Apply

netd-status:
	@./scripts/daemon-call.sh netd introspect org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 | grep property

clean:
	$(CARGO) clean

# GPUs: anklume-gpud on the system bus (docs/gpu.md). Claims are made by
# make apply (ansible/gpu.yml) or with busctl.
gpu-list:
	@./scripts/daemon-call.sh gpud list

gpu-claims:
	@./scripts/daemon-call.sh gpud claims

gpu-processes:
	@./scripts/daemon-call.sh gpud processes

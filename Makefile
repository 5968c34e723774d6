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

.PHONY: help sync sync-dry sync-clean validate demo test lint bench build clean \
	snapshot snapshot-domain restore restore-domain snapshot-delete snapshot-list \
	netd-preview netd-apply netd-status

help:
	@echo "make sync        generate the Ansible tree from $(INFRA)"
	@echo "make sync-dry    show what sync would change, change nothing"
	@echo "make sync-clean  sync and delete unprotected orphan files"
	@echo "make validate    check $(INFRA) and report every problem"
	@echo "make demo        sync a bundled example into a fresh directory and show it"
	@echo "make test        install test dependencies and run all tests"
	@echo "make lint        rustfmt and clippy (warnings are errors)"
	@echo "make bench       benchmarks (generator vs cp -r; snapshots vs the incus CLI; isolation apply and per-packet cost)"
	@echo "make snapshot [NAME=]                 snapshot every instance (anklume-snapd)"
	@echo "make snapshot-domain D=<d> [NAME=]    snapshot one domain"
	@echo "make restore NAME=<n>                 roll every instance back (safety snapshot first)"
	@echo "make restore-domain D=<d> NAME=<n>    roll one domain back"
	@echo "make snapshot-delete NAME=<n> [D=<d>] delete a snapshot"
	@echo "make snapshot-list [D=<d>]            list snapshots"
	@echo "make netd-preview    print the isolation ruleset of $(INFRA) (nft syntax; touches nothing)"
	@echo "make netd-apply      have anklume-netd re-read the host's infra and apply it"
	@echo "make netd-status     anklume-netd's state (Applied, RulesetHash, LastError, ...)"

build: $(GEN_BIN)

$(NETD_BIN): $(shell find lib bins -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml
	$(CARGO) build --release -p anklume-netd

$(GEN_BIN): $(shell find lib bins -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml
	$(CARGO) build --release -p anklume-gen

# The generator is built first only when no installed one is found.
$(if $(filter $(GEN_BIN),$(ANKLUME_GEN)),sync sync-dry sync-clean validate demo: $(GEN_BIN))

sync:
	$(ANKLUME_GEN) sync $(INFRA) --base-dir $(BASE_DIR)

sync-dry:
	$(ANKLUME_GEN) sync $(INFRA) --base-dir $(BASE_DIR) --dry-run

sync-clean:
	$(ANKLUME_GEN) sync $(INFRA) --base-dir $(BASE_DIR) --clean-orphans

validate:
	$(ANKLUME_GEN) validate $(INFRA)

demo:
	@dir=$$(mktemp -d /tmp/anklume-demo.XXXXXX) && \
	echo "== anklume-gen sync $(DEMO_EXAMPLE) --base-dir $$dir" && \
	$(ANKLUME_GEN) sync $(DEMO_EXAMPLE) --base-dir $$dir && \
	echo && echo "== the generated tree ($$dir)" && \
	(cd $$dir && find . -type f | sort | sed 's|^\./|  |') && \
	echo && echo "== $$dir/group_vars/all.yml" && cat $$dir/group_vars/all.yml && \
	echo && echo "== a second sync changes nothing" && \
	$(ANKLUME_GEN) sync $(DEMO_EXAMPLE) --base-dir $$dir | grep -c 'Unchanged:' | sed 's/$$/ files unchanged/'

test:
	./scripts/install-test-deps.sh
	$(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench:
	$(CARGO) bench -p anklume-gen --bench sync
	./scripts/install-test-deps.sh
	$(CARGO) bench -p anklume-snapd --bench snapshot
	$(CARGO) bench -p anklume-netpolicy --bench isolation

# Snapshots go through anklume-snapd on the system bus (root, or polkit's
# org.anklume.snapshot.manage). An empty NAME gives a timestamped one.
SNAPD := busctl --system --timeout=600 call org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1
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
	@$(SNAPD) --json=short List s $(target) | /usr/bin/python3 -c 'import json,sys,time; rows=json.load(sys.stdin)["data"][0]; print("%-12s %-24s %-36s %s" % ("DOMAIN","INSTANCE","SNAPSHOT","TAKEN (UTC)")); [print("%-12s %-24s %-36s %s" % (d,i,s,time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)))) for d,i,s,t in rows]'

# Network isolation: preview runs locally on $(INFRA); apply and status go
# through anklume-netd on the system bus (Apply: root, or polkit's
# org.anklume.network.apply), which reads the host's infra (anklume.conf.yml).
NETD := busctl --system call org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1
$(if $(filter $(NETD_BIN),$(ANKLUME_NETD)),netd-preview: $(NETD_BIN))

netd-preview:
	$(ANKLUME_NETD) preview --infra $(INFRA)

netd-apply:
	$(NETD) Apply

netd-status:
	@busctl --system introspect org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 | grep property

clean:
	$(CARGO) clean

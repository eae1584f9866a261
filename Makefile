# Developer entry points. Everything goes through `python -m deploy` (see deploy/cli.py).
SHELL := /bin/bash
PY := .venv/bin/python
TOPOLOGY ?= deploy/topologies/local.toml
DEPLOY := $(PY) -m deploy --topology $(TOPOLOGY)

.PHONY: help install up init secret down clean status logs psql manage test test-unit lint check bench failover
.PHONY: deploy rollback releases scale backup backups restore-drill tf-check tf-rehearsal

help:
	@echo "make up [APP=path]  install what is missing, start the local cluster serving the Django project"
	@echo "                    at path (default: the box office example), print the site URL"
	@echo "make init APP=path [ARGS='--python 3.12']   write the project's tiers.toml (prints its assumptions)"
	@echo "make secret NAME=X  set one of the project's secrets (make secret: list them)"
	@echo "make status   every node at a glance        make logs [NODE=web1] [LEVEL=warning] [LINES=n]"
	@echo "make down     stop (data kept)              make clean               stop and wipe var/<cluster>/"
	@echo "make psql NODE=db1                          make manage ARGS='...'   the project's manage.py"
	@echo "make deploy [APP=dir]      rolling deploy   make rollback            back to the previous release"
	@echo "make releases                               make scale WEB=n         add/remove web nodes"
	@echo "make failover [TO=db2]     planned switchover of the primary (Patroni)"
	@echo "make backup [TYPE=diff]    pgBackRest now   make backups             list them"
	@echo "make restore-drill [TIME=2026-11-30T12:00:00Z]  restore into a scratch node and verify it"
	@echo "make bench    bounded load runs -> docs/BENCHMARKS.md (starts the cluster if needed)"
	@echo "make check    validate the topology, render every config   make lint   ruff check + format"
	@echo "make test     unit + integration tests      make test-unit           unit tests only"
	@echo "make tf-check  terraform fmt/validate/test + checkov   make tf-rehearsal  apply against an AWS emulator"
	@echo "make install  Debian packages and .venv (up and test run it)"
	@echo "any target TOPOLOGY=deploy/topologies/fleet.toml: the rehearsal fleet (docs/FLEET.md)"

install:
	@bash deploy/bootstrap.sh

# APP=path: serve that Django project (its folder; `init` writes its tiers.toml when it has none).
up: install
	@$(DEPLOY) up $(if $(APP),--app $(APP))

init: install
	@[ -n "$(APP)" ] || { echo "usage: make init APP=path/to/project [ARGS='--python 3.12']"; exit 2; }
	@$(DEPLOY) init $(APP) $(ARGS)

# The project's secrets (tiers.toml [app.secrets]): make secret NAME=STRIPE_API_KEY (asks for the value).
secret:
	@[ -n "$(NAME)" ] || { $(DEPLOY) secret list; exit 0; }
	@$(DEPLOY) secret set $(NAME)

down:
	@[ -x $(PY) ] && $(DEPLOY) down || true

clean:
	@[ -x $(PY) ] && $(DEPLOY) clean || rm -rf var/

status:
	@$(DEPLOY) status

# Merged and time-sorted across nodes; LEVEL=warning|error filters, LINES=n, FOLLOW=1 follows the raw files.
logs:
	@$(DEPLOY) logs $(NODE) $(if $(LEVEL),--level $(LEVEL)) $(if $(LINES),-n $(LINES)) $(if $(FOLLOW),-f)

psql:
	@$(DEPLOY) psql $(or $(NODE),db1)

manage:
	@$(DEPLOY) manage $(ARGS)

# Zero-downtime operations (docs/OPERATIONS.md). DEPLOY_ARGS passes more options (--boot-limit 2, --allow-breaking).
deploy:
	@$(DEPLOY) deploy $(if $(APP),--app $(APP))$(if $(SOURCE),--app $(SOURCE)) $(DEPLOY_ARGS)

rollback:
	@$(DEPLOY) rollback $(DEPLOY_ARGS)

releases:
	@$(DEPLOY) releases

scale:
	@[ -n "$(WEB)" ] || { echo "usage: make scale WEB=n"; exit 2; }
	@$(DEPLOY) scale $(WEB)

# Planned switchover of the primary (Patroni): make failover [TO=db2]
failover:
	@$(DEPLOY) failover $(if $(TO),--to $(TO))

# Backups (docs/DATABASE.md "Backups"): full by default, TYPE=diff|incr; the drill restores at TIME (UTC;
# default now) into a scratch PostgreSQL, checks it against what the primary held then, and removes it.
backup:
	@$(DEPLOY) backup --type $(or $(TYPE),full)

backups:
	@$(DEPLOY) backups

restore-drill:
	@$(DEPLOY) restore-drill $(if $(TIME),--time "$(TIME)")

# Bounded load runs against the local cluster (started if needed); figures go to docs/BENCHMARKS.md.
bench: up
	@$(DEPLOY) bench

check: install
	@$(DEPLOY) check

lint: install
	@.venv/bin/ruff check deploy app examples tests
	@.venv/bin/ruff format --check deploy app examples tests

test-unit: install
	@.venv/bin/pytest tests/unit -q

# Terraform checked by terraform itself, offline (the local provider mirror): fmt, validate of the root
# and every example, `terraform test` with a mocked provider, checkov (terraform/README.md, "Checks").
tf-check:
	@TIERS_TEST_TOOLS=1 bash deploy/bootstrap.sh
	@.venv/bin/pytest -q tests/unit/test_terraform.py tests/unit/test_roles_terraform.py

# Apply an example against moto's AWS emulator on a loopback address, turn its outputs into a topology,
# render node-install for every node, destroy; prints the topology (terraform/README.md, "Rehearsal").
tf-rehearsal:
	@TIERS_TEST_TOOLS=1 bash deploy/bootstrap.sh
	@$(PY) -m deploy.commands.tf_rehearsal

# Unit tests, then integration tests against a throw-away cluster on 127.1.x.y (never the make-up one).
# The browser test needs Debian's Chromium and the unit check systemd-analyze: `make test` installs both.
test:
	@TIERS_TEST_TOOLS=1 bash deploy/bootstrap.sh
	@$(MAKE) --no-print-directory lint
	@.venv/bin/pytest -q

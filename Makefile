# mailsec.mx: every developer and CI entry point.
#   make test   every test (lint, sanity, unit, integration, molecule, the MTA matrix with reset)
#   make units  the fast unit layer only
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
CACHE := $(CURDIR)/.cache
# Ansible finds the collection through this path; ansible-test needs a real copy.
COLLECTIONS := $(CACHE)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/mailsec/mx
SANITY_COPY := $(CACHE)/sanity/ansible_collections/mailsec/mx

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_HOME := $(CACHE)/ansible-home
export ANSIBLE_LOCAL_TEMP := $(CACHE)/ansible-tmp
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
# One SSH round trip per task instead of three: halves the lab playbooks' time.
export ANSIBLE_PIPELINING := True

.PHONY: help packages mta-debs venv collection-link test demo lint sanity units integration molecule matrix matrix-check bench build clean role-docs

help:
	@echo "make demo   - harden-mx.yml on a throwaway lab, then real mail through it"
	@echo "make test   - run every test (installs what it needs: Debian packages, .venv)"
	@echo "make units  - unit tests only"
	@echo "make matrix - Postfix, Exim, OpenSMTPD, Sendmail, qmail through the layout, reset, drop and 4xx; writes docs/compatibility.md (~20 min)"
	@echo "make lint | sanity | integration | molecule | matrix-check | bench | build"

$(BIN)/activate: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/activate

packages:
	bash .ci/install-packages

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

test: packages mta-debs lint sanity units integration molecule matrix-check

# The built-in lab, harden-mx.yml on it, then real mail. KEEP_LAB=1 keeps the lab for exploring.
demo: packages venv collection-link
	bash lab/demo/demo.sh

# The MTAs of the matrix conflict with the machine's Postfix: only their packages are downloaded here.
mta-debs: packages
	bash .ci/download-mtas $(CACHE)/mta-debs

# The compatibility matrix with the default (reset) dead primary: every MTA delivers, crude senders do not.
# qmail is built from ../shared/mta-src (once per tarball checksum, under .cache/qmail); without it, it is skipped.
matrix-check: packages mta-debs venv collection-link
	$(BIN)/python -m lab.matrix.matrix --variant reset

# All three variants (drop is slow by nature: Exim waits up to 5 minutes per dropping address; 4xx is a
# measurement of who moves on past a dead primary that greets with 421); the figures become
# docs/compatibility.md. The results file keeps a skipped MTA's last figures for the next run's page.
matrix: packages mta-debs venv collection-link
	$(BIN)/python -m lab.matrix.matrix --variant reset --variant drop --variant 4xx --docs docs/compatibility.md --results $(CACHE)/matrix-results.json

lint: venv collection-link
	yamllint -s .
	ansible-lint --profile production
	antsibull-changelog lint

# ansible-test downloads a pip bootstrap script from a host these machines cannot reach:
# give it the offline stand-in under the name it looks for (pip 24.2 for ansible-core 2.19).
ANSIBLE_TEST_GET_PIP := $(HOME)/.ansible/test/cache/get_pip_24_2.py

sanity: venv
	@install -D -m 0644 .ci/get_pip_offline.py $(ANSIBLE_TEST_GET_PIP)
	@rm -rf $(SANITY_COPY) && mkdir -p $(SANITY_COPY)
	@git ls-files --cached --others --exclude-standard -z | \
		rsync -a --from0 --files-from=- ./ $(SANITY_COPY)/
	@# A repository of its own, or ansible-test lists the copy's files through ours and finds none.
	@git -C $(SANITY_COPY) init -q
	cd $(SANITY_COPY) && ansible-test sanity --local --python 3.11 --color no 2>&1 | \
		grep -v -e '^WARNING: Location' -e '^Looking in' -e '━'

units: venv collection-link
	pytest tests/unit

integration: venv collection-link
	pytest tests/integration

# Scenarios run one after another: each builds its own namespace lab.
MOLECULE_SCENARIOS ?= lab_smoke dead_primary_nftables dead_primary_iptables mx_trap mx_trap_iptables mx_records default

molecule: venv collection-link
	for scenario in $(MOLECULE_SCENARIOS); do molecule test -s $$scenario; done

# As modules from the repository root, so a benchmark imports the lab's helpers (lab.netns) like any package.
bench: venv collection-link
	for bench in bench/*.py; do echo "== $$bench"; $(BIN)/python -m bench.$$(basename $$bench .py); done

build: venv
	ansible-galaxy collection build --force --output-path $(CACHE)/build

clean:
	rm -rf $(CACHE) $(VENV) tests/output

# Each role's README variable table, rendered from its meta/argument_specs.yml (the one description of its
# variables); tests/unit/roles fails when a table is out of date.
role-docs: venv
	$(BIN)/python .ci/role_docs.py

# etcdkit.etcd — every target installs what it needs (Debian 12, root).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
CACHE ?= $(CURDIR)/.cache
export ETCDKIT_CACHE := $(CACHE)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION := python
export ANSIBLE_FORCE_COLOR := false
export PY_COLORS := 0

TESTHOSTS := tests/testhosts/testhosts
STAMP := $(VENV)/.installed-$(shell sha256sum requirements-dev.txt | cut -c1-16)

.PHONY: help deps venv artifacts lint unit sanity integration molecule test demo demo-down bench clean

help:
	@echo "make demo   - boot 3 local test hosts and install a real 3-member TLS etcd cluster (playbooks/site.yml)"
	@echo "make test   - lint, unit, sanity, module integration tests and molecule scenarios"
	@echo "make bench  - benchmarks (results in docs/benchmarks.md)"
	@echo "make demo-down - destroy the demo hosts"

deps:
	@tests/deps.sh

$(STAMP): requirements-dev.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

artifacts: venv
	$(VENV)/bin/python tests/artifacts/build.py --out $(CACHE)/artifacts --apt-dir $(CACHE)/apt-private

lint: venv
	tests/lint/run.sh

unit: deps venv
	$(VENV)/bin/python -m pytest -q -n 2 tests/unit

sanity: venv
	tests/sanity/run.sh

integration: deps venv artifacts
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile tests/integration

molecule: deps venv artifacts
	tests/molecule.sh $(SCENARIOS)

test: deps venv artifacts
	@$(MAKE) --no-print-directory lint unit sanity integration molecule

demo: deps venv artifacts
	tests/demo.sh

demo-down: venv
	$(TESTHOSTS) --lab etcd down

bench: deps venv artifacts
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	tests/bench/run.sh

clean:
	-$(TESTHOSTS) down --all
	rm -rf .pytest_cache tests/output

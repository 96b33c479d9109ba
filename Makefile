# taskmanager.aws — the two commands users need are `make demo` and `make test`.
# Everything runs against the local AWS emulator (moto, server mode) unless
# AWS_ENDPOINT_URL is already set in the environment.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Two supported lines (README "Requirements and supported versions"); pick one with
# ANSIBLE_LINE=12|14. 12 (the default): ansible 12.3 / ansible-core 2.19 / amazon.aws and
# community.aws 10, Python 3.11, with the whole dev toolchain in .venv. 14: ansible 14.5 /
# ansible-core 2.21 / amazon.aws and community.aws 11, Python 3.12, in .venv-ansible14 with only
# what running the playbooks needs. The interpreter: PYTHON, or found by scripts/find-python.sh
# (the distribution's first: Debian's optimized build takes less CPU than pyenv's default one).
ANSIBLE_LINE ?= 12
VENV_14 := .venv-ansible14
ifeq ($(ANSIBLE_LINE),12)
PYTHON ?= $$(scripts/find-python.sh 3.11)
VENV ?= .venv
REQUIREMENTS := requirements/dev.txt
else ifeq ($(ANSIBLE_LINE),14)
PYTHON ?= $$(scripts/find-python.sh 3.12)
VENV ?= $(VENV_14)
REQUIREMENTS := requirements/ansible14.txt
else
$(error ANSIBLE_LINE is 12 (the default) or 14, not '$(ANSIBLE_LINE)')
endif
BIN := $(VENV)/bin
STATE := .state
LOCAL_AWS_PORT ?= 5555
INVENTORY ?= inventories/local
# The running fleet instances, by ID (amazon.aws.aws_ec2 on the emulator): for the plays that
# act on instances (stress, scale test). Separate, so that the stack's plays list no instances.
FLEET_INVENTORY ?= inventories/local-fleet
ANSIBLE_PLAYBOOK := $(BIN)/ansible-playbook
COLLECTION_LINK := .build/ansible_collections/taskmanager/aws
# The local emulator's address and dummy credentials. An AWS_ENDPOINT_URL that is
# already set (another emulator, a shared one) is used as it is.
AWS_ENV = AWS_ENDPOINT_URL="$${AWS_ENDPOINT_URL:-http://127.0.0.1:$(LOCAL_AWS_PORT)}" LOCAL_AWS_PORT=$(LOCAL_AWS_PORT)

export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- environment
# The packages: uv (pinned in requirements/uv.txt, installed by the venv's own pip) installs the
# pinned set, about ten times faster than pip (dev.txt: ~4 s against ~30 s; it unpacks in
# parallel). Bytecode: none at install, then compileall writes it for everything but the 40-odd
# collections of the `ansible` package we never load and sympy and networkx (cfn-lint's, never
# imported by a test or a module run). Python's own write-on-first-use is not enough: with
# PYTHONDONTWRITEBYTECODE set (as on the development machine) it never writes, and every module
# run compiled boto3 and botocore again (`import boto3`: 1.45 s without bytecode, 0.36 s with).
PYC_SKIP := ansible_collections/(?!amazon/aws/|community/aws/|ansible/posix/|ansible/utils/|awx/awx/)[^/]+/[^/]+/|site-packages/(sympy|networkx)/
$(BIN)/activate: $(REQUIREMENTS) requirements/uv.txt
	python="$(PYTHON)"; "$$python" -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip -r requirements/uv.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(REQUIREMENTS)
	$(BIN)/python -m compileall -q -j 0 -x '$(PYC_SKIP)' $(VENV)/lib >/dev/null
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn "$(CURDIR)" $@

# The controller's Python for the modules (scripts/module_python.py): the venv's python, with each
# pipelined module run forked from a warm one. The inventories pick it when it exists.
$(BIN)/module-python: scripts/module_python.py | $(BIN)/activate
	{ echo "#!$(abspath $(BIN))/python"; cat $<; } >$@.tmp
	chmod +x $@.tmp
	mv $@.tmp $@

.PHONY: venv
venv: $(BIN)/activate $(BIN)/module-python $(COLLECTION_LINK) ## Create .venv (ANSIBLE_LINE=14: .venv-ansible14) and link the collection

.PHONY: system-deps dataplane-deps
system-deps: ## Install the Debian packages the tests use (needs root)
	scripts/system-deps.sh

dataplane-deps: ## Install the Debian packages the local emulator and data plane run (HAProxy, registry, buildah)
	scripts/system-deps.sh dataplane

# Rebuilt only when the web app's sources change, so that a second `make demo` uploads
# nothing new (the wheel is also built reproducibly: SOURCE_DATE_EPOCH in the script).
WEBAPP_SOURCES := $(shell find webapp/pyproject.toml webapp/README.md webapp/src webapp/deploy -type f -not -path '*/__pycache__/*' 2>/dev/null)
.build/dist/.built: $(WEBAPP_SOURCES) | $(BIN)/activate
	VENV=$(VENV) scripts/build-webapp.sh
	touch $@

.PHONY: webapp-dist
webapp-dist: venv .build/dist/.built ## Build the web app wheel into .build/dist

# ---------------------------------------------------------------- local AWS emulator
.PHONY: local-aws-start
local-aws-start: venv dataplane-deps ## Start (or reuse) the local AWS emulator and its data plane (HAProxy, app processes)
	VENV=$(VENV) scripts/local-aws.sh start

.PHONY: local-aws-stop
local-aws-stop: ## Stop the local AWS emulator started by this project
	VENV=$(VENV) scripts/local-aws.sh stop

.PHONY: local-aws-status
local-aws-status: ## The local emulator and its data plane: listeners, instances, target health
	VENV=$(VENV) scripts/local-aws.sh status

.PHONY: freeze-az thaw-az
freeze-az: ## Lose an AZ on the local data plane: AZ=eu-north-1a freezes its instances
	VENV=$(VENV) scripts/local-aws.sh freeze-az "$(AZ)"

thaw-az: ## Bring a lost AZ back: AZ=eu-north-1a
	VENV=$(VENV) scripts/local-aws.sh thaw-az "$(AZ)"

# ---------------------------------------------------------------- the main job
# The demo's fleet runs 3 instances (the seed's maximum), so the spread check sees 3 IDs in 2 AZs.
DEMO_VARS ?= -e autoscaling_desired_capacity=3 -e autoscaling_reset_desired_capacity=true

.PHONY: demo
demo: venv webapp-dist local-aws-start ## Build the stack on the local emulator, serve it, and prove the spread
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml $(DEMO_VARS)
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) playbooks/summary.yml
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) playbooks/verify_spread.yml -e verify_spread_min_azs=2
	@VENV=$(VENV) scripts/local-aws.sh urls | while read -r name url; do \
	  echo "$$name serves the task manager at $$url/  (who answered: $$url/instance)"; done

.PHONY: failover
failover: venv webapp-dist local-aws-start ## ECS failover test on the local stack: stop an instance under load, print the report
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml -e taskmanager_build_fleet=false
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) playbooks/failover_test.yml $(FAILOVER_VARS)

# make scale: the seed's scale-out test on the local stack. The group is set to 1 instance first
# (the demo runs 3, the maximum), with detailed (1-minute) monitoring on (the launch template's
# default, given explicitly: target tracking needs 3 datapoints above the target), then playbooks/scale_test.yml loads it and watches the data
# plane's target tracking scale it out; the timeline is plotted to $(SCALE_DIR)/scale.svg.
# Time-compressed when the stack was started so: LOCAL_AWS_TIME_SCALE=10 make demo scale.
SCALE_DIR := $(STATE)/scale-$(LOCAL_AWS_PORT)
# Sampling interval (one detailed-monitoring datapoint) and watch timeout follow the time scale (an
# integer), so that a compressed run does not walk through hundreds of skipped samples after PASS
# (meanwhile the data plane may already scale in: 15 low datapoints, 90 s at time scale 10).
SCALE_VARS ?= -e scale_test_interval=$$(( 60 / $${LOCAL_AWS_TIME_SCALE:-1} + 1 )) \
	-e scale_test_timeout=$$(( 600 / $${LOCAL_AWS_TIME_SCALE:-1} + 60 )) -e scale_test_stop=true
.PHONY: scale
scale: venv webapp-dist local-aws-start ## Scale-out test on the local stack: 1 instance under load -> more; timeline + SVG plot
	mkdir -p $(SCALE_DIR)
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml -e taskmanager_build_ecs=false \
		-e autoscaling_desired_capacity=1 -e autoscaling_reset_desired_capacity=true \
		-e launch_template_detailed_monitoring=true
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) -i $(FLEET_INVENTORY) playbooks/scale_test.yml \
		-e scale_test_report=$(abspath $(SCALE_DIR))/report.json $(SCALE_VARS)
	$(BIN)/python scripts/scale-plot.py $(SCALE_DIR)/report.json $(SCALE_DIR)/scale.svg

.PHONY: teardown
teardown: venv ## Remove everything site.yml created, audit for leftovers, stop the local emulator and data plane
	$(AWS_ENV) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) playbooks/teardown.yml
	@if [[ -z "$${AWS_ENDPOINT_URL:-}" ]]; then VENV=$(VENV) scripts/local-aws.sh stop; fi

.PHONY: serve
serve: venv ## Run the web app locally under gunicorn (PORT, DATABASE_URL, TASKMANAGER_INSTANCE_ID)
	VENV=$(VENV) scripts/serve.sh

# ---------------------------------------------------------------- quality gates
.PHONY: lint
lint: venv ## ruff, yamllint, ansible-lint (production profile)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint

.PHONY: sanity
sanity: venv ## ansible-test sanity (offline pip bootstrap)
	VENV=$(VENV) scripts/ansible-test.sh sanity

.PHONY: units
units: venv ## ansible-test units for plugins/
	VENV=$(VENV) scripts/ansible-test.sh units

.PHONY: changelog-lint
changelog-lint: venv ## antsibull-changelog lint
	$(BIN)/antsibull-changelog lint

.PHONY: test-molecule test-foundation
test-molecule: venv webapp-dist dataplane-deps ## molecule default (foundation + fleet: converge, idempotence, check, verify, destroy) on its own emulator
	VENV=$(VENV) scripts/test-foundation.sh molecule

test-foundation: venv webapp-dist dataplane-deps ## foundation pytest (bad input, audit, your own network, inventories) on its own emulator
	VENV=$(VENV) scripts/test-foundation.sh pytest

.PHONY: test-webapp
test-webapp: venv system-deps ## Web app: SQLite, MariaDB, metadata stand-ins, Chromium, schemathesis
	VENV=$(VENV) scripts/test-webapp.sh

.PHONY: test-spread
test-spread: venv system-deps ## instance_spread against real HAProxy + backends
	VENV=$(VENV) scripts/test-spread.sh

.PHONY: test-stress
test-stress: venv system-deps ## stress role on localhost
	VENV=$(VENV) scripts/test-stress.sh

.PHONY: test-fleet
test-fleet: venv webapp-dist system-deps ## fleet pytest: user data, bad input
	VENV=$(VENV) scripts/test-fleet.sh

.PHONY: test-dataplane
test-dataplane: venv webapp-dist dataplane-deps ## Local data plane: emulator fixes, HAProxy + app processes serving the fleet
	VENV=$(VENV) scripts/test-dataplane.sh

.PHONY: test-scale
test-scale: venv webapp-dist dataplane-deps ## Scale-out under load on the data plane, time-compressed (target tracking, stress in an instance)
	VENV=$(VENV) scripts/test-scale.sh

.PHONY: test-ecs
test-ecs: venv ## molecule ecs_ha scenario + ECS tests
	VENV=$(VENV) scripts/test-ecs.sh

.PHONY: test-awx
test-awx: venv webapp-dist dataplane-deps ## AWX: surveys, config lint, ansible-builder create, jobs through ansible-runner
	VENV=$(VENV) scripts/test-awx.sh

# The second line in CI: its own venv (built by a make of its own, so `make test` needs no flag).
.PHONY: test-ansible14
test-ansible14: venv webapp-dist dataplane-deps ## ansible 14 lane: galaxy-importer, offline install, sanity, units, site.yml
	$(MAKE) --no-print-directory ANSIBLE_LINE=14 VENV=$(VENV_14) venv
	VENV=$(VENV_14) scripts/test-ansible14.sh

# The gates of `make test`; a new suite is one word in one of the two lists.
# TEST_ALONE run one by one at normal priority: they measure CPU load or request and health-check
# timing, and need the machine to themselves. TEST_SHARED compete for the CPU but measure no time:
# TEST_JOBS at a time beside them at idle priority, longest first, and the alone lane takes those
# still waiting once its own gates are done. Every gate runs even when another fails (as make -k),
# and scripts/test-gates.sh ends with a table of each gate's time, CPU and result.
TEST_JOBS ?= 2
TEST_SHARED := test-ansible14 test-foundation test-molecule test-awx test-ecs test-fleet lint test-spread test-webapp units sanity \
	changelog-lint
TEST_ALONE := test-dataplane test-scale test-stress

# What several gates need is built first, once (two gates building the same thing at once race);
# the ansible 14 venv, which one gate uses, is built by that gate.
.PHONY: test
test: venv system-deps dataplane-deps webapp-dist ## Everything CI runs, with a time per gate at the end
	MAKE="$(MAKE)" scripts/test-gates.sh --jobs $(TEST_JOBS) $(TEST_SHARED) --alone $(TEST_ALONE)

# ---------------------------------------------------------------- benchmarks (not part of make test)
.PHONY: bench-webapp bench-spread bench-stress bench-converge bench
bench-webapp: venv ## Flask dev server vs gunicorn under wrk
	$(BIN)/python bench/webapp_bench.py

bench-spread: venv ## instance_spread vs a curl loop vs wrk through HAProxy
	$(BIN)/python bench/spread_bench.py

bench-stress: venv ## requested vs measured CPU load
	$(BIN)/python bench/stress_bench.py

bench-converge: venv webapp-dist ## site.yml vs the naive playbook (../shared/baselines): converge, re-run, teardown ratios
	$(BIN)/python bench/converge_bench.py

bench: bench-webapp bench-spread bench-stress bench-converge ## All benchmarks

.PHONY: clean
clean: local-aws-stop ## Remove local state, builds and test output (keeps .venv)
	rm -rf $(STATE) .build .pytest_cache .ansible tests/output

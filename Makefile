# Thin aliases over cargo and the binaries. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
# One target directory for everything; the end-to-end tests find the built
# binaries here (see ARCHITECTURE.md, "Finding the binaries").
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# The one way end-to-end tests and timectl find timed (cluster::binaries).
export TIMECOIN_BIN_DIR ?= $(CARGO_TARGET_DIR)/debug
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)
# Test builds carry `timed --byzantine` (end-to-end tests of the defences);
# release builds (`make demo`, `make bench`, the dist profile) never do. Every
# cargo command of the test path passes the same features, so nothing is
# rebuilt without them in between.
TEST_FEATURES := --features timed/byzantine

.PHONY: help build pytools test lint fmt fuzz sim bench soak chaos bench-fns demo doc clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## build every crate and binary (dev profile, optimised dependencies)
	$(CARGO) build --workspace --all-targets $(TEST_FEATURES)

# Python tools some end-to-end tests run (packaging/test-requirements.txt,
# exact versions): a venv in the target dir, made again only when it is
# missing or the requirements file changed. The tests get its interpreter as
# TIMECOIN_PYTHON; TIMECOIN_REQUIRE_TOOLS=1 makes a missing tool a failure
# instead of a skip (a plain `cargo test` skips those checks).
PYTHON ?= python3
PYENV := $(CARGO_TARGET_DIR)/pyenv
PYENV_STAMP := $(PYENV)/.requirements-installed
TEST_TOOLS := TIMECOIN_PYTHON=$(abspath $(PYENV))/bin/python TIMECOIN_REQUIRE_TOOLS=1

$(PYENV_STAMP): packaging/test-requirements.txt
	rm -rf $(PYENV)
	$(PYTHON) -m venv $(PYENV)
	$(PYENV)/bin/pip install --disable-pip-version-check --quiet -r packaging/test-requirements.txt
	touch $@

pytools: $(PYENV_STAMP) ## install the tests' Python tools in target/pyenv (make test does it)

test: build $(PYENV_STAMP) ## run the whole test suite (what CI runs)
ifeq ($(NEXTEST),yes)
	$(TEST_TOOLS) $(CARGO) nextest run --workspace --no-fail-fast $(TEST_FEATURES)
else
	$(TEST_TOOLS) $(CARGO) test --workspace --no-fail-fast $(TEST_FEATURES)
endif
	$(CARGO) test --workspace --doc $(TEST_FEATURES)

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

FUZZ_CASES ?= 1000000
fuzz: ## long run of the decoder fuzz loops (FUZZ_CASES per target)
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p protocol --test fuzz_decoders -- --nocapture
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p net --test fuzz_wire -- --nocapture

SEEDS ?= 100000
sim: ## long simulator campaign: SEEDS per mode (100000); SIM_SEED=n SIM_MODE=safety|liveness make sim replays one
	SEEDS=$(SEEDS) $(CARGO) test --release -p consensus --features sim --test sim_seeds -- --nocapture

RELEASE := $(CARGO_TARGET_DIR)/release
DEMO_DIR ?= .timecluster
demo: ## build (release), start 5 masternodes in .timecluster, run 1,000 tx/s for 30 s, print the summary
	$(CARGO) build --release -p timed -p timectl -p loadgen
	TIMECOIN_BIN_DIR=$(RELEASE) $(RELEASE)/timectl up --nodes 5 --dir $(DEMO_DIR)
	TIMECOIN_BIN_DIR=$(RELEASE) $(RELEASE)/loadgen --dir $(DEMO_DIR) --tps 1000 --duration 30s --out $(CARGO_TARGET_DIR)/demo
	@echo
	@echo "report: $(CARGO_TARGET_DIR)/demo/report.html (summary.json, CSVs and histograms beside it)"
	@echo "the cluster is still up:  $(RELEASE)/timectl status --dir $(DEMO_DIR)   (logs, kill, partition: timectl --help)"
	@echo "stop it with:             $(RELEASE)/timectl down --dir $(DEMO_DIR)"

bench: ## cluster benchmark: fresh 5 nodes, timectl up time, 1,000 tx/s for 60 s, saturation sweep, RSS, verify rate
	$(CARGO) build --release -p timed -p timectl -p loadgen -p examples --bins --examples
	TIMECOIN_BIN_DIR=$(RELEASE) $(RELEASE)/examples/cluster_bench --out $(CARGO_TARGET_DIR)/bench

SOAK_DURATION ?= 10m
soak: ## memory soak: fresh 5 nodes, 1,000 tx/s for SOAK_DURATION (10m), RSS per node per minute and its slope
	$(CARGO) build --release -p timed -p timectl -p loadgen -p examples --bins --examples
	TIMECOIN_BIN_DIR=$(RELEASE) $(RELEASE)/examples/soak --duration $(SOAK_DURATION) --out $(CARGO_TARGET_DIR)/soak

CHAOS_TPS ?= 500
chaos: ## reliability table: every fault scenario on a fresh 5-node cluster under CHAOS_TPS (500) tx/s (Byzantine rows: the test build at 200), judged by loadgen verify
	$(CARGO) build --release -p timed -p timectl -p loadgen -p examples --bins --examples
	$(CARGO) build -p timed -p timectl $(TEST_FEATURES)
	TIMECOIN_BIN_DIR=$(RELEASE) $(RELEASE)/examples/chaos --tps $(CHAOS_TPS) --out $(CARGO_TARGET_DIR)/chaos --test-build $(CARGO_TARGET_DIR)/debug

bench-fns: ## criterion benchmarks of the hot functions (signatures, encodings, certificates, commitment)
	$(CARGO) bench -p protocol

doc: ## build the API docs
	$(CARGO) doc --workspace --no-deps

clean: ## remove build output
	$(CARGO) clean

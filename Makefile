# Thin aliases over cargo and the binaries. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
# One target directory for everything; the end-to-end tests find the built
# binaries here (see ARCHITECTURE.md, "Finding the binaries").
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# The one way end-to-end tests and timectl find timed (cluster::binaries).
export TIMECOIN_BIN_DIR ?= $(CARGO_TARGET_DIR)/debug
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: help build test lint fmt fuzz sim bench demo doc clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## build every crate and binary (dev profile, optimised dependencies)
	$(CARGO) build --workspace --all-targets

test: build ## run the whole test suite (what CI runs)
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-fail-fast
else
	$(CARGO) test --workspace --no-fail-fast
endif
	$(CARGO) test --workspace --doc

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

FUZZ_CASES ?= 1000000
fuzz: ## long run of the decoder fuzz loops (FUZZ_CASES per target)
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p protocol --test fuzz_decoders -- --nocapture
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p net --test fuzz_wire -- --nocapture

SEEDS ?= 100000
sim: ## long simulator campaign: SEEDS per mode (100000); SIM_SEED=n SIM_MODE=safety|liveness make sim replays one
	SEEDS=$(SEEDS) $(CARGO) test --release -p consensus --test sim_seeds -- --nocapture

demo: ## build, start a 5-node cluster, run 1,000 tx/s for 30 s
	@echo "make demo: not yet available (needs timectl and loadgen, issues [7/8] and [8/8])"

bench: ## cluster benchmark table (criterion benches: cargo bench -p protocol)
	$(CARGO) bench -p protocol

doc: ## build the API docs
	$(CARGO) doc --workspace --no-deps

clean: ## remove build output
	$(CARGO) clean

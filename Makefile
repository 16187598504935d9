# tessera — developer entry points. The work is done by scripts/*.sh so each
# step can also be run by hand; see scripts/services.sh for how PostgreSQL and
# Redis are found or started and which database is used.
#
#   make run         start PostgreSQL + Redis if needed, migrate, serve on http://127.0.0.1:8000
#   make test        same set-up with a fresh tessera_test database, then cargo test
#   make bench       load harness (scripts/bench.sh)
#   make fmt / lint  rustfmt / rustfmt --check + clippy -D warnings
#   make clean-dev   stop the servers started under .dev/ and delete .dev/
#
# Extra arguments: make test ARGS=login   (test-name filter), make run ARGS='--config my.toml'

SHELL := /bin/bash

# Build cache outside the clone so a fresh CI clone reuses earlier builds.
ifeq ($(strip $(HOME)),)
CARGO_TARGET_DIR ?= $(CURDIR)/target
else
CARGO_TARGET_DIR ?= $(HOME)/.cache/tessera/target
endif
export CARGO_TARGET_DIR

ARGS ?=

.PHONY: run test bench fmt lint clean-dev

run:
	@scripts/run.sh $(ARGS)

test:
	@scripts/test.sh $(ARGS)

bench:
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh $(ARGS); \
	else echo "error: scripts/bench.sh not found; the load harness is not in this checkout" >&2; exit 1; fi

fmt:
	@. scripts/common.sh && require_rust && cargo fmt --all

lint:
	@scripts/lint.sh

clean-dev:
	@scripts/services.sh clean

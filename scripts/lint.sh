#!/usr/bin/env bash
# scripts/lint.sh — `make lint`: formatting check and clippy with warnings denied.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

require_rust
cargo fmt --version >/dev/null 2>&1 || die "rustfmt not installed; install it with: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || die "clippy not installed; install it with: rustup component add clippy"

cargo fmt --all -- --check || die "code is not formatted; run: make fmt"
cargo clippy --workspace --all-targets -- -D warnings || die "clippy found problems (see above)"

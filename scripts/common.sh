# shellcheck shell=bash
# scripts/common.sh — helpers shared by the other scripts. Source it; don't run it.
# Every failure goes through `die`: one line on stderr, non-zero exit, no trace.

TESSERA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV_DIR="$TESSERA_ROOT/.dev"

# Builds live outside the clone so a fresh CI clone reuses them (same default as
# the Makefile, so running a script directly shares the cache with `make`).
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  CARGO_TARGET_DIR="${HOME:-$TESSERA_ROOT}/.cache/tessera/target"
fi
case "$CARGO_TARGET_DIR" in /*) ;; *) CARGO_TARGET_DIR="$TESSERA_ROOT/$CARGO_TARGET_DIR" ;; esac
export CARGO_TARGET_DIR

log()  { printf 'tessera: %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# True when we may install Debian packages without asking anyone.
can_apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  is_root && return 0
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null
}

# apt_install WHAT PKG... — install packages non-interactively, or die with the
# command the user should run. Output goes to .dev/apt.log, not the terminal.
apt_install() {
  local what=$1; shift
  local sudo=""
  if ! can_apt_install; then
    if command -v apt-get >/dev/null 2>&1; then
      die "$what not found; install it with: sudo apt-get install -y $*"
    fi
    die "$what not found; install it ($*) with your system's package manager"
  fi
  is_root || sudo="sudo -n"
  mkdir -p "$DEV_DIR"
  log "$what not found; installing Debian package(s): $* (log: .dev/apt.log)"
  { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  } >>"$DEV_DIR/apt.log" 2>&1 9>&- ||   # 9>&-: services started by postinst must not keep our lock
    die "installing $* with apt-get failed (see .dev/apt.log); install it with: sudo apt-get install -y $*"
}

# Rust toolchain + a C linker (rustc links through `cc`).
require_rust() {
  local cargo_bin="${CARGO_HOME:-${HOME:-/root}/.cargo}/bin"
  # rustup puts cargo in ~/.cargo/bin, which non-login shells (CI) often lack.
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$cargo_bin/cargo" ]; then
    PATH="$cargo_bin:$PATH"; export PATH
  fi
  command -v cargo >/dev/null 2>&1 ||
    die "cargo (the Rust toolchain) not found; install it with rustup (the official Rust installer), then open a new shell"
  command -v cc >/dev/null 2>&1 || apt_install "a C linker (cc, needed by rustc)" gcc libc6-dev
  # webauthn-rs (passkeys) links OpenSSL, found through pkg-config.
  { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; } ||
    apt_install "OpenSSL's headers (needed by webauthn-rs)" pkg-config libssl-dev
}

# Path of a built tessera binary: tessera_bin debug|release
tessera_bin() {
  local bin="$CARGO_TARGET_DIR/$1/tessera"
  [ -x "$bin" ] || die "built binary not found at $bin (did cargo build succeed?)"
  printf '%s\n' "$bin"
}

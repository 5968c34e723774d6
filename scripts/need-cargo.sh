#!/usr/bin/env bash
# Says what to do when the Rust toolchain that building anklume needs is
# missing or too old (Debian 12's own cargo is too old). Used by the Makefile's
# build targets; exit status 0 when cargo is there and recent enough.
#
#   scripts/need-cargo.sh [CARGO]     default: cargo on the PATH
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${1:-cargo}
NEED=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)

help() {
    cat >&2 <<MSG
Building anklume needs a Rust toolchain >= $NEED (Debian 12's cargo is too old).
  With internet access:  curl --proto '=https' -sSf https://sh.rustup.rs > rustup-init.sh && sh rustup-init.sh -y && . "\$HOME/.cargo/env"
  Without it:            see docs/quickstart.md, step 1 ("Without internet access").
  Or skip the build:     make install on a machine that has cargo, then copy the
                         anklume-* binaries to this machine's /usr/local/bin.
MSG
    exit 1
}

if ! command -v "$CARGO" >/dev/null 2>&1; then
    echo "ERROR: $CARGO not found." >&2
    help
fi
have=$("$CARGO" --version 2>/dev/null | awk '{print $2}')
have=${have%%-*}
if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$NEED" "$have" | sort -V | head -1)" != "$NEED" ]; then
    echo "ERROR: $CARGO is version ${have:-unknown}; anklume needs >= $NEED." >&2
    help
fi

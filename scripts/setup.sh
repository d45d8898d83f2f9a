#!/usr/bin/env bash
# Install everything the build and the tests need, idempotently: Debian chromium + chromedriver,
# the wasm32 target, wasm-bindgen-cli at exactly the Cargo.lock version, npm dev dependencies.
# Skips whatever is already there. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

say() { echo "=== setup: $*"; }

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "installing Debian chromium + chromium-driver"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# Never install Debian's binaryen: its wasm-opt 108 silently breaks wasm-bindgen output (toolchain.md).

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

WB_VER=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WB_VER" ]; then
  say "installing wasm-bindgen-cli $WB_VER (takes a few minutes once)"
  # --locked fails on this registry mirror (its lock names a crate version the index lacks).
  cargo install -q wasm-bindgen-cli --version "$WB_VER" --locked 2>/dev/null \
    || cargo install -q wasm-bindgen-cli --version "$WB_VER"
fi

if [ ! -d node_modules/binaryen ] || [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/@electric-sql/client ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "ready (chromium $(chromium --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1), $(wasm-bindgen --version))"

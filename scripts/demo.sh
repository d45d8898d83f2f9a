#!/usr/bin/env bash
# The demo: build the package and eddy-server, then serve the demo schema and www/ on
# http://127.0.0.1:3000 (set EDDY_LISTEN to change). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-wasm.sh
cargo build --release -p eddy-server --quiet
exec target/release/eddy-server --schema server/examples/todo.sql --data :memory: --listen "${EDDY_LISTEN:-127.0.0.1:3000}"

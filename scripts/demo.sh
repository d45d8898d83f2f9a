#!/usr/bin/env bash
# The demo: build the package and eddy-server, start the server with the demo schema on
# 127.0.0.1:3000 and the demo page on http://127.0.0.1:8080/www/ (a live todos table; open it in two
# tabs, add and toggle todos, switch transports). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-wasm.sh
cargo build --release -p eddy-server --quiet
target/release/eddy-server --schema server/examples/todo.sql --data "${EDDY_DATA:-:memory:}" --listen 127.0.0.1:3000 &
server=$!
trap 'kill $server 2>/dev/null' EXIT INT TERM
echo "open http://127.0.0.1:8080/www/  (server: http://127.0.0.1:3000)"
node www/serve.mjs

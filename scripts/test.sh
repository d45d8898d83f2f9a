#!/usr/bin/env bash
# Every test, from a fresh machine: install what is missing, lint, native tests, the wasm build,
# browser tests in headless Chromium, node tests of the built package. The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export EDDY_FUZZ_CASES="${EDDY_FUZZ_CASES:-2000}"
t0=$SECONDS
step() { echo; echo "=== [$((SECONDS - t0))s] $*"; }

step "setup"
bash scripts/setup.sh

step "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --quiet -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "native tests (core, fuzz suites, eddy-server over real sockets)"
cargo test --workspace --quiet

step "wasm package"
bash scripts/build-wasm.sh

step "wasm tests (wasm-bindgen-test: headless Chromium, page and dedicated worker, and the ws module in node)"
cargo test --target wasm32-unknown-unknown --test browser
cargo test --target wasm32-unknown-unknown --test browser_storage   # the storage contract on IndexedDB and OPFS, in a worker
cargo test --target wasm32-unknown-unknown --lib web::ws

cargo build -p eddy-server --quiet

step "end-to-end: the built package in headless Chromium against eddy-server"
node --test --test-concurrency=1 tests/e2e/

step "package: npm pack contents, and the tarball in a zero-config Vite app (build + dev server)"
node --test --test-concurrency=1 tests/pack/ tests/vite/

step "node tests: the built package, and the official @electric-sql/client against eddy-server"
node --test tests/node/ tests/conformance/

step "all tests passed in $((SECONDS - t0))s"

#!/usr/bin/env bash
# Build the browser package: release wasm32 build -> wasm-bindgen (web + bundler) -> wasm-opt -O3
# (npm binaryen) -> size report, then the TypeScript facade (tsc). Output in pkg/ and js/dist/
# (not in git).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile wasm-release --target wasm32-unknown-unknown --lib --quiet
WASM=target/wasm32-unknown-unknown/wasm-release/eddy.wasm
rm -rf pkg
# EDDY_WASM_NAMES=1 keeps function names (for bench/ingest/profile.mjs).
# Speed over size: -O3 (with the profile's opt-level 3) syncs ~1.7x faster than -Oz/opt-level z
# for ~30 KB more gzip (bench/ingest). EDDY_WASM_OPT=-Oz builds the small variant.
OPT="${EDDY_WASM_OPT:--O3}"
for target in web bundler; do
  wasm-bindgen "$WASM" --out-dir "pkg/$target" --target "$target" --weak-refs
  node_modules/.bin/wasm-opt "$OPT" ${EDDY_WASM_NAMES:+-g} --enable-bulk-memory --enable-reference-types \
    "pkg/$target/eddy_bg.wasm" -o "pkg/$target/eddy_bg.wasm"
done
echo '{"type":"module"}' > pkg/web/package.json
raw=$(stat -c%s pkg/web/eddy_bg.wasm)
gz=$(gzip -9c pkg/web/eddy_bg.wasm | wc -c)
jsgz=$(gzip -9c pkg/web/eddy.js | wc -c)
printf 'wasm size: %s B raw, %s B gzip; glue js: %s B gzip\n' "$raw" "$gz" "$jsgz"
# The TypeScript facade (js/src -> js/dist, ESM + .d.ts), which imports pkg/web.
node_modules/.bin/tsc -p js/tsconfig.json
jsdist=$(cat js/dist/*.js | gzip -9c | wc -c)
printf 'facade js: %s B gzip; total wasm+glue+facade: %s B gzip\n' "$jsdist" "$((gz + jsgz + jsdist))"

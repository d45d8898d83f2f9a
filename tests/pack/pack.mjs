// `npm pack` of the repo into a directory, shared by the pack and Vite tests. Packs with
// --ignore-scripts: the test run has built pkg/web and js/dist already (scripts/build-wasm.sh;
// `prepack` does the same build for a plain `npm pack`), and the tests must not rebuild.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const run = promisify(execFile)

/** Fail early, with the fix, when the package has not been built. */
export function assertBuilt() {
  for (const f of ['pkg/web/eddy_bg.wasm', 'pkg/web/eddy.js', 'js/dist/index.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run bash scripts/build-wasm.sh first`)
  }
}

/**
 * Pack the repo into `dest`. Resolves with npm's own report: `{ filename, size, unpackedSize,
 * files: [{ path, size }] }` plus `tarball` (its absolute path).
 */
export async function pack(dest) {
  assertBuilt()
  const { stdout } = await run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', dest],
    { cwd: ROOT, timeout: 120_000, maxBuffer: 64 << 20 },
  )
  const [report] = JSON.parse(stdout)
  return { ...report, tarball: join(dest, report.filename) }
}

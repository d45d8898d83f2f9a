// Where does an initial sync spend its time? Runs one eddy (or official) initial sync of the
// `todos` shape under the CDP sampling profiler and prints the functions with the most self time
// (wasm functions keep their names when the package is built with EDDY_WASM_NAMES=1).
// Not a test. Needs data in the server: use with a server that bench/ingest/run.mjs filled, or
// pass rows to load here.
//
//   EDDY_WASM_NAMES=1 bash scripts/build-wasm.sh && cargo build --release -p eddy-server
//   node bench/ingest/profile.mjs [rows=100000] [eddy|electric] [top=40]
import { join } from 'node:path'
import { startEddyServer, startStatic, browser, ROOT } from '../../tests/e2e/harness.mjs'
import { COLUMNS, loadTodos } from '../data.mjs'

const N = Number(process.argv[2] ?? 100_000)
const WHICH = process.argv[3] ?? 'eddy'
const TOP = Number(process.argv[4] ?? 40)
const BIN = process.env.EDDY_SERVER_BIN ?? join(ROOT, 'target/release/eddy-server')
const server = await startEddyServer(['--max-body-bytes', String(64_000_000)], { bin: BIN })
const files = await startStatic()
const b = await browser()
try {
  await loadTodos(server.url, N)
  for (let run = 0; run < 2; run++) {
    const ctx = await b.newContext()
    const page = await ctx.newPage()
    await page.goto(`${files.url}/tests/e2e/page.html`)
    await page.waitForFunction(() => window.eddyReady === true || window.eddyError)
    const cdp = await ctx.newCDPSession(page)
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
    await cdp.send('Profiler.start')
    const ms = await page.evaluate(async ({ server, which, columns }) => {
      const lib = which === 'eddy' ? window.eddy : window.electric
      const t0 = performance.now()
      const stream = new lib.ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos', columns }, subscribe: false })
      const rows = await new lib.Shape(stream).rows
      window.kept = rows
      return performance.now() - t0
    }, { server: server.url, which: WHICH, columns: COLUMNS })
    const { profile } = await cdp.send('Profiler.stop')
    await ctx.close()
    if (run === 0) continue // warm-up
    const dt = new Map()
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    for (let i = 0; i < profile.samples.length; i++) {
      const n = byId.get(profile.samples[i])
      const f = n.callFrame
      const name = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}`
      dt.set(name, (dt.get(name) ?? 0) + profile.timeDeltas[i] / 1000)
    }
    const total = [...dt.values()].reduce((a, b) => a + b, 0)
    console.log(`${WHICH}: ${N} rows in ${ms.toFixed(0)} ms; profiled ${total.toFixed(0)} ms`)
    for (const [name, t] of [...dt].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
      console.log(`${t.toFixed(1).padStart(8)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${name}`)
    }
  }
} finally {
  await b.close()
  server.stop?.()
  files.stop?.()
  process.exit(0)
}

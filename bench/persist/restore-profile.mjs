// Where does an offline reload of a persisted shape spend its time? Syncs `rows` todos into a
// persisted stream (IndexedDB or OPFS) once, then relaunches Chromium on the same profile with
// the server unreachable and times stream + persister + Shape until `persister.ready` (the stored rows are in
// `shape.currentRows`) under the CDP sampling
// profiler, printing the functions with the most self time (wasm functions keep their names
// when the package is built with EDDY_WASM_NAMES=1). Not a test.
//
//   EDDY_WASM_NAMES=1 bash scripts/build-wasm.sh && cargo build -p eddy-server
//   node bench/persist/restore-profile.mjs [rows=100000] [indexeddb|opfs] [top=30, 0: no profiler] [runs=3]
import { persistEnv, waitFor } from '../../tests/e2e/persist-support.mjs'
import { loadTodos } from '../data.mjs'

const N = Number(process.argv[2] ?? 100_000)
const STORAGE = process.argv[3] ?? 'indexeddb'
const TOP = Number(process.argv[4] ?? 30)
const RUNS = Number(process.argv[5] ?? 3)

const env = await persistEnv({ serverArgs: ['--max-body-bytes', String(64_000_000)] })
try {
  await loadTodos(env.server, N)
  let b = await env.browser()
  await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: STORAGE })
  await waitFor(async () => (await b.page.evaluate(() => window.view())).stored.rows === N, 120_000, 'stored rows')
  await b.page.evaluate(() => window.persister.flush())
  await b.close()
  env.block()
  const times = []
  for (let run = 0; run < RUNS; run++) {
    b = await env.browser()
    const cdp = TOP > 0 ? await b.context.newCDPSession(b.page) : null
    if (cdp) {
      await cdp.send('Profiler.enable')
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
      await cdp.send('Profiler.start')
    }
    const r = await b.page.evaluate(async ({ server, storage }) => {
      const { ShapeStream, Shape, ShapeStreamPersister } = window.eddy
      const t0 = performance.now()
      const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' } })
      const persister = new ShapeStreamPersister(stream, { storage, namespace: 'ns1' })
      const shape = new Shape(persister)
      await persister.ready
      const ms = performance.now() - t0
      const rows = shape.currentRows.length
      window.kept = [stream, persister, shape]
      return { ms, rows, status: persister.status }
    }, { server: env.server, storage: STORAGE })
    const profile = cdp ? (await cdp.send('Profiler.stop')).profile : { nodes: [], samples: [] }
    await b.close()
    if (r.rows !== N) throw new Error(`restored ${r.rows} rows, expected ${N}`)
    times.push(r.ms)
    const dt = new Map()
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    for (let i = 0; i < profile.samples.length; i++) {
      const f = byId.get(profile.samples[i]).callFrame
      const name = `${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}`
      dt.set(name, (dt.get(name) ?? 0) + profile.timeDeltas[i] / 1000)
    }
    const total = [...dt.values()].reduce((a, b) => a + b, 0)
    console.log(`run ${run}: ${STORAGE}, ${N} rows ready in ${r.ms.toFixed(0)} ms (${r.status}); profiled ${total.toFixed(0)} ms`)
    if (run < RUNS - 1) continue
    for (const [name, t] of [...dt].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
      console.log(`${t.toFixed(1).padStart(8)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${name}`)
    }
  }
  times.sort((a, b) => a - b)
  console.log(`${STORAGE}: ready in min ${times[0].toFixed(0)} ms, median ${times[times.length >> 1].toFixed(0)} ms over ${RUNS} reloads (profiler ${TOP > 0 ? 'on' : 'off'})`)
} finally {
  await env.close()
  process.exit(0)
}

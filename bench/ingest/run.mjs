// Ingest benchmark (not a test; prints a table): time from `new ShapeStream` to the resolved
// `await new Shape(stream).rows` for eddy-sync and the official @electric-sql/client, each in a
// fresh browser context (no shared HTTP cache) against the same eddy-server, alternating runs.
//   node tests/e2e/bench-ingest.mjs [rows=20000] [runs=5]
import { setup, closeBrowser } from './harness.mjs'

const N = Number(process.argv[2] ?? 20000)
const RUNS = Number(process.argv[3] ?? 5)
const t = await setup({ serverArgs: ['--max-ops', String(N), '--max-body-bytes', String(500_000_000)] })
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
try {
  const ops = []
  for (let i = 1; i <= N; i++) {
    ops.push({ op: 'insert', table: 'todos', row: {
      id: i, title: `todo number ${i}`, done: i % 2 === 0, priority: i % 7, score: i / 3, meta: { n: i }, tags: [i, i + 1],
    } })
  }
  await t.tx(ops)
  const times = { raw: [], eddy: [], electric: [] }
  for (let run = 0; run <= RUNS; run++) {
    for (const which of ['raw', 'eddy', 'electric']) {
      const ctx = await t.page.context().browser().newContext()
      const p = await ctx.newPage()
      await p.goto(t.page.url())
      await p.waitForFunction(() => window.eddyReady === true)
      const ms = await p.evaluate(async ({ server, which }) => {
        const t0 = performance.now()
        if (which === 'raw') {
          // The network alone: every chunk of the initial sync, bodies read, nothing parsed.
          let url = `${server}/v1/shape?table=todos&offset=-1`
          for (;;) {
            const r = await fetch(url)
            await r.arrayBuffer()
            if (r.headers.get('electric-up-to-date') !== null) break
            url = `${server}/v1/shape?table=todos&offset=${r.headers.get('electric-offset')}&handle=${r.headers.get('electric-handle')}`
          }
          return performance.now() - t0
        }
        const lib = which === 'eddy' ? window.eddy : window.electric
        const s = new lib.ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, subscribe: false })
        const rows = await new lib.Shape(s).rows
        if (rows.length === 0) throw new Error('no rows')
        return performance.now() - t0
      }, { server: t.server, which })
      if (run > 0) times[which].push(ms) // run 0 warms the server's snapshot and the JIT
      await ctx.close()
    }
  }
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]))
  console.log(`rows: ${N}, runs: ${RUNS} (median ms, fresh context each)`)
  console.log(`| network only | eddy-sync | @electric-sql/client | eddy / official |`)
  console.log(`|---:|---:|---:|---:|`)
  console.log(`| ${m.raw.toFixed(0)} | ${m.eddy.toFixed(0)} | ${m.electric.toFixed(0)} | ${(m.eddy / m.electric).toFixed(2)} |`)
} finally {
  await t.close()
  await closeBrowser()
}

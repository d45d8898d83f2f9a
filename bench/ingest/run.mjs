// Ingest benchmark (not a test; prints tables, asserts nothing about time). Same headless Chromium,
// same release eddy-server, the built package (pkg/web + js/dist) next to the official
// @electric-sql/client 1.5.28, loaded by tests/e2e/page.html.
//
// 1. Initial sync: from `new ShapeStream` to the resolved `await new Shape(stream).rows` of a
//    (eddy twice: the default, and `fetchInWorker: true`: bodies received in its fetch worker)
//    `rows`-row shape with 6 typed columns (int8, text, bool, float8, jsonb, timestamptz). Each run
//    opens a fresh browser context per client (no shared HTTP cache), the order alternates per run,
//    run 0 is a warm-up. Reports time (median, min), MB/s of response bodies, the JS heap the page
//    retains after the sync (CDP Runtime.getHeapUsage after HeapProfiler.collectGarbage, minus the
//    same reading before), eddy's wasm linear memory (the module's exported `memory`), and the
//    main thread's long tasks during the sync (PerformanceObserver 'longtask': their total and the
//    longest, i.e. how long the page could not respond to input).
// 2. Commit → callback latency per transport (long-poll, SSE, and eddy's WebSocket): `commits` single-row commits, each a
//    POST /v1/tx sent from the page; the time from just before the POST to the stream subscriber's
//    callback seeing that row, both read from the page's `performance.now()`.
//
//   cargo build --release -p eddy-server && bash scripts/build-wasm.sh
//   node bench/ingest/run.mjs [rows=100000] [runs=5] [commits=200]
// (EDDY_SERVER_BIN=target/debug/eddy-server to try it without the release build.)
import { join } from 'node:path'
import { startEddyServer, startStatic, browser, closeBrowser, ROOT } from '../../tests/e2e/harness.mjs'
import { COLUMNS, loadTodos } from '../data.mjs'

const N = Number(process.argv[2] ?? 100_000)
const RUNS = Number(process.argv[3] ?? 5)
const COMMITS = Number(process.argv[4] ?? 200)
const LIBS = { eddy: 'eddy-sync', electric: '@electric-sql/client' }

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2
}
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]
const mb = (bytes) => bytes / 1e6
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d))

const BIN = process.env.EDDY_SERVER_BIN ?? join(ROOT, 'target/release/eddy-server')
const server = await startEddyServer(['--max-body-bytes', String(64_000_000)], { bin: BIN })
const files = await startStatic()
const b = await browser()
const pageUrl = `${files.url}/tests/e2e/page.html`


/** A fresh context with the page loaded and a CDP session on it. */
async function freshPage() {
  const ctx = await b.newContext()
  const page = await ctx.newPage()
  await page.goto(pageUrl)
  await page.waitForFunction(() => window.eddyReady === true || window.eddyError, null, { timeout: 20_000 })
  const err = await page.evaluate(() => window.eddyError)
  if (err) throw new Error(`page failed to load: ${err}`)
  const cdp = await ctx.newCDPSession(page)
  return { ctx, page, cdp }
}

async function heapUsed(cdp) {
  await cdp.send('HeapProfiler.collectGarbage')
  return (await cdp.send('Runtime.getHeapUsage')).usedSize
}

/** eddy's wasm linear memory: wasm-bindgen's init returns the (already loaded) exports. */
const wasmBytes = (page) =>
  page.evaluate(async () => (await (await import('/pkg/web/eddy.js')).default()).memory.buffer.byteLength)

try {
  // The data: N rows in transactions of BATCH rows (bench/data.mjs).
  const t0 = Date.now()
  await loadTodos(server.url, N)
  const shapeQuery = `table=todos&columns=${COLUMNS.join(',')}`
  // The bytes a client downloads: the same chunk sequence both clients request.
  let bytes = 0
  let responses = 0
  let url = `${server.url}/v1/shape?${shapeQuery}&offset=-1`
  for (;;) {
    const r = await fetch(url)
    bytes += (await r.arrayBuffer()).byteLength
    responses++
    if (r.headers.get('electric-up-to-date') !== null) break
    url = `${server.url}/v1/shape?${shapeQuery}&offset=${r.headers.get('electric-offset')}&handle=${r.headers.get('electric-handle')}`
  }
  console.log(`data: ${N} rows loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s; shape = ${mb(bytes).toFixed(2)} MB of JSON in ${responses} responses`)

  const res = { raw: [], eddy: [], eddyWorker: [], electric: [] }
  for (let run = 0; run <= RUNS; run++) {
    const order = run % 2 === 0 ? ['raw', 'eddy', 'electric', 'eddyWorker'] : ['raw', 'eddyWorker', 'electric', 'eddy']
    for (const which of order) {
      const { ctx, page, cdp } = await freshPage()
      const heap0 = await heapUsed(cdp)
      const isEddy = which === 'eddy' || which === 'eddyWorker'
      const wasm0 = isEddy ? await wasmBytes(page) : undefined
      const { ms, longSum, longMax } = await page.evaluate(async ({ server, which, columns }) => {
        // Main-thread long tasks (> 50 ms) during the sync: how long the page could not respond.
        const long = []
        const po = new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration)))
        po.observe({ type: 'longtask' })
        const done = (ms) => {
          long.push(...po.takeRecords().map((e) => e.duration))
          po.disconnect()
          return { ms, longSum: long.reduce((a, b) => a + b, 0), longMax: Math.max(0, ...long) }
        }
        const t0 = performance.now()
        if (which === 'raw') {
          // The network alone: every chunk of the initial sync, bodies read, nothing parsed.
          const q = `table=todos&columns=${columns.join(',')}`
          let url = `${server}/v1/shape?${q}&offset=-1`
          for (;;) {
            const r = await fetch(url)
            await r.arrayBuffer()
            if (r.headers.get('electric-up-to-date') !== null) break
            url = `${server}/v1/shape?${q}&offset=${r.headers.get('electric-offset')}&handle=${r.headers.get('electric-handle')}`
          }
          return done(performance.now() - t0)
        }
        const lib = which === 'electric' ? window.electric : window.eddy
        const stream = new lib.ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos', columns }, subscribe: false, fetchInWorker: which === 'eddyWorker' })
        const shape = new lib.Shape(stream)
        const rows = await shape.rows
        const ms = performance.now() - t0
        window.kept = { shape, rows } // held, so the heap reading counts the materialized rows
        if (rows.length === 0) throw new Error('no rows')
        await new Promise((r) => setTimeout(r, 0)) // let the last long task be reported
        return done(ms)
      }, { server: server.url, which, columns: COLUMNS })
      const n = await page.evaluate(() => window.kept?.rows.length)
      if (which !== 'raw' && n !== N) throw new Error(`${which} synced ${n} rows, expected ${N}`)
      const heap = (await heapUsed(cdp)) - heap0
      const wasm = isEddy ? await wasmBytes(page) : undefined
      if (run > 0) res[which].push({ ms, heap, wasm, wasm0, longSum, longMax }) // run 0 warms the server's snapshot and the JIT
      await ctx.close()
    }
    process.stdout.write(`\rinitial sync: run ${run}/${RUNS}`)
  }
  process.stdout.write('\n')

  const summary = Object.fromEntries(Object.entries(res).map(([k, v]) => {
    const ms = v.map((x) => x.ms)
    return [k, { med: median(ms), min: Math.min(...ms), heap: median(v.map((x) => x.heap)), wasm: v[0].wasm, wasm0: v[0].wasm0, longSum: median(v.map((x) => x.longSum)), longMax: median(v.map((x) => x.longMax)) }]
  }))
  console.log(`\nInitial sync, ${N} rows × 6 columns (int8, text, bool, float8, jsonb, timestamptz), ${mb(bytes).toFixed(1)} MB,`)
  console.log(`${BIN.replace(ROOT, '')}, ${RUNS} runs (+1 warm-up), fresh browser context per run, alternating order`)
  console.log(`| client | median ms | min ms | MB/s (median) | JS heap retained MB | wasm memory MB (at load → after) | main-thread long tasks: total / longest ms |`)
  console.log(`|---|---:|---:|---:|---:|---:|---:|`)
  const row = (name, s) =>
    console.log(`| ${name} | ${fmt(s.med, 0)} | ${fmt(s.min, 0)} | ${fmt(mb(bytes) / (s.med / 1000))} | ${s.heap === undefined ? '–' : fmt(mb(s.heap))} | ${s.wasm === undefined ? '–' : `${fmt(mb(s.wasm0))} → ${fmt(mb(s.wasm))}`} | ${fmt(s.longSum, 0)} / ${fmt(s.longMax, 0)} |`)
  row('network only (fetch, read bodies)', { ...summary.raw, heap: undefined })
  row(LIBS.eddy, summary.eddy)
  row(`${LIBS.eddy}, bodies in its fetch worker (fetchInWorker: true)`, summary.eddyWorker)
  row(LIBS.electric, summary.electric)
  const e = summary.eddy
  const o = summary.electric
  console.log(`| eddy / official | ${fmt(e.med / o.med, 2)} | ${fmt(e.min / o.min, 2)} | ${fmt(o.med / e.med, 2)} | ${fmt(e.heap / o.heap, 2)} (JS) · ${fmt((e.heap + e.wasm - e.wasm0) / o.heap, 2)} (JS + wasm growth) | | ${fmt(e.longSum / o.longSum, 2)} / ${fmt(e.longMax / o.longMax, 2)} |`)

  // Commit → callback latency.
  const lat = {}
  let nextId = 1
  for (const transport of ['long-poll', 'sse', 'websocket']) {
    // The official client has no WebSocket transport: eddy's multiplexed /v1/ws is compared
    // with the official client's best (SSE) below.
    const clients = transport === 'websocket' ? ['eddy'] : transport === 'sse' ? ['electric', 'eddy'] : ['eddy', 'electric']
    for (const which of clients) {
      const { ctx, page } = await freshPage()
      const first = nextId
      nextId += COMMITS
      lat[`${transport}/${which}`] = await page.evaluate(async ({ server, which, transport, commits, first }) => {
        const lib = which === 'eddy' ? window.eddy : window.electric
        const stream = new lib.ShapeStream({
          url: `${server}/v1/shape`,
          params: { table: 'labels' },
          liveSse: transport === 'sse',
          ...(transport === 'websocket' ? { transport: 'websocket' } : {}),
        })
        let waiting
        stream.subscribe((messages) => {
          for (const m of messages) {
            if (waiting && m.headers?.operation === 'insert' && m.value?.name === waiting.name) {
              const t1 = performance.now()
              waiting.resolve(t1)
              waiting = undefined
            }
          }
        })
        const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
        for (let i = 0; !stream.isUpToDate; i++) {
          if (i > 400) throw new Error('no up-to-date')
          await sleep(25)
        }
        await sleep(200) // the live request is parked
        const out = []
        for (let i = 0; i < commits; i++) {
          const id = first + i
          const name = `${which}-${transport}-${id}`
          const seen = new Promise((resolve, reject) => {
            waiting = { name, resolve }
            setTimeout(() => reject(new Error(`${name} not seen in 10 s`)), 10_000)
          })
          const t0 = performance.now()
          // no-cors: a simple POST; the response is not needed, only the commit.
          fetch(`${server}/v1/tx`, {
            method: 'POST',
            mode: 'no-cors',
            body: JSON.stringify({ ops: [{ op: 'insert', table: 'labels', row: { id, name } }] }),
          })
          out.push((await seen) - t0)
          await sleep(10)
        }
        stream.unsubscribeAll()
        return out
      }, { server: server.url, which, transport, commits: COMMITS, first })
      await ctx.close()
    }
  }
  console.log(`\nCommit → subscriber callback, ${COMMITS} single-row commits each (POST /v1/tx from the page, page clock)`)
  console.log(`| transport | client | p50 ms | p99 ms | max ms |`)
  console.log(`|---|---|---:|---:|---:|`)
  for (const transport of ['long-poll', 'sse', 'websocket']) {
    for (const which of ['eddy', 'electric']) {
      const xs = lat[`${transport}/${which}`]
      if (!xs) continue
      console.log(`| ${transport} | ${LIBS[which]} | ${fmt(pct(xs, 0.5))} | ${fmt(pct(xs, 0.99))} | ${fmt(Math.max(...xs))} |`)
    }
    const base = transport === 'websocket' ? 'sse' : transport
    const e50 = pct(lat[`${transport}/eddy`], 0.5)
    const o50 = pct(lat[`${base}/electric`], 0.5)
    const e99 = pct(lat[`${transport}/eddy`], 0.99)
    const o99 = pct(lat[`${base}/electric`], 0.99)
    console.log(`| ${transport} | eddy / official${base !== transport ? ` (${base})` : ''} | ${fmt(e50 / o50, 2)} | ${fmt(e99 / o99, 2)} | |`)
  }
} finally {
  await closeBrowser()
  await files.close()
  await server.stop()
}

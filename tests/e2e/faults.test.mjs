// Seeded fault-injection runs of eddy-sync in headless Chromium (issue #4): eddy-server with
// `--faults <seed>:<rate>` answers a seeded fraction of GET /v1/shape with 503 + retry-after,
// 500, a cut before the body, half a body then a cut, a delay, or a rotated handle (409), while
// writes land. Every schedule (seed × transport) is an eddy ShapeStream + Shape (onError → {} to
// keep going) that must converge to an independent JS model of the writes
// (tests/conformance/model.mjs), and must have met at least one fault. Several seeds run at once,
// each with its own server, all their streams in one page. EDDY_FAULT_SCHEDULES=N (default 50)
// sets the number of schedules.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { closeBrowser, setup, startEddyServer } from './harness.mjs'
import { SCHEMA } from '../conformance/harness.mjs'
import { rng, modelWriter, expected } from '../conformance/model.mjs'
import { plain, sleep, waitFor, websocketAvailable } from './interop-support.mjs'

after(closeBrowser)

const SCHEDULES = Number(process.env.EDDY_FAULT_SCHEDULES ?? 50)
const TRANSPORTS = ['long-poll', 'sse']
const RATE = 0.3
const SEEDS_PER_GROUP = 5
const seeds = Math.ceil(SCHEDULES / TRANSPORTS.length)
const PARAMS = { table: 'items', columns: ['id', 'title', 'n'] }
/** Fault kinds seen across all schedules (`x-eddy-fault`, or `cut` for a failed request). */
const seen = new Set()

const dir = mkdtempSync(join(tmpdir(), 'eddy-faults-'))
const schemaFile = join(dir, 'schema.sql')
writeFileSync(schemaFile, SCHEMA)
after(() => rmSync(dir, { recursive: true, force: true }))

/** One server with faults, its write model and its writer. */
async function faultyServer(seed) {
  const server = await startEddyServer([
    '--schema', schemaFile, '--faults', `${seed}:${RATE}`, '--chunk-bytes', '700',
    '--long-poll-ms', '1000', '--sse-timeout-ms', '1500', '--sse-keepalive-ms', '200',
  ])
  const rand = rng(1000 + seed)
  const model = new Map()
  const write = modelWriter(server.url, rand, model)
  const want = () => plain(Object.fromEntries(expected(model, () => true)))
  return { seed, server, write, want }
}

/** Run seeds [from, to) × transports: returns the per-schedule fault counts. */
async function group(from, to, transports) {
  const t = await setup()
  const servers = []
  try {
    for (let seed = from; seed < to; seed++) servers.push(await faultyServer(seed))
    // Per-schedule observations, keyed by the `sched` custom param (ignored by the server).
    const faults = new Map()
    const note = (url, kind) => {
      const m = /[?&]sched=([^&]+)/.exec(url)
      if (!m) return
      const k = decodeURIComponent(m[1])
      faults.set(k, [...(faults.get(k) ?? []), kind])
      seen.add(kind)
    }
    t.page.on('response', (r) => {
      const kind = r.headers()['x-eddy-fault']
      if (kind) note(r.url(), kind)
    })
    t.page.on('requestfailed', (r) => {
      // ERR_ABORTED is the client's own cancel (SSE end, pause); anything else is a cut.
      if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? '')) note(r.url(), 'cut')
    })
    await Promise.all(servers.map((s) => s.write(25)))
    const schedules = servers.flatMap((s) => transports.map((transport) => ({ sched: `${s.seed}-${transport}`, url: s.server.url, transport })))
    await t.page.evaluate((schedules) => {
      const { ShapeStream, Shape } = window.eddy
      window.safe = (v) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)))
      window.runs = {}
      for (const { sched, url, transport } of schedules) {
        const ac = new AbortController()
        const stream = new ShapeStream({
          url: `${url}/v1/shape`,
          params: { table: 'items', columns: ['id', 'title', 'n'], sched },
          transport,
          signal: ac.signal,
          backoffOptions: { initialDelay: 20, maxDelay: 200 },
          onError: (e) => {
            window.runs[sched].errors.push(e.code)
            return {}
          },
        })
        window.runs[sched] = { ac, stream, shape: new Shape(stream), errors: [] }
      }
    }, schedules)
    // Writes land while the streams sync; then keep going until every schedule met a fault.
    for (let i = 0; i < 5; i++) {
      await Promise.all(servers.map((s) => s.write(5)))
      await sleep(100)
    }
    await waitFor(() => schedules.every(({ sched }) => faults.get(sched)?.length > 0), 30_000, 'a fault in every schedule')
      .catch(() => {})
    await Promise.all(servers.map((s) => s.write(3)))
    for (const { sched, url, transport } of schedules) {
      const want = servers.find((s) => s.server.url === url).want()
      const read = () => t.page.evaluate((sched) => window.safe(Object.fromEntries(window.runs[sched].shape.currentValue)), sched)
      let got
      try {
        await waitFor(async () => isDeepStrictEqual((got = await read()), want), 30_000, `${sched} to converge`)
      } catch {
        const info = await t.page.evaluate((sched) => ({ status: window.runs[sched].stream.status, errors: window.runs[sched].errors }), sched)
        assert.deepEqual(got, want, `schedule ${sched} (${transport}) converges to the model; ${JSON.stringify(info)}, faults ${faults.get(sched)}`)
      }
    }
    for (const { sched } of schedules) {
      assert.ok(faults.get(sched)?.length > 0, `schedule ${sched}: faults were injected`)
    }
    await t.page.evaluate(() => Object.values(window.runs).forEach((r) => r.ac.abort()))
    return faults
  } finally {
    await t.close()
    await Promise.all(servers.map((s) => s.server.stop()))
  }
}

for (let from = 1; from <= seeds; from += SEEDS_PER_GROUP) {
  const to = Math.min(seeds + 1, from + SEEDS_PER_GROUP)
  test(`fault schedules: seeds ${from}..${to - 1} × ${TRANSPORTS.join(', ')} converge to the write model (rate ${RATE})`, { timeout: 120_000 }, async () => {
    const faults = await group(from, to, TRANSPORTS)
    if (process.env.EDDY_FAULT_DEBUG) for (const [k, v] of faults) console.error(k, v.join(','))
  })
}

// No websocket schedules: eddy-server's fault layer covers GET /v1/shape only, so a WebSocket sees no
// injected faults (socket drops are covered by websocket.test.mjs).

test('the schedules above met every kind of fault', () => {
  for (const kind of ['unavailable', 'internal', 'delay', 'rotate', 'cut']) {
    assert.ok(seen.has(kind), `fault kind ${kind} occurred (seen: ${[...seen].join(', ')})`)
  }
})

// End-to-end: `transport: 'websocket'` — the streams of a page share one WebSocket to
// eddy-server's /v1/ws (server/PROTOCOL-WS.md): initial sync and live changes, several shapes on
// one socket, 409 refetch, a socket cut mid-stream and a server restart (reconnect with backoff
// and resume by offset), and the HTTP fallback when the upgrade is refused or never completes.
// Headless Chromium against a real eddy-server; the page's WebSocket is wrapped to count
// connections and record the frames sent.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { writeFileSync } from 'node:fs'
import { setup, until, closeBrowser, startProxy, startEddyServer } from './harness.mjs'
import { SCHEMA } from '../conformance/harness.mjs'
import { rng, modelWriter, expected } from '../conformance/model.mjs'
import { plain } from './interop-support.mjs'

after(closeBrowser)

const T = { timeout: 60_000 }
const row = (id, extra = {}) => ({ id, title: `todo ${id}`, done: false, ...extra })
const insert = (r, table = 'todos') => ({ op: 'insert', table, row: r })

function sortRows(rows) {
  return rows.sort((a, b) => (BigInt(String(a.id).replace(/n$/, '')) < BigInt(String(b.id).replace(/n$/, '')) ? -1 : 1))
}

/** What the official client materialises for this shape right now (a fresh browser context). */
async function officialRows(page, server, params = { table: 'todos' }) {
  const context = await page.context().browser().newContext()
  const fresh = await context.newPage()
  await fresh.goto(page.url())
  await fresh.waitForFunction(() => window.eddyReady === true, null, { timeout: 15_000 })
  const rows = await fresh.evaluate(async ({ server, params }) => {
    const { ShapeStream, Shape } = window.electric
    const stream = new ShapeStream({ url: `${server}/v1/shape`, params, subscribe: false })
    const rows = await new Shape(stream).rows
    stream.unsubscribeAll()
    return window.plain(rows)
  }, { server, params })
  await context.close()
  return sortRows(rows)
}

/**
 * Wrap the page's WebSocket: count sockets, closes, record every frame sent and every received
 * frame that is not a batch (`wsRecv`: `{ url, type, status }`).
 */
async function wrapWebSocket(page) {
  await page.evaluate(() => {
    window.wsOpened = []
    window.wsClosed = 0
    window.wsSent = []
    window.wsRecv = []
    window.wsSockets = []
    const Native = window.WebSocket
    window.WebSocket = class extends Native {
      constructor(url, protocols) {
        super(url, protocols)
        window.wsOpened.push(url)
        window.wsSockets.push(this)
        this.addEventListener('close', () => window.wsClosed++)
        this.addEventListener('message', (e) => {
          const f = JSON.parse(e.data)
          if (f.type !== 'batch') window.wsRecv.push({ url, type: f.type, status: f.status })
          else window.wsBatches = (window.wsBatches ?? 0) + 1
        })
      }
      send(data) {
        window.wsSent.push(JSON.parse(data))
        super.send(data)
      }
    }
  })
}

/**
 * Start a websocket stream + Shape under `name`; records notifications and messages. Waits (up
 * to `wait` ms) for the first rows.
 */
async function startShape(page, url, name = 'main', params = { table: 'todos' }, more = {}, wait = 10_000) {
  await page.evaluate(
    ({ url, name, params, more }) => {
      const { ShapeStream, Shape } = window.eddy
      window.s ??= {}
      const ac = new AbortController()
      const rec = { errors: [], messages: [], inserts: [], notifications: [], ac }
      rec.stream = new ShapeStream({
        url, params, signal: ac.signal, transport: 'websocket',
        backoffOptions: { initialDelay: 50, maxDelay: 500, multiplier: 2 },
        onError: (e) => { rec.errors.push({ code: e.code, status: e.status }) },
        ...more,
      })
      rec.stream.subscribe((msgs) => {
        for (const m of msgs) {
          rec.messages.push(m.headers.operation ?? m.headers.control)
          if (m.headers.operation === 'insert') rec.inserts.push(m.key)
        }
      })
      rec.shape = new Shape(rec.stream)
      rec.shape.subscribe(({ rows }) => rec.notifications.push(rows.length))
      window.s[name] = rec
    },
    { url, name, params, more },
  )
  await until(page, (name) => window.s[name].shape.rows.then(() => true), name, wait)
}

const pageRows = (page, name = 'main') =>
  page.evaluate(async (name) => window.plain(await window.s[name].shape.rows), name).then(sortRows)

/**
 * A TCP proxy (HTTP and WebSocket alike) whose connections can all be cut at once. `target`: a
 * base URL, or a function giving the current one (a restarted server has a new port).
 */
async function tcpProxy(target) {
  const sockets = new Set()
  const server = createServer((client) => {
    const { hostname, port } = new URL(typeof target === 'function' ? target() : target)
    const upstream = connect(Number(port), hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut: () => {
      for (const s of sockets) s.destroy()
    },
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((r) => server.close(r))
    },
  }
}

test('websocket: initial sync and live insert/update/delete equal the server rows, no HTTP', T, async () => {
  const t = await setup()
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, `${t.server}/v1/shape`)
    assert.equal((await pageRows(t.page)).length, 2)
    await until(t.page, () => window.s.main.stream.status === 'live')
    await t.tx([insert(row(3, { title: 'new' }))])
    await until(t.page, () => window.s.main.shape.currentRows.length === 3)
    await t.tx([{ op: 'update', table: 'todos', row: { id: 1, title: 'changed', done: true } }])
    await until(t.page, () => window.s.main.shape.currentValue.get('"public"."todos"/"1"')?.title === 'changed')
    await t.tx([{ op: 'delete', table: 'todos', row: { id: 2 } }])
    await until(t.page, () => window.s.main.shape.currentRows.length === 2)
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
    const seen = await t.page.evaluate(() => ({
      m: window.s.main.messages, errors: window.s.main.errors, opened: window.wsOpened, sent: window.wsSent,
    }))
    for (const op of ['insert', 'update', 'delete', 'up-to-date']) assert.ok(seen.m.includes(op), `saw ${op}`)
    assert.deepEqual(seen.errors, [])
    assert.equal(seen.opened.length, 1)
    assert.match(seen.opened[0], /^ws:\/\/127\.0\.0\.1:\d+\/v1\/ws$/)
    assert.deepEqual(seen.sent.filter((f) => f.type === 'subscribe').map((f) => [f.table, f.offset]), [['todos', '-1']])
    assert.deepEqual(t.shapeRequests, [], 'no HTTP shape request')
  } finally {
    await t.close()
  }
})

test('websocket: three shapes share one socket; the last abort closes it', T, async () => {
  const t = await setup()
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1)), insert(row(2, { done: true })), insert({ id: 1, name: 'red' }, 'labels')])
    const url = `${t.server}/v1/shape`
    const shapes = {
      all: { table: 'todos' },
      done: { table: 'todos', where: 'done = $1', params: { 1: 'true' } },
      labels: { table: 'labels' },
    }
    for (const [name, params] of Object.entries(shapes)) await startShape(t.page, url, name, params)
    await until(t.page, () => ['all', 'done', 'labels'].every((n) => window.s[n].stream.status === 'live'))
    await t.tx([insert(row(3, { done: true })), insert({ id: 2, name: 'blue' }, 'labels')])
    await until(t.page, () =>
      window.s.all.shape.currentRows.length === 3 &&
      window.s.done.shape.currentRows.length === 2 &&
      window.s.labels.shape.currentRows.length === 2)
    for (const [name, params] of Object.entries(shapes)) {
      assert.deepEqual(await pageRows(t.page, name), await officialRows(t.page, t.server, params), name)
    }
    const state = await t.page.evaluate(() => ({ opened: window.wsOpened.length, sent: window.wsSent }))
    assert.equal(state.opened, 1, 'one socket for three shapes')
    assert.equal(state.sent.filter((f) => f.type === 'subscribe').length, 3)
    assert.deepEqual(t.shapeRequests, [])
    // Aborting two streams unsubscribes them; the third keeps the socket; the last closes it.
    await t.page.evaluate(() => { window.s.all.ac.abort(); window.s.done.ac.abort() })
    await until(t.page, () => window.wsSent.filter((f) => f.type === 'unsubscribe').length === 2)
    assert.equal(await t.page.evaluate(() => window.wsClosed), 0)
    await t.tx([insert({ id: 3, name: 'green' }, 'labels')])
    await until(t.page, () => window.s.labels.shape.currentRows.length === 3)
    await t.page.evaluate(() => window.s.labels.ac.abort())
    await until(t.page, () => window.wsClosed === 1)
  } finally {
    await t.close()
  }
})

test('websocket: 409 after DELETE /v1/shape refetches, no empty flash', T, async () => {
  const t = await setup()
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, `${t.server}/v1/shape`)
    await until(t.page, () => window.s.main.stream.status === 'live')
    const firstHandle = await t.page.evaluate(() => window.s.main.stream.shapeHandle)
    const del = await fetch(`${t.server}/v1/shape?table=todos`, { method: 'DELETE' })
    assert.ok(del.status < 300, `DELETE answered ${del.status}`)
    await t.tx([insert(row(3))])
    await until(t.page, () =>
      window.s.main.messages.includes('must-refetch') && window.s.main.shape.currentRows.length === 3)
    const after = await t.page.evaluate(() => ({
      notes: window.s.main.notifications, handle: window.s.main.stream.shapeHandle,
      errors: window.s.main.errors, sent: window.wsSent, opened: window.wsOpened.length,
    }))
    assert.notEqual(after.handle, firstHandle)
    assert.ok(after.notes.every((n) => n > 0), `no empty notification: ${JSON.stringify(after.notes)}`)
    assert.equal(after.notes.at(-1), 3)
    assert.deepEqual(after.errors, [])
    assert.deepEqual(after.sent.filter((f) => f.type === 'subscribe').map((f) => f.offset), ['-1', '-1'])
    assert.equal(after.opened, 1, 'the refetch reuses the socket')
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await t.close()
  }
})

test('websocket: a socket cut mid-stream reconnects and resumes by offset, nothing lost or repeated', T, async () => {
  const t = await setup()
  const proxy = await tcpProxy(t.server)
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, `${proxy.url}/v1/shape`)
    await until(t.page, () => window.s.main.stream.status === 'live')
    await t.tx([insert(row(3))])
    await until(t.page, () => window.s.main.shape.currentRows.length === 3)
    const handle = await t.page.evaluate(() => window.s.main.stream.shapeHandle)
    proxy.cut()
    // Written while the socket is down or reconnecting.
    await t.tx([insert(row(4)), { op: 'update', table: 'todos', row: { id: 1, title: 'while cut' } }])
    await t.tx([{ op: 'delete', table: 'todos', row: { id: 2 } }, insert(row(5))])
    await until(t.page, () => window.wsOpened.length >= 2 && window.s.main.shape.currentRows.length === 4, null, 20_000)
    await until(t.page, () => window.s.main.shape.currentValue.get('"public"."todos"/"1"')?.title === 'while cut')
    await t.tx([insert(row(6))])
    await until(t.page, () => window.s.main.shape.currentRows.length === 5)
    const s = await t.page.evaluate(() => ({
      inserts: window.s.main.inserts, messages: window.s.main.messages, sent: window.wsSent,
      handle: window.s.main.stream.shapeHandle, errors: window.s.main.errors,
    }))
    assert.deepEqual([...s.inserts].sort(), [1, 2, 3, 4, 5, 6].map((i) => `"public"."todos"/"${i}"`).sort(),
      'every insert delivered exactly once')
    assert.ok(!s.messages.includes('must-refetch'))
    assert.equal(s.handle, handle)
    const subs = s.sent.filter((f) => f.type === 'subscribe')
    assert.ok(subs.length >= 2, 'resubscribed after the cut')
    assert.equal(subs[0].offset, '-1')
    assert.notEqual(subs.at(-1).offset, '-1', 'resumed by offset')
    assert.equal(subs.at(-1).handle, handle)
    assert.deepEqual(t.shapeRequests, [], 'no HTTP fallback after a cut of a working socket')
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await proxy.close()
    await t.close()
  }
})

test('websocket: a proxy refusing upgrades falls back to HTTP for good and converges', T, async () => {
  const t = await setup()
  const proxy = await startProxy(() => t.server)
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, `${proxy.url}/v1/shape`)
    await until(t.page, () => window.s.main.shape.currentRows.length === 2)
    await t.tx([insert(row(3)), { op: 'update', table: 'todos', row: { id: 1, title: 'over http' } }])
    await until(t.page, () => window.s.main.shape.currentRows.length === 3)
    await until(t.page, () => window.s.main.shape.currentValue.get('"public"."todos"/"1"')?.title === 'over http')
    // A second websocket stream of the page goes straight to HTTP (no new socket attempt).
    await startShape(t.page, `${proxy.url}/v1/shape`, 'second')
    // (It may first replay the HTTP-cached chunks of the first stream, then catch up live.)
    await until(t.page, () => window.s.second.shape.currentRows.length === 3)
    assert.deepEqual(await pageRows(t.page, 'second'), await pageRows(t.page))
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
    const s = await t.page.evaluate(() => ({ opened: window.wsOpened.length, errors: window.s.main.errors }))
    assert.equal(s.opened, 1)
    assert.deepEqual(s.errors, [])
    assert.ok(t.shapeRequests.some((u) => u.includes('live=true')), 'long-polls over HTTP')
    assert.ok(t.consoleLines.some((l) => l.startsWith('warning:') && l.includes('could not be opened')),
      t.consoleLines.join('\n'))
  } finally {
    await proxy.close()
    await t.close()
  }
})

test('websocket: a stream with request headers uses HTTP (a WebSocket cannot send them), others keep the socket', T, async () => {
  const t = await setup()
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1))])
    await startShape(t.page, `${t.server}/v1/shape`, 'plain')
    await startShape(t.page, `${t.server}/v1/shape`, 'headed', { table: 'todos' }, { headers: { traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01' } })
    await t.tx([insert(row(2))])
    await until(t.page, () => window.s.plain.shape.currentRows.length === 2 && window.s.headed.shape.currentRows.length === 2)
    const s = await t.page.evaluate(() => ({ opened: window.wsOpened.length, subs: window.wsSent.filter((f) => f.type === 'subscribe').length }))
    assert.equal(s.opened, 1)
    assert.equal(s.subs, 1, 'only the stream without headers subscribed')
    assert.ok(t.shapeRequests.length > 0 && t.shapeRequests.every((u) => u.includes('table=todos')))
    assert.ok(t.consoleLines.some((l) => l.startsWith('warning:') && l.includes('cannot send request headers')))
  } finally {
    await t.close()
  }
})

test('websocket: the live watchdog firing on an idle shape costs no resubscribe and loses nothing', T, async () => {
  const t = await setup()
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1))])
    await startShape(t.page, `${t.server}/v1/shape`, 'main', { table: 'todos' }, { liveRequestTimeoutMs: 200 })
    await until(t.page, () => window.s.main.stream.status === 'live')
    // Idle for several watchdog periods: the server sends nothing meanwhile.
    await new Promise((r) => setTimeout(r, 1200))
    await t.tx([insert(row(2))])
    await until(t.page, () => window.s.main.shape.currentRows.length === 2)
    const s = await t.page.evaluate(() => ({
      sent: window.wsSent, opened: window.wsOpened.length, errors: window.s.main.errors,
      status: window.s.main.stream.status,
    }))
    assert.equal(s.sent.filter((f) => f.type === 'subscribe').length, 1, 'no resubscribe on watchdog re-issues')
    assert.equal(s.opened, 1)
    assert.deepEqual(s.errors, [])
    assert.equal(s.status, 'live')
    assert.deepEqual(t.shapeRequests, [])
  } finally {
    await t.close()
  }
})

/** Make the page report `visibilityState` `v` and fire `visibilitychange`. */
const setVisibility = (page, v) => page.evaluate((v) => {
  window.vis = v
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => window.vis })
  document.dispatchEvent(new Event('visibilitychange'))
}, v)

/** A recorded socket and a websocket stream + Shape on `todos` (one row), live. */
async function liveOneRow(t) {
  await wrapWebSocket(t.page)
  await t.tx([insert(row(1))])
  await startShape(t.page, `${t.server}/v1/shape`)
  await until(t.page, () => window.s.main.stream.status === 'live')
}

test('websocket: hidden pauses, changes made meanwhile arrive on visible, from the same subscription', T, async () => {
  const t = await setup()
  try {
    await liveOneRow(t)
    await setVisibility(t.page, 'hidden')
    assert.equal(await t.page.evaluate(() => window.s.main.stream.status), 'paused')
    await t.tx([insert(row(2)), insert(row(3))])
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(await t.page.evaluate(() => window.s.main.shape.currentRows.length), 1, 'nothing applied while hidden')
    await setVisibility(t.page, 'visible')
    await until(t.page, () => window.s.main.shape.currentRows.length === 3 && window.s.main.stream.status === 'live')
    const s = await t.page.evaluate(() => ({ sent: window.wsSent, inserts: window.s.main.inserts }))
    assert.equal(s.sent.filter((f) => f.type === 'subscribe').length, 1)
    assert.equal(s.inserts.length, 3)
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await t.close()
  }
})

test('websocket: a stream hidden for long drops its subscription past the frame bound, then resumes by offset', T, async () => {
  const t = await setup()
  try {
    await liveOneRow(t)
    await setVisibility(t.page, 'hidden')
    const before = await t.page.evaluate(() => window.wsBatches ?? 0)
    // 300 transactions while hidden: more frames than a subscription keeps for a paused stream.
    for (let i = 2; i <= 301; i++) await t.tx([insert(row(i))])
    await until(t.page, () => window.wsSent.some((f) => f.type === 'unsubscribe'), 10_000)
    const hidden = await t.page.evaluate(() => ({ rows: window.s.main.shape.currentRows.length, batches: window.wsBatches }))
    assert.equal(hidden.rows, 1, 'nothing applied while hidden')
    assert.ok(hidden.batches - before >= 256, `${hidden.batches - before} frames while hidden`)
    await setVisibility(t.page, 'visible')
    await until(t.page, () => window.s.main.shape.currentRows.length === 301 && window.s.main.stream.status === 'live', 15_000)
    const s = await t.page.evaluate(() => ({ sent: window.wsSent, errors: window.s.main.errors }))
    assert.equal(s.sent.filter((f) => f.type === 'subscribe').length, 2, 'subscribed again on visible')
    assert.deepEqual(s.errors, [])
    assert.deepEqual(t.shapeRequests, [], 'no HTTP shape request')
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await t.close()
  }
})

test('websocket: an error frame (400, bad where) is a FetchError with the server fields, not retried', T, async () => {
  const t = await setup()
  try {
    await wrapWebSocket(t.page)
    await t.page.evaluate((server) => {
      const { ShapeStream } = window.eddy
      window.errs = []
      window.bad = new ShapeStream({
        url: `${server}/v1/shape`, params: { table: 'todos', where: 'nope = 1' }, transport: 'websocket',
        onError: (e) => { window.errs.push({ cls: e.constructor.name, code: e.code, status: e.status, json: e.json }) },
      })
      window.bad.subscribe(() => {})
    }, t.server)
    await until(t.page, () => window.errs.length === 1)
    await new Promise((r) => setTimeout(r, 300))
    const s = await t.page.evaluate(() => ({ errs: window.errs, sent: window.wsSent, status: window.bad.status }))
    assert.equal(s.errs.length, 1)
    assert.equal(s.errs[0].cls, 'FetchError')
    assert.equal(s.errs[0].status, 400)
    assert.equal(s.errs[0].code, 'EDDY_FETCH_HTTP')
    assert.deepEqual(s.errs[0].json?.errors?.where, ['unknown column "nope" in table todos'])
    assert.equal(s.sent.filter((f) => f.type === 'subscribe').length, 1, 'not retried')
    assert.equal(s.status, 'error')
  } finally {
    await t.close()
  }
})

test('websocket: the server restarts (socket dropped): reconnects with backoff while it is down, resumes by offset, nothing lost or repeated', T, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-ws-'))
  const data = join(dir, 'data.sqlite')
  let server = await startEddyServer(['--data', data])
  let down = false
  // While the server is down the proxy refuses every connection (connects to a closed port).
  const proxy = await tcpProxy(() => (down ? 'http://127.0.0.1:1' : server.url))
  const t = await setup()
  const tx = async (ops) => {
    const r = await fetch(`${server.url}/v1/tx`, { method: 'POST', body: JSON.stringify({ ops }) })
    assert.equal(r.status, 200, await r.text())
  }
  try {
    await wrapWebSocket(t.page)
    await tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, `${proxy.url}/v1/shape`, 'main', { table: 'todos' }, {
      backoffOptions: { initialDelay: 100, maxDelay: 400, multiplier: 2 },
    })
    await until(t.page, () => window.s.main.stream.status === 'live')
    await tx([insert(row(3))])
    await until(t.page, () => window.s.main.shape.currentRows.length === 3)
    const handle = await t.page.evaluate(() => window.s.main.stream.shapeHandle)
    down = true
    await server.stop()
    proxy.cut()
    // Down for a while: the client keeps trying new sockets, with backoff (not a hot loop).
    await until(t.page, () => window.wsOpened.length >= 3, null, 10_000)
    await new Promise((r) => setTimeout(r, 1000))
    const attemptsWhileDown = await t.page.evaluate(() => window.wsOpened.length - 1)
    server = await startEddyServer(['--data', data])
    down = false
    await tx([insert(row(4)), { op: 'update', table: 'todos', row: { id: 1, title: 'after restart' } }])
    await tx([{ op: 'delete', table: 'todos', row: { id: 2 } }])
    await until(t.page, () => window.s.main.shape.currentRows.length === 3 &&
      window.s.main.shape.currentValue.get('"public"."todos"/"1"')?.title === 'after restart', null, 20_000)
    await tx([insert(row(5))])
    await until(t.page, () => window.s.main.shape.currentRows.length === 4)
    const s = await t.page.evaluate(() => ({
      inserts: window.s.main.inserts, messages: window.s.main.messages, sent: window.wsSent,
      handle: window.s.main.stream.shapeHandle, status: window.s.main.stream.status,
    }))
    assert.ok(attemptsWhileDown < 40, `reconnects back off (${attemptsWhileDown} sockets tried while down)`)
    assert.deepEqual([...s.inserts].sort(), [1, 2, 3, 4, 5].map((i) => `"public"."todos"/"${i}"`).sort(),
      'every insert delivered exactly once')
    assert.ok(!s.messages.includes('must-refetch'), 'the persisted handle is still valid: no refetch')
    assert.equal(s.handle, handle)
    assert.equal(s.status, 'live')
    const subs = s.sent.filter((f) => f.type === 'subscribe')
    assert.equal(subs[0].offset, '-1')
    assert.ok(subs.length >= 2, 'resubscribed after the restart')
    assert.notEqual(subs.at(-1).offset, '-1', 'resumed by offset')
    assert.equal(subs.at(-1).handle, handle)
    assert.deepEqual(t.shapeRequests, [], 'a socket that worked before is retried, not given up for HTTP')
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, server.url))
  } finally {
    await t.close()
    await proxy.close()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('websocket: a proxy that never completes the upgrade: after the connect timeout, HTTP for good, converges', T, async () => {
  const t = await setup()
  const hung = new Set()
  // Plain HTTP is forwarded; an upgrade request is accepted and then left unanswered.
  const proxy = createHttpServer(async (req, res) => {
    const r = await fetch(t.server + req.url, { method: req.method, headers: { accept: '*/*' } }).catch(() => null)
    if (!r) return res.writeHead(502).end()
    const headers = Object.fromEntries(r.headers)
    for (const h of ['content-length', 'transfer-encoding', 'content-encoding']) delete headers[h]
    res.writeHead(r.status, headers).end(Buffer.from(await r.arrayBuffer()))
  })
  proxy.on('upgrade', (_req, socket) => hung.add(socket))
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${proxy.address().port}/v1/shape`
  try {
    await wrapWebSocket(t.page)
    await t.tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, url, 'main', { table: 'todos' }, {}, 20_000)
    assert.equal(hung.size, 1, 'the upgrade request reached the proxy and hung')
    assert.equal((await pageRows(t.page)).length, 2)
    await t.tx([insert(row(3))])
    await until(t.page, () => window.s.main.shape.currentRows.length === 3)
    const s = await t.page.evaluate(() => ({ opened: window.wsOpened.length, closed: window.wsClosed, errors: window.s.main.errors }))
    assert.equal(s.opened, 1, 'one attempt, then HTTP')
    assert.equal(s.closed, 1, 'the hung socket was closed')
    assert.deepEqual(s.errors, [])
    assert.ok(t.shapeRequests.some((u) => u.includes('live=true')), 'long-polls over HTTP')
    assert.ok(t.consoleLines.some((l) => l.startsWith('warning:') && l.includes('could not be opened')),
      t.consoleLines.join('\n'))
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    for (const s of hung) s.destroy()
    proxy.closeAllConnections()
    await new Promise((r) => proxy.close(r))
    await t.close()
  }
})

test('websocket: seeded socket faults (--faults: cuts, 503/500 error frames, delays, rotated handles) while writes land: every stream converges to the write model', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-ws-faults-'))
  const schema = join(dir, 'schema.sql')
  writeFileSync(schema, SCHEMA)
  const runs = []
  const t = await setup()
  try {
    for (const seed of [11, 12, 13, 14]) {
      const server = await startEddyServer([
        '--schema', schema, '--faults', `${seed}:0.3`, '--chunk-bytes', '700', '--long-poll-ms', '1000',
      ])
      const rand = rng(2000 + seed)
      const model = new Map()
      const write = modelWriter(server.url, rand, model)
      runs.push({ seed, server, write, want: () => plain(Object.fromEntries(expected(model, () => true))) })
    }
    await wrapWebSocket(t.page)
    await Promise.all(runs.map((r) => r.write(25)))
    await t.page.evaluate((runs) => {
      const { ShapeStream, Shape } = window.eddy
      window.safe = (v) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)))
      window.runs = {}
      for (const { seed, url } of runs) {
        const ac = new AbortController()
        const stream = new ShapeStream({
          url: `${url}/v1/shape`, params: { table: 'items', columns: ['id', 'title', 'n'] }, transport: 'websocket',
          signal: ac.signal, backoffOptions: { initialDelay: 20, maxDelay: 200 },
          onError: (e) => { window.runs[seed].errors.push(e.code); return {} },
        })
        window.runs[seed] = { ac, stream, shape: new Shape(stream), errors: [] }
      }
    }, runs.map((r) => ({ seed: r.seed, url: r.server.url })))
    // What each schedule met, from its socket URL: reconnects (cuts) and non-batch frames.
    const met = () => t.page.evaluate((runs) => Object.fromEntries(runs.map(({ seed, port }) => {
      const mine = (u) => u.includes(`:${port}/`)
      return [seed, {
        sockets: window.wsOpened.filter(mine).length,
        errors: window.wsRecv.filter((f) => mine(f.url) && f.type === 'error').map((f) => f.status),
        refetch: window.wsRecv.filter((f) => mine(f.url) && f.type === 'must-refetch').length,
      }]
    })), runs.map((r) => ({ seed: r.seed, port: new URL(r.server.url).port })))
    const faulted = (m) => m.sockets > 1 || m.errors.length > 0 || m.refetch > 0
    // Writes land while the streams sync; keep writing until every schedule met a visible fault.
    for (let i = 0; i < 40; i++) {
      await Promise.all(runs.map((r) => r.write(3)))
      await new Promise((r) => setTimeout(r, 100))
      if (i >= 4 && Object.values(await met()).every(faulted)) break
    }
    for (const r of runs) {
      const want = r.want()
      const read = () => t.page.evaluate((seed) => window.safe(Object.fromEntries(window.runs[seed].shape.currentValue)), r.seed)
      let got
      const deadline = Date.now() + 30_000
      while (!isDeepStrictEqual((got = await read()), want) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50))
      const info = await t.page.evaluate((seed) => ({ status: window.runs[seed].stream.status, errors: window.runs[seed].errors }), r.seed)
      assert.deepEqual(got, want, `seed ${r.seed} converges to the write model; ${JSON.stringify(info)} ${JSON.stringify((await met())[r.seed])}`)
    }
    const m = await met()
    if (process.env.EDDY_FAULT_DEBUG) console.error(JSON.stringify(m))
    for (const r of runs) assert.ok(faulted(m[r.seed]), `seed ${r.seed} met a fault: ${JSON.stringify(m[r.seed])}`)
    const all = Object.values(m)
    assert.ok(all.some((x) => x.sockets > 1), 'some socket was cut and reopened')
    assert.ok(all.some((x) => x.errors.length > 0), 'some injected error frame')
    assert.deepEqual(t.shapeRequests, [], 'no HTTP fallback: a socket that worked before is retried')
    await t.page.evaluate(() => Object.values(window.runs).forEach((r) => r.ac.abort()))
  } finally {
    await t.close()
    await Promise.all(runs.map((r) => r.server.stop()))
    rmSync(dir, { recursive: true, force: true })
  }
})

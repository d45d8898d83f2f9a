// End-to-end: how ShapeStream fetches. By default on the page; with `fetchInWorker: true` the
// response bodies of catch-up requests are received in the package's fetch worker
// (js/src/worker-fetch.ts), not on the page's main thread, and where no worker can start the
// stream falls back to the page's fetch by itself; `fetchClient` (the official option) replaces
// fetch for every request. Rows are checked against the
// server's own rows. Headless Chromium against a real eddy-server.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, closeBrowser, rawTruth } from './harness.mjs'

after(closeBrowser)

const T = { timeout: 60_000 }
const insert = (id) => ({ op: 'insert', table: 'todos', row: { id, title: `todo ${id} ${'x'.repeat(200)}`, done: id % 3 === 0 } })

async function withRows(t, n) {
  for (let from = 1; from <= n; from += 1000) {
    await t.tx(Array.from({ length: Math.min(1000, n - from + 1) }, (_, i) => insert(from + i)))
  }
  const truth = await rawTruth(t.server, { table: 'todos' })
  return [...truth.rows.values()].map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b))
}

/** In the page: sync the shape once with `options`; ids, and shape requests in the page's own resource timing. */
function syncOnce({ server, options }) {
  return (async () => {
    const { ShapeStream, Shape } = window.eddy
    const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, subscribe: false, ...options })
    const rows = await new Shape(stream).rows
    const onPage = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/shape')).length
    return { ids: rows.map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b)), onPage }
  })()
}

test('fetchInWorker: true receives bodies in the fetch worker (no shape request in the page\'s own resource timing); by default the page fetches; both give the server\'s rows', T, async () => {
  const t = await setup()
  try {
    const want = await withRows(t, 3000) // a body of several hundred KB, in many chunks
    const inWorker = await t.page.evaluate(syncOnce, { server: t.server, options: { fetchInWorker: true } })
    assert.deepEqual(inWorker.ids, want)
    assert.equal(inWorker.onPage, 0, 'the page itself fetched nothing')
    const onPage = await t.page.evaluate(syncOnce, { server: t.server, options: {} })
    assert.deepEqual(onPage.ids, want)
    assert.ok(onPage.onPage >= 1, 'fetched on the page')
    assert.ok(t.shapeRequests.length >= 2, 'the browser saw both streams\' requests')
    assert.deepEqual(t.consoleLines.filter((l) => l.startsWith('pageerror')), [])
  } finally {
    await t.close()
  }
})

test('fetchClient is called for every request with the URL and init (its headers reach the server), even with fetchInWorker: true', T, async () => {
  const t = await setup({ serverArgs: ['--long-poll-ms', '200'] })
  try {
    const want = await withRows(t, 50)
    const seen = []
    t.page.on('request', (r) => {
      if (r.url().includes('/v1/shape')) seen.push(r.headers()['x-eddy-test'])
    })
    const r = await t.page.evaluate(async (server) => {
      const { ShapeStream, Shape } = window.eddy
      const calls = []
      const stream = new ShapeStream({
        url: `${server}/v1/shape`,
        params: { table: 'todos' },
        fetchInWorker: true,
        fetchClient: (input, init) => {
          calls.push({ input, method: init.method, hasSignal: init.signal instanceof AbortSignal })
          const headers = new Headers(init.headers)
          headers.set('x-eddy-test', String(calls.length))
          return fetch(input, { ...init, headers })
        },
      })
      const rows = await new Shape(stream).rows
      await new Promise((res) => setTimeout(res, 700)) // a few live long-polls
      const onPage = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/shape')).length
      return { ids: rows.map((x) => String(x.id)).sort((a, b) => Number(a) - Number(b)), calls, onPage }
    }, t.server)
    assert.deepEqual(r.ids, want)
    assert.ok(r.calls.length >= 3, `${r.calls.length} calls`)
    assert.ok(r.calls.every((c) => c.input.includes('/v1/shape?') && c.method === 'GET' && c.hasSignal), JSON.stringify(r.calls[0]))
    assert.ok(r.onPage >= r.calls.length - 1, 'the client fetched on the page')
    const numbered = seen.filter(Boolean).map(Number)
    assert.ok(numbered.length >= 3 && numbered.includes(1) && numbered.includes(2), `headers seen: ${seen}`)
  } finally {
    await t.close()
  }
})

test('fetchInWorker: true where no Worker can be created (CSP, a cross-origin package): the stream fetches on the page by itself', T, async () => {
  const t = await setup()
  try {
    const want = await withRows(t, 500)
    const r = await t.page.evaluate(async (server) => {
      // Before the package's first stream: every worker construction throws, as under a CSP.
      window.Worker = class {
        constructor() {
          throw new DOMException('blocked by worker-src', 'SecurityError')
        }
      }
      const { ShapeStream, Shape } = window.eddy
      const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, subscribe: false, fetchInWorker: true })
      const rows = await new Shape(stream).rows
      const onPage = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/shape')).length
      return { ids: rows.map((x) => String(x.id)).sort((a, b) => Number(a) - Number(b)), onPage }
    }, t.server)
    assert.deepEqual(r.ids, want)
    assert.ok(r.onPage >= 1, 'fetched on the page')
    assert.deepEqual(t.consoleLines.filter((l) => l.startsWith('pageerror')), [])
  } finally {
    await t.close()
  }
})

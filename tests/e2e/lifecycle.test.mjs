// End-to-end: page lifecycle (hidden/visible, offline/online), per-request header functions,
// onError-driven retries, with the built package in headless
// Chromium against a real eddy-server. Every test starts its own server and page.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, until, closeBrowser, startProxy } from './harness.mjs'

after(closeBrowser)

const T = { timeout: 45_000 }
const insert = (id) => ({ op: 'insert', table: 'todos', row: { id, title: `todo ${id}`, done: false } })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function startShape(page, server, options = {}) {
  await page.evaluate(
    ({ server, options }) => {
      const { ShapeStream, Shape } = window.eddy
      const { counterHeader, ...rest } = options
      if (counterHeader) {
        // A header whose value is an async function, as for a token getter.
        window.n = 0
        rest.headers = {
          [counterHeader]: async () => `00-${String(++window.n).padStart(32, '0')}-0000000000000001-01`,
        }
      }
      window.stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, ...rest })
      window.shape = new Shape(window.stream)
      window.statuses = []
    },
    { server, options },
  )
  await until(page, () => window.shape.rows.then(() => true))
}

/** Wait (bounded) until the node-side request log satisfies `pred`. */
async function waitFor(pred, timeout = 5000) {
  const deadline = Date.now() + timeout
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await sleep(20)
  }
}

test('hidden pauses (live request aborted), visible catches up with a non-live request', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(1)])
    await startShape(t.page, t.server)
    await waitFor(() => t.shapeRequests.some((u) => u.includes('live=true')))
    await t.page.evaluate(() => {
      window.vis = 'hidden'
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => window.vis })
      document.dispatchEvent(new Event('visibilitychange'))
    })
    assert.equal(await t.page.evaluate(() => window.stream.status), 'paused')
    await waitFor(() => t.failedRequests.some((u) => u.includes('live=true')))
    const before = t.shapeRequests.length
    await t.tx([insert(2)])
    await sleep(300)
    assert.equal(t.shapeRequests.length, before, 'no request while hidden')
    assert.equal(await t.page.evaluate(() => window.shape.currentRows.length), 1)
    await t.page.evaluate(() => {
      window.vis = 'visible'
      document.dispatchEvent(new Event('visibilitychange'))
    })
    await until(t.page, () => window.shape.currentRows.length === 2 && window.stream.status === 'live')
    const resumed = t.shapeRequests.slice(before)
    assert.ok(resumed.length >= 1)
    assert.ok(!resumed[0].includes('live=true'), `first request after resume is a catch-up: ${resumed[0]}`)
  } finally {
    await t.close()
  }
})

test('offline pauses, online resumes and catches up', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(1)])
    await startShape(t.page, t.server)
    await until(t.page, () => window.stream.status === 'live')
    await t.page.context().setOffline(true)
    await until(t.page, () => window.stream.status === 'offline')
    assert.equal(await t.page.evaluate(() => window.stream.isPaused()), true)
    await t.tx([insert(2)])
    await t.page.context().setOffline(false)
    await until(t.page, () => window.shape.currentRows.length === 2 && window.stream.status === 'live')
  } finally {
    await t.close()
  }
})

test('header values given as async functions are evaluated for every request', T, async () => {
  const t = await setup()
  try {
    const seen = []
    t.page.on('request', (r) => {
      if (r.url().includes('/v1/shape')) seen.push(r.headers()['traceparent'])
    })
    await t.tx([insert(1)])
    // traceparent is in eddy-server's CORS allow-list.
    await startShape(t.page, t.server, { counterHeader: 'traceparent' })
    await t.tx([insert(2)])
    await until(t.page, () => window.shape.currentRows.length === 2)
    const values = seen.filter(Boolean)
    assert.ok(values.length >= 3, `saw ${values.length} requests`)
    assert.equal(new Set(values).size, values.length, 'a fresh value per request')
    assert.equal(values[0], `00-${'1'.padStart(32, '0')}-0000000000000001-01`)
  } finally {
    await t.close()
  }
})

test('onError returning {} retries from the current offset; returning nothing stops', T, async () => {
  const t = await setup()
  try {
    const codes = await t.page.evaluate(async (server) => {
      const { ShapeStream } = window.eddy
      const codes = []
      const stream = new ShapeStream({
        url: `${server}/v1/shape`,
        params: { table: 'todos', where: 'nope = 1' },
        backoffOptions: { initialDelay: 20, maxDelay: 40 },
        onError: (e) => {
          codes.push(e.code)
          return codes.length < 3 ? {} : undefined
        },
      })
      await new Promise((resolve) => stream.subscribe(() => {}, resolve))
      return { codes, status: stream.status }
    }, t.server)
    assert.deepEqual(codes, { codes: ['EDDY_FETCH_HTTP', 'EDDY_FETCH_HTTP', 'EDDY_FETCH_HTTP'], status: 'error' })
    assert.equal(t.shapeRequests.length, 3)
    assert.ok(t.shapeRequests.every((u) => u.includes('offset=-1')))
  } finally {
    await t.close()
  }
})

test('backpressure: the next request waits until a subscriber promise settles', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(1), insert(2)])
    await t.page.evaluate((server) => {
      const { ShapeStream } = window.eddy
      window.batches = 0
      window.stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' } })
      window.stream.subscribe(() => {
        window.batches++
        return new Promise((resolve) => (window.release = resolve))
      })
    }, t.server)
    await until(t.page, () => window.batches === 1)
    await sleep(300)
    // The next catch-up chunk may already be downloading (prefetched from the first answer's
    // headers, as the official client prefetches); nothing after it is requested.
    const held = t.shapeRequests.length
    assert.ok(held === 1 || held === 2, `held while the subscriber is busy (${held} requests)`)
    assert.ok(!t.shapeRequests.some((u) => u.includes('live=true')), 'no live request while busy')
    await t.page.evaluate(() => window.release())
    await until(t.page, () => window.batches === 2)
    await sleep(300)
    assert.ok(t.shapeRequests.length <= 3, 'the batch after the release holds the stream again')
    await t.page.evaluate(() => window.release())
    await until(t.page, () => window.stream.isUpToDate)
  } finally {
    await t.close()
  }
})

test('SSE that keeps closing early falls back to long-polling after 3 short connections', T, async () => {
  // A proxy in front of eddy-server that forwards everything but ends every SSE body right
  // after its headers (as a misconfigured, buffering proxy would look to the client).
  let upstream
  const proxy = await startProxy(() => upstream, { cutSse: true })
  const t = await setup()
  upstream = t.server
  try {
    await t.tx([insert(1)])
    await startShape(t.page, proxy.url, {
      transport: 'sse',
      backoffOptions: { initialDelay: 10, maxDelay: 20 },
    })
    await waitFor(() => t.shapeRequests.some((u) => u.includes('live=true') && !u.includes('live_sse')), 10_000)
    const sse = t.shapeRequests.filter((u) => u.includes('live_sse=true'))
    assert.equal(sse.length, 3, 'three short SSE connections, then long-poll')
    await t.tx([insert(2)])
    await until(t.page, () => window.shape.currentRows.length === 2)
    assert.equal(t.shapeRequests.filter((u) => u.includes('live_sse=true')).length, 3, 'no SSE after the fallback')
  } finally {
    await t.close()
    await proxy.close()
  }
})

test('a 200 without the protocol headers is a MissingHeadersError, not retried', T, async () => {
  let upstream
  const proxy = await startProxy(() => upstream, { dropHeaders: ['electric-schema'] })
  const t = await setup()
  upstream = t.server
  try {
    const e = await t.page.evaluate(async (server) => {
      const { ShapeStream, MissingHeadersError } = window.eddy
      const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' } })
      const e = await new Promise((resolve) => stream.subscribe(() => {}, resolve))
      return { cls: e.constructor.name, code: e.code, typed: e instanceof MissingHeadersError, msg: e.message, status: stream.status }
    }, proxy.url)
    assert.deepEqual(e, {
      cls: 'MissingHeadersError', code: 'EDDY_FETCH_MISSING_HEADERS', typed: true,
      msg: 'response is missing required headers: electric-schema', status: 'error',
    })
    assert.equal(t.shapeRequests.length, 1)
  } finally {
    await t.close()
    await proxy.close()
  }
})

test('prefetch: the next catch-up chunk downloads while this one is processed, and is not fetched twice', T, async () => {
  // Tiny chunks: the initial sync takes several requests. The subscriber holds the first batch,
  // so the machine cannot ask for chunk 2 yet; the shell has already started it from chunk 1's
  // headers. After the release the machine's request for chunk 2 uses that fetch (no second
  // request for the same URL), and the rows equal the server's.
  const t = await setup({ serverArgs: ['--chunk-bytes', '300'] })
  try {
    await t.tx([1, 2, 3, 4, 5, 6, 7, 8].map(insert))
    await t.page.evaluate((server) => {
      const { ShapeStream, Shape } = window.eddy
      window.batches = 0
      window.stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' } })
      window.shape = new Shape(window.stream)
      window.stream.subscribe(() => {
        window.batches++
        if (window.batches === 1) return new Promise((resolve) => (window.release = resolve))
      })
    }, t.server)
    await until(t.page, () => window.batches === 1)
    await sleep(300)
    assert.equal(t.shapeRequests.length, 2, 'chunk 1 and the prefetched chunk 2')
    const [first, second] = t.shapeRequests.map((u) => new URL(u).searchParams)
    assert.equal(first.get('offset'), '-1')
    assert.notEqual(second.get('offset'), '-1')
    assert.equal(second.get('live'), null, 'a catch-up request, not live')
    await t.page.evaluate(() => window.release())
    await until(t.page, () => window.stream.isUpToDate)
    const urls = t.shapeRequests.filter((u) => !u.includes('live=true'))
    assert.ok(urls.length > 3, `several chunks (${urls.length})`)
    assert.equal(new Set(urls).size, urls.length, 'no catch-up URL requested twice')
    const ids = await t.page.evaluate(() => window.shape.currentRows.map((r) => Number(r.id)).sort((a, b) => a - b))
    assert.deepEqual(ids, [1, 2, 3, 4, 5, 6, 7, 8])
  } finally {
    await t.close()
  }
})

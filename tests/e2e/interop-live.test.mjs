// Interop cases of ref §8.12 (SSE), §8.13 (errors, retry-after, network drops, abort) and
// §8.14 (proxy hazards): the built eddy-sync package in headless Chromium against a real
// eddy-server, through a recording proxy (`startTap`) that timestamps every request.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import { closeBrowser } from './harness.mjs'
import {
  FAST, cases, open, startShape, converge, waitFor, live, sleep, assertTransport, todo, insert, update,
} from './interop-support.mjs'

after(closeBrowser)

// The WebSocket transport does not go through /v1/shape GETs, so the proxy cases are HTTP-only.
const HTTP = ['long-poll', 'sse']
const QUICK = { initialDelay: 10, maxDelay: 40 }
const isLive = (e) => e.query.live === 'true'
/** The SSE stream opens with an up-to-date of its own: wait for it before measuring. */
const sseOpened = (env) =>
  waitFor(() => env.page.evaluate(() => window.msgs.filter((m) => m.headers.control === 'up-to-date').length >= 2), 10_000, 'the SSE up-to-date')

cases('§8.12 SSE: server closes after --sse-timeout-ms, the client reconnects and loses nothing', ['sse'], async (transport) => {
  const env = await open({ tap: true, serverArgs: ['--sse-timeout-ms', '1200', '--sse-keepalive-ms', '100'] })
  try {
    await env.tx([insert(todo(1))])
    await startShape(env, { transport })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    for (let i = 2; i <= 14; i++) {
      await env.tx([insert(todo(i)), update({ id: i - 1, title: `seen ${i}` })])
      await sleep(300)
    }
    await converge(env)
    const sse = env.tap.log.filter((e) => e.query.live_sse === 'true')
    assert.ok(sse.length >= 3, `the server closed the stream and the client reconnected (${sse.length} SSE requests)`)
    assert.ok(sse.every((e) => e.query.handle === sse[0].query.handle && e.query.offset !== '-1'))
    assert.ok(!env.tap.log.some((e) => isLive(e) && e.query.live_sse !== 'true'), 'no long-poll fallback')
    const keys = await env.page.evaluate(() => new Set(window.msgs.filter((m) => m.headers.operation === 'insert').map((m) => m.key)).size)
    assert.equal(keys, 14, 'every insert was delivered')
  } finally {
    await env.close()
  }
})

cases('§8.12 SSE: keep-alive comments are ignored (no messages, no notifications)', ['sse'], async (transport) => {
  const env = await open({ tap: true, serverArgs: ['--sse-timeout-ms', '5000', '--sse-keepalive-ms', '50'] })
  try {
    await env.tx([insert(todo(1))])
    await startShape(env, { transport })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await sseOpened(env)
    const before = await env.page.evaluate(() => ({ m: window.msgs.length, n: window.notes.length }))
    await sleep(1000) // ~20 keep-alives
    const after = await env.page.evaluate(() => ({ m: window.msgs.length, n: window.notes.length, errors: window.errors.length }))
    assert.deepEqual(after, { ...before, errors: 0 })
    assert.equal(env.tap.log.filter((e) => e.query.live_sse === 'true').length, 1, 'the stream stayed open')
    await env.tx([insert(todo(2))])
    await converge(env)
  } finally {
    await env.close()
  }
})

cases('§8.12 SSE: a multi-operation transaction is buffered to its up-to-date (one batch, one notification)', ['sse'], async (transport) => {
  const env = await open()
  try {
    await env.tx([insert(todo(1))])
    await startShape(env, { transport })
    await env.page.evaluate(() => {
      window.batches = []
      window.stream.subscribe((m) => { window.batches.push(m.map((x) => x.headers.operation ?? x.headers.control)) })
    })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await sseOpened(env)
    await env.page.evaluate(() => { window.batches.length = 0; window.notes.length = 0 })
    await env.tx([insert(todo(2)), insert(todo(3)), update({ id: 1, done: true }), insert(todo(4))])
    await converge(env)
    const s = await env.page.evaluate(() => ({ b: window.batches, n: window.notes.map((x) => x.n) }))
    assert.deepEqual(s.b, [['insert', 'insert', 'update', 'insert', 'up-to-date']])
    assert.deepEqual(s.n, [4])
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

cases('§8.12 SSE: a buffering proxy (3 quick closes) → long-poll fallback without losing changes', ['sse'], async (transport) => {
  const env = await open({ tap: true })
  env.tap.rules.push((e) => e.query.live_sse === 'true' && { cutSse: true })
  try {
    await env.tx([insert(todo(1))])
    await startShape(env, { transport, backoffOptions: QUICK })
    await env.page.evaluate(() => window.shape.rows)
    await env.tx([insert(todo(2))]) // lands while SSE keeps failing
    await waitFor(() => env.tap.log.some((e) => isLive(e) && e.query.live_sse !== 'true'), 10_000, 'the long-poll fallback')
    assert.equal(env.tap.log.filter((e) => e.query.live_sse === 'true').length, 3)
    await env.tx([insert(todo(3))])
    await converge(env)
    assert.equal(env.tap.log.filter((e) => e.query.live_sse === 'true').length, 3, 'no SSE after the fallback')
  } finally {
    await env.close()
  }
})

cases('§8.13 bad where → 400 FetchError surfaced, not retried', HTTP, async (transport) => {
  const env = await open({ tap: true })
  try {
    await startShape(env, { transport, backoffOptions: QUICK }, { table: 'todos', where: 'nope = 1' })
    await waitFor(() => env.page.evaluate(() => window.errors.length > 0), 10_000, 'onError')
    await sleep(400) // a retry (backoff 10-40 ms) would show up well within this
    const s = await env.page.evaluate(() => ({ errors: window.errors, sub: window.subErrors, status: window.stream.status }))
    assert.equal(s.errors.length, 1)
    assert.equal(s.errors[0].cls, 'FetchError')
    assert.equal(s.errors[0].status, 400)
    assert.deepEqual(s.errors[0].json.errors.where, ['unknown column "nope" in table todos'])
    assert.deepEqual(s.sub, ['EDDY_FETCH_HTTP'])
    assert.equal(s.status, 'error')
    assert.equal(env.tap.log.length, 1, 'not retried')
  } finally {
    await env.close()
  }
})

/** Answer the first `n` requests matching `pred` with 503 + retry-after. */
function unavailable(env, pred, n, seconds) {
  let left = n
  env.tap.rules.push((e) => pred(e) && left-- > 0 && {
    status: 503,
    headers: { 'retry-after': String(seconds), 'electric-internal-known-error': 'true' },
    body: '{"message":"overloaded","code":"concurrent_request_limit_exceeded"}',
  })
}

/** The gaps (ms) between each 503 answer being sent and the next request arriving. */
function gapsAfter503(log) {
  const out = []
  log.forEach((e, i) => {
    if (e.status === 503 && log[i + 1]) out.push(log[i + 1].t - e.tReply)
  })
  return out
}

cases('§8.13 503 + retry-after: the next request waits at least retry-after (initial sync and live)', HTTP, async (transport) => {
  const env = await open({ tap: true })
  try {
    await env.tx([insert(todo(1))])
    unavailable(env, (e) => e.query.offset === '-1', 1, 1)
    unavailable(env, isLive, 2, 1)
    await startShape(env, { transport, backoffOptions: QUICK })
    await env.page.evaluate(() => window.shape.rows)
    await env.tx([insert(todo(2))])
    await converge(env)
    const gaps = gapsAfter503(env.tap.log)
    if (process.env.EDDY_E2E_DEBUG) console.error(`gaps after 503: ${gaps}`)
    assert.equal(gaps.length, 3, `three 503s answered: ${JSON.stringify(env.tap.log.map((e) => e.status))}`)
    // The client cannot see the 503 before it was sent (tReply).
    for (const g of gaps) assert.ok(g >= 1000, `waited ${g} ms after a 503 with retry-after: 1 (backoff alone is 10-40 ms)`)
    const errors = await env.page.evaluate(() => window.errors)
    assert.deepEqual(errors, [], '503s are retried, not surfaced')
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

cases('§8.13 network drop: backoff, recovery from the same offset, no change lost', HTTP, async (transport) => {
  const env = await open({ tap: true })
  let down = false
  env.tap.rules.push(() => down && { destroy: true })
  try {
    await env.tx([insert(todo(1)), insert(todo(2))])
    await startShape(env, { transport, backoffOptions: { initialDelay: 50, maxDelay: 200 } })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await waitFor(() => env.tap.log.some(isLive), 5000, 'a live request')
    down = true
    // Break the live request in flight: the next write wakes it and the proxy drops the retry.
    const mark = env.tap.log.length
    await env.tx([insert(todo(3)), update({ id: 1, title: 'during the drop' })])
    await waitFor(() => env.tap.log.slice(mark).filter((e) => e.status === 'destroyed').length >= 3, 10_000, 'three dropped attempts')
    await env.tx([insert(todo(4))])
    down = false
    await converge(env)
    const dropped = env.tap.log.filter((e) => e.status === 'destroyed')
    const recovered = env.tap.log.slice(env.tap.log.indexOf(dropped.at(-1)) + 1)[0]
    assert.ok(dropped.every((e) => e.query.offset === dropped[0].query.offset), 'every retry at the same offset')
    assert.equal(recovered.query.offset, dropped[0].query.offset, 'recovers from the same offset')
    const inserts = await env.page.evaluate(() => window.msgs.filter((m) => m.headers.operation === 'insert').map((m) => m.key))
    assert.equal(new Set(inserts).size, 4)
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

cases('§8.13 abort during the backoff sleep stops the stream: no further request', HTTP, async (transport) => {
  const env = await open({ tap: true })
  try {
    await env.tx([insert(todo(1))])
    unavailable(env, isLive, 1, 2)
    await startShape(env, { transport, backoffOptions: QUICK })
    await env.page.evaluate(() => window.shape.rows)
    await waitFor(() => env.tap.log.some((e) => e.status === 503), 10_000, 'the 503')
    await sleep(100) // now sleeping for retry-after (2 s)
    const n = env.tap.log.length
    const status = await env.page.evaluate(() => {
      window.ac.abort()
      return window.stream.status
    })
    assert.equal(status, 'closed', 'closed at once')
    await env.tx([insert(todo(2))])
    await sleep(2600) // past the retry-after the sleep would have ended at
    assert.equal(env.tap.log.length, n, 'no request after abort')
    const s = await env.page.evaluate(() => ({ rows: window.shape.currentRows.length, errors: window.errors.length }))
    assert.deepEqual(s, { rows: 1, errors: 0 })
  } finally {
    await env.close()
  }
})

/** A stream through a proxy that strips `header` from the responses matching `pred`. */
function missing(header, pred, liveFirst) {
  return async (transport) => {
    const env = await open({ tap: true })
    env.tap.rules.push((e) => pred(e) && { strip: [header], when: (s) => s === 200 })
    try {
      await env.tx([insert(todo(1))])
      await startShape(env, { transport, backoffOptions: QUICK })
      if (liveFirst) {
        await env.page.evaluate(() => window.shape.rows)
        await env.tx([insert(todo(2))])
      }
      await waitFor(() => env.page.evaluate(() => window.errors.length > 0), 10_000, 'an error')
      await sleep(300)
      const s = await env.page.evaluate(() => ({ errors: window.errors, status: window.stream.status }))
      assert.equal(s.errors.length, 1)
      assert.equal(s.errors[0].cls, 'MissingHeadersError')
      assert.equal(s.errors[0].code, 'EDDY_FETCH_MISSING_HEADERS')
      assert.match(s.errors[0].message, new RegExp(header))
      assert.equal(s.status, 'error')
      const hits = env.tap.log.filter(pred)
      assert.equal(hits.length, 1, 'not retried')
    } finally {
      await env.close()
    }
  }
}

cases('§8.14 stripped electric-handle → MissingHeadersError, not retried', ['long-poll'], missing('electric-handle', (e) => e.query.offset === '-1'))
cases('§8.14 stripped electric-offset → MissingHeadersError, not retried', ['long-poll'], missing('electric-offset', (e) => e.query.offset === '-1'))
cases('§8.14 stripped electric-cursor on a live answer → MissingHeadersError', ['long-poll'], missing('electric-cursor', isLive, true))

/** The query string of a recorded request. */
const shapeOf = (e) => e.url.replace(/^\/v1\/shape\?/, '')

cases('§8.14 identical sorted URLs: eddy and the official client ask the same URLs for the same shape', ['long-poll'], async () => {
  const env = await open({ tap: true, serverArgs: ['--long-poll-ms', '20000'] })
  try {
    await env.tx([insert(todo(1))])
    await startShape(env, {}, { table: 'todos', where: 'done = false', columns: ['id', 'title', 'done'] })
    await env.page.evaluate(() => window.shape.rows)
    await waitFor(() => env.tap.log.some(isLive), 5000, 'eddy live request')
    await env.page.evaluate(() => window.ac.abort())
    const eddyUrls = env.tap.log.map(shapeOf)
    env.tap.log.length = 0
    // The official client, in its own browser context (no shared HTTP cache), through the same proxy.
    const context = await env.page.context().browser().newContext()
    try {
      const official = await context.newPage()
      await official.goto(env.page.url())
      await official.waitForFunction(() => window.eddyReady === true, null, { timeout: 15_000 })
      await official.evaluate((base) => {
        const { ShapeStream, Shape } = window.electric
        window.ac = new AbortController()
        const stream = new ShapeStream({
          url: `${base}/v1/shape`, signal: window.ac.signal,
          params: { table: 'todos', where: 'done = false', columns: ['id', 'title', 'done'] },
        })
        window.shapeRows = new Shape(stream).rows
      }, env.base)
      await official.evaluate(() => window.shapeRows.then(() => true))
      await waitFor(() => env.tap.log.some(isLive), 5000, 'official live request')
      await official.evaluate(() => window.ac.abort())
    } finally {
      await context.close()
    }
    const officialUrls = env.tap.log.map(shapeOf)
    // The non-live URLs are fully determined by the shape, its handle and the offsets.
    assert.deepEqual(eddyUrls.slice(0, 2), officialUrls.slice(0, 2))
    const keysOf = (q) => [...new URLSearchParams(q).keys()]
    for (const q of eddyUrls) assert.deepEqual(keysOf(q), [...keysOf(q)].sort(), `eddy's params are sorted: ${q}`)
    // The live URL: same params and values, the cursor aside (it echoes what each client was last given).
    const noCursor = (q) => { const p = new URLSearchParams(q); p.delete('cursor'); return p.toString() }
    assert.equal(noCursor(eddyUrls[2]), noCursor(officialUrls[2]))
  } finally {
    await env.close()
  }
})

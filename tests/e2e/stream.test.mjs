// End-to-end: the built eddy-sync package in headless Chromium against a real eddy-server.
// Rows are compared with what the official @electric-sql/client materialises in the same page. Every test starts its own server and page and has a time bound.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, until, closeBrowser } from './harness.mjs'

after(closeBrowser)

const T = { timeout: 45_000 }

/** JSON-safe, id-sorted view of typed rows (BigInt → "123n"), as the page's `plain` does. */
function plain(rows) {
  const p = JSON.parse(JSON.stringify(rows, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)))
  return sortRows(p)
}
function sortRows(rows) {
  return rows.sort((a, b) => (BigInt(a.id.slice(0, -1)) < BigInt(b.id.slice(0, -1)) ? -1 : 1))
}

/**
 * The rows the official client materialises for `todos` right now, in a page of its own
 * browser context (a shared HTTP cache would hand it eddy's cached, older non-live chunks).
 */
async function officialRows(page, server) {
  const context = await page.context().browser().newContext()
  const fresh = await context.newPage()
  await fresh.goto(page.url())
  await fresh.waitForFunction(() => window.eddyReady === true, null, { timeout: 15_000 })
  const rows = await fresh.evaluate(async (server) => {
    const { ShapeStream, Shape } = window.electric
    const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, subscribe: false })
    const rows = await new Shape(stream).rows
    stream.unsubscribeAll()
    return window.plain(rows)
  }, server)
  await context.close()
  return plain(rows)
}

const row = (id, extra = {}) => ({ id, title: `todo ${id}`, done: false, ...extra })
const insert = (r) => ({ op: 'insert', table: 'todos', row: r })

/** Start a stream + Shape in the page; it records notifications and messages on window. */
async function startShape(page, server, options = {}) {
  await page.evaluate(
    ({ server, options }) => {
      const { ShapeStream, Shape } = window.eddy
      window.errors = []
      window.messages = []
      window.notifications = []
      window.ac = new AbortController()
      window.stream = new ShapeStream({
        url: `${server}/v1/shape`,
        params: { table: 'todos' },
        signal: window.ac.signal,
        onError: (e) => {
          window.errors.push({
            cls: e.constructor.name, code: e.code, status: e.status, json: e.json,
            isFetchError: e instanceof window.eddy.FetchError, url: e.url,
          })
        },
        ...options,
      })
      window.stream.subscribe((msgs) => {
        window.messages.push(...msgs.map((m) => m.headers.operation ?? m.headers.control ?? m.headers.event))
      })
      window.shape = new Shape(window.stream)
      window.shape.subscribe(({ rows, value }) => {
        window.notifications.push({ rows: rows.length, value: value.size })
      })
    },
    { server, options },
  )
  return plain(await page.evaluate(() => window.shape.rows.then((r) => window.plain(r))))
}

const pageRows = async (page) => plain(await page.evaluate(() => window.plain(window.shape.currentRows)))

test('initial sync: the Shape holds the same rows as the official client', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(row(1)), insert(row(2, { done: true, priority: 5 })), insert(row(3, { meta: { a: [1] } }))])
    const rows = await startShape(t.page, t.server)
    assert.equal(rows.length, 3)
    assert.deepEqual(rows, await officialRows(t.page, t.server))
    const state = await t.page.evaluate(() => ({
      upToDate: window.stream.isUpToDate, loading: window.stream.isLoading(),
      handle: window.stream.shapeHandle, offset: window.stream.lastOffset,
      synced: typeof window.stream.lastSyncedAt(), notes: window.notifications,
      progress: window.stream.progress,
    }))
    assert.equal(state.upToDate, true)
    assert.equal(state.loading, false)
    assert.match(state.handle, /\S+/)
    assert.notEqual(state.offset, '-1')
    assert.equal(state.synced, 'number')
    assert.deepEqual(state.notes, [{ rows: 3, value: 3 }], 'one notification at the first up-to-date')
    assert.equal(state.progress.rows, 3)
    assert.equal(state.progress.upToDate, true)
    assert.ok(state.progress.batches >= 2, 'the offset=-1 answer never ends at up-to-date')
  } finally {
    await t.close()
  }
})

test('live insert, update and delete reach Shape subscribers (long-poll)', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, t.server)
    await t.tx([insert(row(3, { title: 'new' }))])
    await until(t.page, () => window.shape.currentRows.length === 3)
    await t.tx([{ op: 'update', table: 'todos', row: { id: 1, title: 'changed', done: true } }])
    await until(t.page, () => window.shape.currentValue.get('"public"."todos"/"1"')?.title === 'changed')
    await t.tx([{ op: 'delete', table: 'todos', row: { id: 2 } }])
    await until(t.page, () => window.shape.currentRows.length === 2)
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
    const seen = await t.page.evaluate(() => ({ m: window.messages, n: window.notifications }))
    for (const op of ['insert', 'update', 'delete', 'up-to-date']) assert.ok(seen.m.includes(op), `saw ${op}`)
    assert.deepEqual(seen.n.map((n) => n.rows), [2, 3, 3, 2])
    assert.ok(t.shapeRequests.some((u) => u.includes('live=true')))
  } finally {
    await t.close()
  }
})

test('409 after DELETE /v1/shape: must-refetch to the stream, no empty flash in the Shape', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(row(1)), insert(row(2))])
    await startShape(t.page, t.server)
    const firstHandle = await t.page.evaluate(() => window.stream.shapeHandle)
    const del = await fetch(`${t.server}/v1/shape?table=todos`, { method: 'DELETE' })
    assert.ok(del.status < 300, `DELETE answered ${del.status}`)
    await t.tx([insert(row(3))])
    await until(t.page, () => window.messages.includes('must-refetch') && window.shape.currentRows.length === 3)
    const after = await t.page.evaluate(() => ({
      notes: window.notifications, handle: window.stream.shapeHandle, errors: window.errors,
    }))
    assert.notEqual(after.handle, firstHandle)
    assert.ok(after.notes.every((n) => n.rows > 0), `no empty notification: ${JSON.stringify(after.notes)}`)
    assert.equal(after.notes.at(-1).rows, 3)
    assert.deepEqual(after.errors, [])
    assert.equal(t.shapeRequests.filter((u) => /[?&]offset=-1(&|$)/.test(u)).length, 2)
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await t.close()
  }
})

test('SSE transport: live changes arrive over one streaming request', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(row(1))])
    await startShape(t.page, t.server, { transport: 'sse' })
    await until(t.page, () => window.stream.status === 'live')
    await t.tx([insert(row(2))])
    await until(t.page, () => window.shape.currentRows.length === 2)
    await t.tx([{ op: 'update', table: 'todos', row: { id: 2, title: 'via sse' } }])
    await until(t.page, () => window.shape.currentValue.get('"public"."todos"/"2"')?.title === 'via sse')
    const sse = t.shapeRequests.filter((u) => u.includes('live_sse=true'))
    const longPolls = t.shapeRequests.filter((u) => u.includes('live=true') && !u.includes('live_sse=true'))
    assert.ok(sse.length >= 1, 'an SSE request was made')
    assert.ok(sse.length <= 2, `the SSE stream stayed open (${sse.length} SSE requests)`)
    assert.deepEqual(longPolls, [], 'no long-poll fallback')
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await t.close()
  }
})

test('typed values: int8 as BigInt (beyond 2^53), bool, float8, jsonb, int4[]', T, async () => {
  const t = await setup()
  try {
    // A raw body: 9007199254740993 is not representable as a JS number.
    const body = `{"ops":[{"op":"insert","table":"todos","row":{"id":9007199254740993,"title":"big","done":true,` +
      `"score":2.5,"meta":{"k":[1,"x"]},"tags":[3,4],"priority":7}}]}`
    const r = await fetch(`${t.server}/v1/tx`, { method: 'POST', body })
    assert.equal(r.status, 200)
    await startShape(t.page, t.server)
    const v = await t.page.evaluate(() => {
      const r = window.shape.currentRows[0]
      const m = [...window.shape.currentValue.values()][0]
      return {
        id: typeof r.id, exact: r.id === 9007199254740993n, done: r.done, score: r.score,
        meta: r.meta, tags: r.tags, priority: typeof r.priority, same: m.id === r.id,
        created: r.created_at,
      }
    })
    assert.deepEqual(v, {
      id: 'bigint', exact: true, done: true, score: 2.5, meta: { k: [1, 'x'] }, tags: [3, 4],
      priority: 'number', same: true, created: null,
    })
    const msg = await t.page.evaluate(async () => {
      const { ShapeStream } = window.eddy
      const s = new ShapeStream({ url: window.stream.options.url, params: { table: 'todos' }, subscribe: false })
      return new Promise((resolve) =>
        s.subscribe((msgs) => {
          const c = msgs.find((m) => m.key)
          if (c) resolve({ t: typeof c.value.id, op: c.headers.operation, key: c.key })
        }),
      )
    })
    assert.deepEqual(msg, { t: 'bigint', op: 'insert', key: '"public"."todos"/"9007199254740993"' })
  } finally {
    await t.close()
  }
})

test('a 400 (bad where) is a FetchError with a code, and is not retried', T, async () => {
  const t = await setup()
  try {
    await t.page.evaluate((server) => {
      const { ShapeStream } = window.eddy
      window.errors = []
      window.subErrors = []
      window.stream = new ShapeStream({
        url: `${server}/v1/shape`,
        params: { table: 'todos', where: 'nope = 1' },
        backoffOptions: { initialDelay: 50, maxDelay: 100 },
        onError: (e) => {
          window.errors.push({
            cls: e.constructor.name, code: e.code, status: e.status, json: e.json,
            isFetchError: e instanceof window.eddy.FetchError, isError: e instanceof Error,
            url: e.url,
          })
        },
      })
      window.stream.subscribe(() => {}, (e) => window.subErrors.push(e.code))
    }, t.server)
    const errors = await until(t.page, () => window.errors.length > 0 && window.errors)
    // Bounded observation window: a retry (backoff 50-100 ms) would show up well within it.
    await new Promise((r) => setTimeout(r, 600))
    assert.equal(errors.length, 1)
    const [e] = errors
    assert.equal(e.cls, 'FetchError')
    assert.equal(e.isFetchError, true)
    assert.equal(e.isError, true)
    assert.equal(e.code, 'EDDY_FETCH_HTTP')
    assert.equal(e.status, 400)
    assert.deepEqual(e.json.errors.where, ['unknown column "nope" in table todos'])
    assert.match(e.url, /where=nope/)
    assert.equal(t.shapeRequests.length, 1, 'not retried')
    const state = await t.page.evaluate(() => ({ status: window.stream.status, sub: window.subErrors, err: window.stream.error?.code }))
    assert.deepEqual(state, { status: 'error', sub: ['EDDY_FETCH_HTTP'], err: 'EDDY_FETCH_HTTP' })
  } finally {
    await t.close()
  }
})

test('abort: the live request is cancelled and nothing more is fetched or applied', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(row(1))])
    await startShape(t.page, t.server)
    await until(t.page, () => window.stream.status === 'live')
    // Wait until the live long-poll is in flight.
    const deadline = Date.now() + 5000
    while (!t.shapeRequests.some((u) => u.includes('live=true')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
    }
    const before = t.shapeRequests.length
    await t.page.evaluate(() => window.ac.abort())
    await t.tx([insert(row(2))])
    await new Promise((r) => setTimeout(r, 500))
    const state = await t.page.evaluate(() => ({ status: window.stream.status, rows: window.shape.currentRows.length }))
    assert.deepEqual(state, { status: 'closed', rows: 1 })
    assert.equal(t.shapeRequests.length, before, 'no request after abort')
    assert.ok(t.failedRequests.some((u) => u.includes('live=true')), 'the live request was aborted')
  } finally {
    await t.close()
  }
})

test('Shape keeps unchanged row objects across commits and patches only changed ones', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(row(1)), insert(row(2)), insert(row(3))])
    await startShape(t.page, t.server)
    await t.page.evaluate(() => {
      window.before = new Map(window.shape.currentValue)
    })
    await t.tx([{ op: 'update', table: 'todos', row: { id: 2, title: 'two' } }, { op: 'delete', table: 'todos', row: { id: 3 } }, insert(row(4))])
    await until(t.page, () => window.shape.currentValue.has('"public"."todos"/"4"'))
    const r = await t.page.evaluate(() => {
      const now = window.shape.currentValue
      const k = (id) => `"public"."todos"/"${id}"`
      return {
        same1: now.get(k(1)) === window.before.get(k(1)),
        same2: now.get(k(2)) === window.before.get(k(2)),
        title2: now.get(k(2)).title,
        has3: now.has(k(3)),
        keys: [...now.keys()],
        rowsMatch: window.shape.currentRows.every((r, i) => r === [...now.values()][i]),
      }
    })
    assert.deepEqual(r, {
      same1: true, same2: false, title2: 'two', has3: false,
      keys: ['"public"."todos"/"1"', '"public"."todos"/"2"', '"public"."todos"/"4"'], rowsMatch: true,
    })
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await t.close()
  }
})

test('a Shape first read through `rows` (array only, no map yet) patches the same objects on the next commit', T, async () => {
  const t = await setup()
  try {
    await t.tx([insert(row(1)), insert(row(2)), insert(row(3))])
    await t.page.evaluate(async (server) => {
      const { ShapeStream, Shape } = window.eddy
      window.ac = new AbortController()
      window.stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, signal: window.ac.signal })
      window.shape = new Shape(window.stream)
      window.beforeRows = await window.shape.rows // no subscriber: only the array is built
    }, t.server)
    await t.tx([{ op: 'update', table: 'todos', row: { id: 2, title: 'two' } }, { op: 'delete', table: 'todos', row: { id: 3 } }, insert(row(4))])
    await until(t.page, () => window.shape.currentRows.some((r) => r.id === 4n))
    const r = await t.page.evaluate(() => {
      const rows = window.shape.currentRows
      const before = window.beforeRows
      const value = window.shape.currentValue
      return {
        ids: rows.map((x) => Number(x.id)),
        same1: rows[0] === before[0],
        same2: rows[1] === before[1],
        title2: rows[1].title,
        keys: [...value.keys()],
        valueIsRows: [...value.values()].every((x, i) => x === rows[i]),
      }
    })
    assert.deepEqual(r, {
      ids: [1, 2, 4], same1: true, same2: false, title2: 'two',
      keys: ['"public"."todos"/"1"', '"public"."todos"/"2"', '"public"."todos"/"4"'], valueIsRows: true,
    })
    assert.deepEqual(await pageRows(t.page), await officialRows(t.page, t.server))
  } finally {
    await t.page.evaluate(() => window.ac.abort()).catch(() => {})
    await t.close()
  }
})

test('a many-chunk initial sync: the rows a Shape builds while syncing equal the server rows (plain snapshot, and a log with changes)', T, async () => {
  const t = await setup({ serverArgs: ['--chunk-bytes', '2048'] })
  try {
    await t.tx(Array.from({ length: 300 }, (_, i) => insert(row(i + 1))))
    const sync = (lib, from) => t.page.evaluate(async ({ server, lib, from }) => {
      const { ShapeStream, Shape } = window[lib]
      const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, subscribe: false, ...from })
      const shape = new Shape(stream)
      if (lib === 'electric') {
        const rows = await shape.rows
        return { rows: window.plain(rows) }
      }
      // Count the batches whose rows were built before the commit.
      const d = stream._driver
      const pendingBulk = d.pendingBulk.bind(d)
      let early = 0
      d.pendingBulk = (after) => {
        const b = pendingBulk(after)
        if (b) early++
        return b
      }
      const rows = await shape.rows
      const value = shape.currentValue
      const keysMatch = [...value.values()].every((r, i) => r === rows[i])
      const at = { offset: stream.lastOffset, handle: stream.shapeHandle }
      return { rows: window.plain(rows), early, plainCommit: !!d.plainCommit(), keysMatch, size: value.size, at }
    }, { server: t.server, lib, from })
    // 1. A fresh shape: a snapshot of inserts only, in many batches.
    const a = await sync('eddy', {})
    assert.ok(a.early > 3, `rows of ${a.early} batches built early`)
    assert.deepEqual([a.plainCommit, a.keysMatch, a.size], [true, true, 300])
    assert.deepEqual(plain(a.rows), await officialRows(t.page, t.server))
    // 2. From that offset (no rows yet in the new stream): updates, deletes and inserts before
    // the first up-to-date. Not a plain commit; the same rows as the official client's.
    const ops = []
    for (let i = 1; i <= 300; i += 7) ops.push({ op: 'update', table: 'todos', row: { id: i, title: `changed ${i}` } })
    for (let i = 3; i <= 300; i += 11) ops.push({ op: 'delete', table: 'todos', row: { id: i } })
    for (let i = 301; i <= 320; i++) ops.push(insert(row(i)))
    await t.tx(ops)
    const b = await sync('eddy', a.at)
    const official = await sync('electric', a.at)
    assert.deepEqual([b.plainCommit, b.keysMatch], [false, true])
    assert.ok(b.size > 40, `${b.size} rows`)
    assert.deepEqual(plain(b.rows), plain(official.rows))
  } finally {
    await t.close()
  }
})

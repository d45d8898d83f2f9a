// End-to-end: the JS API of issue #4 beyond the basic stream — `params` values as (async)
// functions evaluated per request, `onError` returning `{params}`, custom `parser` functions and
// `transformer`, and the progress/status listeners. Headless Chromium against a real
// eddy-server; rows are checked against the server's own rows (rawTruth) or against what the
// official @electric-sql/client does with the same options in the same page.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, until, closeBrowser, rawTruth } from './harness.mjs'

after(closeBrowser)

const T = { timeout: 60_000 }

const row = (id, extra = {}) => ({ id, title: `todo ${id}`, done: id % 2 === 0, ...extra })
const insert = (r) => ({ op: 'insert', table: 'todos', row: r })
const ids = (rows) => rows.map((r) => Number(String(r.id).replace(/n$/, ''))).sort((a, b) => a - b)

test('params functions (sync and async, custom and definition params) are evaluated before every request', T, async () => {
  const t = await setup({ serverArgs: ['--long-poll-ms', '200'] })
  try {
    await t.tx([1, 2, 3, 4, 5, 6].map((i) => insert(row(i))))
    const truth = await rawTruth(t.server, { table: 'todos', where: 'id <= $1', params: { 1: '4' } })
    const rows = await t.page.evaluate(async (server) => {
      const { ShapeStream, Shape } = window.eddy
      window.calls = { n: 0, where: 0, params: 0 }
      window.stream = new ShapeStream({
        url: `${server}/v1/shape`,
        params: {
          table: () => 'todos',
          where: async () => {
            window.calls.where++
            await new Promise((r) => setTimeout(r, 5))
            return 'id <= $1'
          },
          params: () => {
            window.calls.params++
            return ['4']
          },
          n: () => String(++window.calls.n),
          fixed: 'yes',
        },
      })
      const shape = new Shape(window.stream)
      return window.plain(await shape.rows)
    }, t.server)
    assert.deepEqual(ids(rows), [...truth.rows.values()].map((r) => Number(r.id)).sort((a, b) => a - b))
    assert.deepEqual(ids(rows), [1, 2, 3, 4])
    // Several live long-polls (200 ms each) go by; every request evaluated every function once.
    await until(t.page, () => window.calls.n >= 4)
    const calls = await t.page.evaluate(() => ({ ...window.calls }))
    const urls = t.shapeRequests.map((u) => new URL(u).searchParams)
    const ns = urls.map((q) => Number(q.get('n')))
    assert.ok(ns.length >= 4, `${ns.length} requests`)
    assert.deepEqual(ns, ns.map((_, i) => i + 1), 'n is 1, 2, 3, ... in request order')
    for (const q of urls) {
      assert.equal(q.get('where'), 'id <= $1')
      assert.equal(q.get('params[1]'), '4')
      assert.equal(q.get('fixed'), 'yes')
    }
    assert.ok(calls.where >= ns.length && calls.params >= ns.length, JSON.stringify(calls))
    await t.page.evaluate(() => window.stream.unsubscribeAll())
  } finally {
    await t.close()
  }
})

test('a where function whose value changes is a new shape: 409, must-refetch, re-sync — as the official client does', T, async () => {
  const t = await setup({ serverArgs: ['--long-poll-ms', '500'] })
  try {
    await t.tx([1, 2, 3, 4, 5, 6].map((i) => insert(row(i))))
    const truth = await rawTruth(t.server, { table: 'todos', where: 'id <= 3' })
    const run = (lib) =>
      t.page.evaluate(async ({ server, lib }) => {
        const { ShapeStream, Shape } = window[lib]
        const state = { where: 'id <= 5', kinds: [], notified: [] }
        window[`${lib}State`] = state
        const stream = new ShapeStream({
          url: `${server}/v1/shape`,
          params: { table: 'todos', where: async () => state.where },
        })
        state.stream = stream
        stream.subscribe((msgs) => {
          for (const m of msgs) state.kinds.push(m.headers.operation ?? m.headers.control)
        })
        const shape = new Shape(stream)
        state.shape = shape
        shape.subscribe(({ rows }) => state.notified.push(rows.length))
        await shape.rows
        state.handle1 = stream.shapeHandle
        state.where = 'id <= 3'
        await stream.forceDisconnectAndRefresh()
        const deadline = Date.now() + 20_000
        while (Date.now() < deadline) {
          const k = state.kinds
          const i = k.indexOf('must-refetch')
          if (i >= 0 && k.indexOf('up-to-date', i) > i && stream.isUpToDate && shape.currentRows.length === 3) break
          await new Promise((r) => setTimeout(r, 50))
        }
        const out = {
          kinds: state.kinds,
          rows: window.plain(shape.currentRows),
          handle1: state.handle1,
          handle2: stream.shapeHandle,
          notified: state.notified,
        }
        stream.unsubscribeAll()
        return out
      }, { server: t.server, lib })
    const official = await run('electric')
    const eddy = await run('eddy')
    for (const [name, r] of [['official', official], ['eddy', eddy]]) {
      assert.deepEqual(ids(r.rows), [1, 2, 3], `${name} rows`)
      assert.notEqual(r.handle2, r.handle1, `${name} moved to the new definition's handle`)
      assert.equal(r.handle2, truth.handle, `${name} handle is the server's for id <= 3`)
      const i = r.kinds.indexOf('must-refetch')
      assert.ok(i > 0, `${name} saw a must-refetch: ${r.kinds}`)
      assert.deepEqual(r.kinds.slice(0, i).filter((k) => k === 'insert').length, 5, `${name}: 5 rows before`)
      assert.deepEqual(r.kinds.slice(i).filter((k) => k === 'insert').length, 3, `${name}: 3 rows after`)
      assert.ok(!r.notified.includes(0), `${name}: no empty flash (${r.notified})`)
    }
    // Same messages, in the same order, from both clients.
    assert.deepEqual(eddy.kinds, official.kinds)
    // eddy's rows are the server's rows for the new definition.
    const want = [...truth.rows.values()].map((r) => Number(r.id)).sort((a, b) => a - b)
    assert.deepEqual(ids(eddy.rows), want)
  } finally {
    await t.close()
  }
})

/** POST /v1/tx to a server started with --secret. */
async function txWithSecret(server, secret, ops) {
  const r = await fetch(`${server}/v1/tx?secret=${secret}`, { method: 'POST', body: JSON.stringify({ ops }) })
  if (!r.ok) throw new Error(`tx failed: ${r.status} ${await r.text()}`)
}

for (const kind of ['a static value', 'an async function']) {
  test(`onError returning {params} with ${kind}: merged into the next requests, the stream recovers`, T, async () => {
    const t = await setup({ serverArgs: ['--secret', 's3cr3t', '--long-poll-ms', '300'] })
    try {
      await txWithSecret(t.server, 's3cr3t', [1, 2, 3].map((i) => insert(row(i))))
      const truth = await rawTruth(t.server, { table: 'todos', secret: 's3cr3t' })
      const result = await t.page.evaluate(async ({ server, asFn }) => {
        const { ShapeStream, Shape } = window.eddy
        window.errs = []
        window.stream = new ShapeStream({
          url: `${server}/v1/shape`,
          params: { table: 'todos', secret: 'wrong', keep: 'k' },
          onError: (e) => {
            window.errs.push({ cls: e.constructor.name, status: e.status })
            return { params: { secret: asFn ? async () => 's3cr3t' : 's3cr3t' } }
          },
        })
        window.shape = new Shape(window.stream)
        const rows = await window.shape.rows
        return { rows: window.plain(rows), errs: window.errs }
      }, { server: t.server, asFn: kind !== 'a static value' })
      assert.deepEqual(result.errs, [{ cls: 'FetchError', status: 401 }])
      assert.equal(await t.page.evaluate(() => window.stream.options.params.keep), 'k')
      assert.equal(await t.page.evaluate(() => typeof window.stream.options.params.secret), kind === 'a static value' ? 'string' : 'function')
      assert.deepEqual(ids(result.rows), [...truth.rows.values()].map((r) => Number(r.id)).sort((a, b) => a - b))
      // Live changes keep flowing with the merged params.
      await txWithSecret(t.server, 's3cr3t', [insert(row(4))])
      await until(t.page, () => window.shape.currentRows.length === 4)
      assert.deepEqual(ids(await t.page.evaluate(() => window.plain(window.shape.currentRows))), [1, 2, 3, 4])
      assert.equal(await t.page.evaluate(() => window.errs.length), 1)
      const queries = t.shapeRequests.map((u) => new URL(u).searchParams)
      assert.equal(queries[0].get('secret'), 'wrong')
      assert.ok(queries.length >= 2)
      for (const q of queries.slice(1)) {
        assert.equal(q.get('secret'), 's3cr3t')
        assert.equal(q.get('keep'), 'k', 'other params are kept')
      }
      await t.page.evaluate(() => window.stream.unsubscribeAll())
    } finally {
      await t.close()
    }
  })
}

const PARSER_SRC = `({
  timestamptz: (v) => new Date(v),
  int8: (v) => Number(v),
  int4: (v, info) => ({ n: Number(v), dims: info?.dims ?? 0 }),
  text: (v, info) => (info?.not_null ? v.toUpperCase() : v),
})`
const TRANSFORMER_SRC = `((row) => ({ ...row, tagged: true }))`

test('parser and transformer: messages and Shape rows equal the official client with the same options', T, async () => {
  const t = await setup({ serverArgs: ['--long-poll-ms', '300'] })
  try {
    const ts = '2024-05-06T07:08:09.123456+00:00'
    await t.tx([
      insert(row(1, { created_at: ts, tags: [1, 2, 3], priority: 7, meta: { a: [1] }, score: 1.5 })),
      insert(row(2, { created_at: null, tags: null, priority: null })),
      insert(row(9007199254740993, { tags: [], priority: -1 })),
    ])
    const run = (lib) =>
      t.page.evaluate(async ({ server, lib, parserSrc, transformerSrc }) => {
        const { ShapeStream, Shape } = window[lib]
        const parser = (0, eval)(parserSrc)
        const transformer = (0, eval)(transformerSrc)
        const out = { messages: [] }
        window[`${lib}Api`] = out
        const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, parser, transformer })
        out.stream = stream
        stream.subscribe((msgs) => {
          for (const m of msgs) if (m.key) out.messages.push(window.plain({ value: m.value, old: m.old_value, dates: m.value.created_at instanceof Date }))
        })
        const shape = new Shape(stream)
        out.shape = shape
        out.first = window.plain(await shape.rows)
        out.firstDates = shape.currentRows.filter((r) => r.created_at instanceof Date).length
        return true
      }, { server: t.server, lib, parserSrc: PARSER_SRC, transformerSrc: TRANSFORMER_SRC })
    await run('electric')
    await run('eddy')
    // A live update and insert: the Shape patches its rows, messages carry parsed values.
    await t.tx([
      { op: 'update', table: 'todos', row: { id: 1, title: 'changed', tags: [4] } },
      insert(row(3, { created_at: ts, tags: [5, 6], priority: 2 })),
    ])
    const byId = (rows) => [...rows].sort((a, b) => a.id - b.id)
    for (const lib of ['electric', 'eddy']) {
      await until(t.page, (lib) => {
        const s = window[`${lib}Api`].shape
        return s.currentRows.length === 4 && s.currentRows.some((r) => r.title === 'CHANGED')
      }, lib)
    }
    const get = (lib) =>
      t.page.evaluate((lib) => {
        const o = window[`${lib}Api`]
        const now = o.shape.currentRows
        const r = {
          first: o.first,
          firstDates: o.firstDates,
          now: window.plain(now),
          nowDates: now.filter((r) => r.created_at instanceof Date).length,
          messages: o.messages,
        }
        o.stream.unsubscribeAll()
        return r
      }, lib)
    const official = await get('electric')
    const eddy = await get('eddy')
    assert.deepEqual(byId(eddy.first), byId(official.first))
    assert.deepEqual(byId(eddy.now), byId(official.now))
    assert.equal(eddy.firstDates, 1)
    assert.equal(eddy.nowDates, official.nowDates)
    assert.deepEqual(eddy.messages, official.messages)
    // Spot checks of what the parsers did (beyond agreeing with the official client).
    const one = byId(eddy.now).find((r) => r.id === 1)
    assert.equal(one.title, 'CHANGED', 'text parser got the column info (not_null)')
    assert.deepEqual(one.tags, [{ n: 4, dims: 1 }], 'array elements parsed one by one, with the info')
    assert.deepEqual(one.priority, { n: 7, dims: 0 })
    assert.equal(one.created_at, new Date(ts).toISOString())
    assert.equal(one.tagged, true, 'transformer ran')
    assert.equal(byId(eddy.now).find((r) => r.id === 9007199254740992 || r.id === 9007199254740993).id, Number(9007199254740993n))
    assert.deepEqual(byId(eddy.now).find((r) => r.id === 2).tags, null)
    assert.ok(eddy.messages.some((m) => m.dates), 'message values are parsed too')
  } finally {
    await t.close()
  }
})

test('progress: onProgress during the initial sync counts every row and every body byte received', T, async () => {
  const t = await setup({ serverArgs: ['--chunk-bytes', '2048'] })
  try {
    await t.tx(Array.from({ length: 60 }, (_, i) => insert(row(i + 1, { meta: { pad: 'x'.repeat(40) } }))))
    const truth = await rawTruth(t.server)
    const sizes = []
    const pending = []
    t.page.on('response', (r) => {
      if (r.url().includes('/v1/shape')) pending.push(r.body().then((b) => sizes.push(b.length)))
    })
    const res = await t.page.evaluate(async (server) => {
      const { ShapeStream, Shape } = window.eddy
      const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, subscribe: false })
      const events = []
      const off = stream.onProgress((p) => events.push({ ...p, getter: stream.progress }))
      const rows = await new Shape(stream).rows
      off()
      return { events, rows: rows.length, final: stream.progress }
    }, t.server)
    await Promise.all(pending)
    const bodyBytes = sizes.reduce((a, b) => a + b, 0)
    assert.equal(res.rows, truth.rows.size)
    assert.ok(res.events.length >= 3, `${res.events.length} progress events (several chunks)`)
    for (let i = 1; i < res.events.length; i++) {
      const [a, b] = [res.events[i - 1], res.events[i]]
      assert.ok(b.rows >= a.rows && b.bytes >= a.bytes && b.batches > a.batches, JSON.stringify([a, b]))
    }
    for (const e of res.events) assert.deepEqual(e.getter, { rows: e.rows, batches: e.batches, bytes: e.bytes, upToDate: e.upToDate })
    const last = res.events.at(-1)
    assert.equal(last.upToDate, true)
    assert.ok(res.events.slice(0, -1).every((e) => !e.upToDate))
    assert.equal(last.rows, truth.rows.size)
    assert.equal(last.bytes, bodyBytes, 'every response body byte, once')
    assert.equal(sizes.length, t.shapeRequests.length)
    assert.deepEqual(res.final, { rows: last.rows, batches: last.batches, bytes: last.bytes, upToDate: true })
  } finally {
    await t.close()
  }
})

test('status: onStatus reports connecting → … → live, paused while hidden, closed on abort; unsubscribe stops it', T, async () => {
  const t = await setup({ serverArgs: ['--long-poll-ms', '300'] })
  try {
    await t.tx([insert(row(1))])
    await t.page.evaluate((server) => {
      const { ShapeStream } = window.eddy
      window.ac = new AbortController()
      window.stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, signal: window.ac.signal })
      window.statuses = []
      window.mismatch = []
      window.offStatus = window.stream.onStatus((s) => {
        window.statuses.push(s)
        if (s !== window.stream.status) window.mismatch.push([s, window.stream.status])
      })
      window.early = []
      window.offEarly = window.stream.onStatus((s) => window.early.push(s))
      window.stream.subscribe(() => {})
    }, t.server)
    await until(t.page, () => window.stream.status === 'live')
    const s = await t.page.evaluate(() => {
      window.offEarly()
      return window.statuses
    })
    assert.equal(s.at(-1), 'live')
    assert.ok(s.includes('syncing'), s.join())
    for (let i = 1; i < s.length; i++) assert.notEqual(s[i], s[i - 1], 'only changes are reported')
    await t.page.evaluate(() => window.stream._driver.setVisible(false))
    await until(t.page, () => window.statuses.at(-1) === 'paused')
    await t.page.evaluate(() => window.stream._driver.setVisible(true))
    await until(t.page, () => window.statuses.at(-1) === 'live')
    await t.page.evaluate(() => window.ac.abort())
    const r = await t.page.evaluate(() => {
      window.offStatus()
      return { s: window.statuses, early: window.early, mismatch: window.mismatch, status: window.stream.status }
    })
    assert.equal(r.s.at(-1), 'closed')
    assert.ok(r.s.includes('paused'))
    assert.equal(r.status, 'closed')
    assert.deepEqual(r.mismatch, [], 'the getter agrees with every event')
    assert.deepEqual(r.early, s, 'an unsubscribed listener hears nothing more')
  } finally {
    await t.close()
  }
})

test('a function for params.log is refused with a typed error', T, async () => {
  const t = await setup()
  try {
    const r = await t.page.evaluate((server) => {
      try {
        new window.eddy.ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos', log: () => 'full' } })
        return undefined
      } catch (e) {
        return { cls: e.constructor.name, code: e.code }
      }
    }, t.server)
    assert.deepEqual(r, { cls: 'InvalidShapeOptionsError', code: 'EDDY_WEB_FUNCTION_PARAM' })
  } finally {
    await t.close()
  }
})

test('progress over SSE: live events count their body bytes and rows', T, async () => {
  const t = await setup({ serverArgs: ['--sse-keepalive-ms', '60000'] })
  try {
    await t.tx([insert(row(1))])
    await t.page.evaluate((server) => {
      const { ShapeStream, Shape } = window.eddy
      window.stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' }, transport: 'sse' })
      window.shape = new Shape(window.stream)
      window.events = []
      window.stream.onProgress((p) => window.events.push(p))
    }, t.server)
    await until(t.page, () => window.stream.status === 'live' && window.shape.currentRows.length === 1)
    const before = await t.page.evaluate(() => window.stream.progress)
    await until(t.page, () => window.stream.isUpToDate)
    await t.tx([insert(row(2, { meta: { pad: 'y'.repeat(500) } }))])
    await until(t.page, () => window.shape.currentRows.length === 2)
    const r = await t.page.evaluate(() => ({ now: window.stream.progress, events: window.events }))
    const sse = t.shapeRequests.filter((u) => new URL(u).searchParams.get('live_sse') === 'true')
    assert.ok(sse.length >= 1, 'the change came over SSE')
    assert.equal(r.now.rows, before.rows + 1)
    assert.ok(r.now.bytes >= before.bytes + 500, `${before.bytes} -> ${r.now.bytes}: the event's bytes are counted`)
    assert.deepEqual(r.events.at(-1), r.now)
    await t.page.evaluate(() => window.stream.unsubscribeAll())
  } finally {
    await t.close()
  }
})

test("transport 'websocket' with function params uses HTTP (a socket cannot wait for them) and syncs the right rows", T, async () => {
  const t = await setup()
  try {
    await t.tx([1, 2, 3, 4].map((i) => insert(row(i))))
    const rows = await t.page.evaluate(async (server) => {
      const { ShapeStream, Shape } = window.eddy
      window.stream = new ShapeStream({
        url: `${server}/v1/shape`,
        params: { table: 'todos', where: async () => 'id > 2' },
        transport: 'websocket',
      })
      return window.plain(await new Shape(window.stream).rows)
    }, t.server)
    assert.deepEqual(ids(rows), [3, 4])
    assert.ok(t.shapeRequests.length >= 1, 'HTTP requests were made')
    for (const u of t.shapeRequests) assert.equal(new URL(u).searchParams.get('where'), 'id > 2')
    assert.ok(t.consoleLines.some((l) => l.includes('function params')), t.consoleLines.join('\n'))
    await t.page.evaluate(() => window.stream.unsubscribeAll())
  } finally {
    await t.close()
  }
})

test('columnMapper: snakeCamelMapper renames rows and encodes where/columns exactly as the official client', T, async () => {
  const t = await setup({ serverArgs: ['--long-poll-ms', '300'] })
  try {
    const ts = '2024-05-06T07:08:09+00:00'
    await t.tx([
      insert(row(1, { created_at: ts, priority: 5 })),
      insert(row(2, { created_at: ts, priority: 1 })),
      insert(row(3, { created_at: null, priority: 9 })),
    ])
    // The helpers name columns as the official ones do, tricky names included.
    const names = await t.page.evaluate(() => {
      const list = ['user_id', '_private', 'trailing_', 'a__b', 'user_Id', 'HTTPServer', 'parseHTMLString', 'userID',
        'created_at', 'x', '__', 'already_camelCase', 'with_2_digits', 'id']
      const both = (f) => list.map((n) => [window.eddy[f](n), window.electric[f](n)])
      return { s2c: both('snakeToCamel'), c2s: both('camelToSnake') }
    })
    for (const [a, b] of [...names.s2c, ...names.c2s]) assert.equal(a, b)
    const where = `createdAt IS NOT NULL AND title <> 'createdAt' AND "priority" >= $1 AND title LIKE 'todo%'`
    const run = (lib) =>
      t.page.evaluate(async ({ server, lib, where }) => {
        const { ShapeStream, Shape, snakeCamelMapper } = window[lib]
        const o = { messages: [] }
        window[`${lib}Cm`] = o
        o.stream = new ShapeStream({
          url: `${server}/v1/shape`,
          params: { table: 'todos', where, params: ['2'], columns: ['id', 'title', 'createdAt', 'priority'] },
          columnMapper: snakeCamelMapper(),
          transformer: (r) => {
            if (typeof r.title === 'string') r.title += '!'
            return r
          },
        })
        o.stream.subscribe((msgs) => {
          for (const m of msgs) {
            if (m.key) o.messages.push(window.plain({ op: m.headers.operation, value: m.value, keys: Object.keys(m.value).join() }))
          }
        })
        o.shape = new Shape(o.stream)
        o.first = window.plain(await o.shape.rows)
        return true
      }, { server: t.server, lib, where })
    await run('electric')
    const officialUrls = t.shapeRequests.splice(0)
    await run('eddy')
    const eddyUrls = [...t.shapeRequests]
    await t.tx([{ op: 'update', table: 'todos', row: { id: 1, priority: 6 } }, insert(row(4, { created_at: ts, priority: 3 }))])
    for (const lib of ['electric', 'eddy']) {
      await until(t.page, (lib) => window[`${lib}Cm`].shape.currentRows.length === 2 &&
        window[`${lib}Cm`].shape.currentRows.some((r) => r.priority === 6), lib)
    }
    const get = (lib) => t.page.evaluate((lib) => {
      const o = window[`${lib}Cm`]
      const r = { first: o.first, now: window.plain(o.shape.currentRows), messages: o.messages }
      o.stream.unsubscribeAll()
      return r
    }, lib)
    const official = await get('electric')
    const eddy = await get('eddy')
    const byId = (rows) => [...rows].sort((a, b) => Number(String(a.id).replace(/n$/, '')) - Number(String(b.id).replace(/n$/, '')))
    // int8 ids are BigInts in both; rows, keys order and messages agree.
    assert.deepEqual(byId(eddy.first), byId(official.first))
    assert.deepEqual(byId(eddy.now), byId(official.now))
    assert.deepEqual(eddy.messages, official.messages)
    assert.deepEqual(ids(eddy.first), [1])
    assert.deepEqual(Object.keys(eddy.first[0]), ['id', 'title', 'createdAt', 'priority'])
    assert.equal(eddy.first[0].title, 'todo 1!', 'transformer after decode')
    assert.ok(eddy.messages.some((m) => m.op === 'update' && m.keys === 'id,priority'), JSON.stringify(eddy.messages))
    assert.equal(eddy.first[0].createdAt, official.first[0].createdAt)
    const q = (urls) => new URL(urls[0]).searchParams
    assert.equal(q(eddyUrls).get('where'), q(officialUrls).get('where'))
    assert.equal(q(eddyUrls).get('where'), `created_at IS NOT NULL AND title <> 'createdAt' AND "priority" >= $1 AND title LIKE 'todo%'`)
  } finally {
    await t.close()
  }
})

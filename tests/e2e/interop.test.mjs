// Interop cases of ref §8 that a single-table shape has (1-9, 11; 12-14 are in
// interop-live.test.mjs), each a named test per transport, with the built eddy-sync package in
// headless Chromium against a real eddy-server. Ground truth: a raw sync from offset=-1 in Node.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closeBrowser, startEddyServer } from './harness.mjs'
import {
  TRANSPORTS, FAST, cases, open, startShape, converge, truth, waitFor, live, sleep,
  assertTransport as assertUsed, todo, insert, update, del, key,
} from './interop-support.mjs'

after(closeBrowser)

const LIVE = TRANSPORTS
const NO_WS = ['long-poll', 'sse']

/**
 * The tap records HTTP requests only (it does not forward WebSocket upgrades), so the websocket
 * variants run without it and read the frames of the page's sockets instead: `sent`/`received`
 * hold every JSON frame, in order.
 */
function recordFrames(env) {
  const frames = { sent: [], received: [] }
  env.page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.sent.push(JSON.parse(f.payload)))
    ws.on('framereceived', (f) => frames.received.push(JSON.parse(f.payload)))
  })
  return frames
}

/** The live transport that was used; a websocket variant used the socket only (no HTTP fallback). */
function assertTransport(env, transport) {
  assertUsed(env, transport)
  if (transport === 'websocket') assert.deepEqual(env.shapeRequests, [], 'no HTTP shape request (no fallback)')
}

cases('§8.1 empty table: up-to-date with zero rows, then live rows arrive', LIVE, async (transport) => {
  const ws = transport === 'websocket'
  const env = await open({ tap: !ws })
  const frames = recordFrames(env)
  try {
    await startShape(env, { transport })
    const rows = await env.page.evaluate(() => window.shape.rows.then((r) => r.length))
    assert.equal(rows, 0)
    if (ws) {
      // One subscription at -1; the server walks the log: chunk 0 (empty, not up-to-date), then
      // the batch that continues from its offset and ends with up-to-date.
      assert.deepEqual(frames.sent.filter((f) => f.type === 'subscribe').map((f) => f.offset), ['-1'])
      const [first, second] = frames.received.filter((f) => f.type === 'batch')
      assert.equal(first.up_to_date, false, 'the offset=-1 answer has no up-to-date')
      assert.deepEqual(first.messages, [])
      assert.equal(second.handle, first.handle)
      assert.equal(second.up_to_date, true)
      assert.deepEqual(second.messages.map((m) => m.headers.control), ['up-to-date'])
    } else {
      const [first, second] = env.tap.log
      assert.equal(first.query.offset, '-1')
      assert.equal(first.headers['electric-up-to-date'], undefined, 'the offset=-1 answer has no up-to-date')
      assert.equal(second.query.offset, first.headers['electric-offset'])
      assert.equal(second.query.handle, first.headers['electric-handle'])
      assert.equal(second.headers['electric-up-to-date'], '')
    }
    const s = await env.page.evaluate(() => ({ up: window.stream.isUpToDate, notes: window.notes.map((n) => n.n) }))
    assert.deepEqual(s, { up: true, notes: [0] }, 'one notification, with zero rows')
    await live(env)
    await env.tx([insert(todo(1))])
    await converge(env)
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

cases('§8.2 multi-chunk initial sync: follows electric-offset, nothing exposed before up-to-date', LIVE, async (transport) => {
  const ws = transport === 'websocket'
  const env = await open({ tap: !ws, serverArgs: [...FAST, '--chunk-bytes', '2048'] })
  const frames = recordFrames(env)
  try {
    const ops = []
    for (let i = 1; i <= 300; i++) ops.push(insert(todo(i, { title: `row ${i} ${'x'.repeat(40)}`, meta: { i } })))
    await env.tx(ops)
    await startShape(env, { transport })
    await env.page.evaluate(() => window.shape.rows)
    if (ws) {
      // One subscription; the server walks the chunks (offsets 0_0, 0_1, ...) of one handle and
      // only the batch after the last chunk is up-to-date.
      assert.equal(frames.sent.filter((f) => f.type === 'subscribe').length, 1)
      const batches = frames.received.filter((f) => f.type === 'batch')
      const upIdx = batches.findIndex((b) => b.up_to_date)
      assert.ok(upIdx >= 10, `many chunks (${upIdx} batches before up-to-date)`)
      for (let i = 0; i < upIdx; i++) {
        assert.equal(batches[i].offset, `0_${i}`, `batch ${i} is chunk ${i}`)
        assert.equal(batches[i].handle, batches[0].handle)
      }
      assert.equal(batches[upIdx].handle, batches[0].handle)
    } else {
      const nonLive = env.tap.log.filter((e) => e.query.live !== 'true')
      assert.ok(nonLive.length >= 10, `many chunks (${nonLive.length} requests)`)
      for (let i = 1; i < nonLive.length; i++) {
        assert.equal(nonLive[i].query.offset, nonLive[i - 1].headers['electric-offset'], `request ${i} follows electric-offset`)
        assert.equal(nonLive[i].query.handle, nonLive[0].headers['electric-handle'])
      }
      const upIdx = env.tap.log.findIndex((e) => e.headers?.['electric-up-to-date'] !== undefined)
      assert.equal(upIdx, nonLive.length - 1, 'the first up-to-date ends the non-live run')
      assert.ok(!env.tap.log.slice(0, upIdx).some((e) => e.query.live === 'true'), 'not live before up-to-date')
    }
    const s = await env.page.evaluate(() => ({
      notes: window.notes.map((n) => n.n),
      firstUpToDate: window.msgs.findIndex((m) => m.headers.control === 'up-to-date'),
      inserts: window.msgs.filter((m) => m.headers.operation === 'insert').length,
    }))
    assert.deepEqual(s.notes, [300], 'the Shape notifies once, with every row')
    assert.equal(s.inserts, 300)
    assert.equal(s.firstUpToDate, 300, 'the stream delivers up-to-date only after the last chunk')
    await converge(env)
    await env.tx([update({ id: 7, title: 'live' })])
    await converge(env)
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

// --long-poll-ms 1000: every poll lands in a new cursor interval (see the next test for 300).
cases('§8.3 live long-poll timeout: same offset, new cursor echoed, no notification', ['long-poll'], async (transport) => {
  const env = await open({ tap: true, serverArgs: ['--long-poll-ms', '1000'] })
  try {
    await env.tx([insert(todo(1))])
    await startShape(env, { transport })
    await waitFor(() => env.tap.log.filter((e) => e.query.live === 'true' && e.status === 200).length >= 4, 10_000, '4 live timeouts')
    const lives = env.tap.log.filter((e) => e.query.live === 'true' && e.status === 200)
    const offset = lives[0].query.offset
    for (let i = 0; i < 3; i++) {
      assert.equal(lives[i].headers['electric-offset'], offset, 'a timeout answers at the same offset')
      assert.equal(lives[i].headers['electric-up-to-date'], '')
      assert.equal(lives[i].headers['electric-has-data'], 'false')
      assert.equal(lives[i + 1].query.offset, offset)
      assert.equal(lives[i + 1].query.cursor, lives[i].headers['electric-cursor'], 'the next poll echoes the new cursor')
    }
    const s = await env.page.evaluate(() => ({ notes: window.notes.length, changes: window.msgs.filter((m) => m.key).length }))
    assert.deepEqual(s, { notes: 1, changes: 1 }, 'timeouts notify no one')
    await converge(env)
  } finally {
    await env.close()
  }
})

cases('§8.3 idle long-polls shorter than the live max-age (5 s) do not loop on browser-cache hits', ['long-poll'], async (transport) => {
  const env = await open({ tap: true, serverArgs: ['--long-poll-ms', '300'] })
  try {
    await env.tx([insert(todo(1))])
    await startShape(env, { transport })
    await live(env)
    const n0 = env.shapeRequests.length
    await sleep(3000)
    const made = env.shapeRequests.length - n0
    const reached = env.tap.log.filter((e) => e.query.live === 'true').length
    // About 3000 / 300 = 10 polls; cache hits never reach the proxy.
    assert.ok(made <= 20, `${made} live requests in 3 s (${reached} reached the server): a hot loop on cached live answers`)
  } finally {
    await env.close()
  }
})

cases('§8.4 insert / partial update / delete via live: rows equal the server after each up-to-date', LIVE, async (transport) => {
  const env = await open()
  try {
    await env.tx([insert(todo(1, { priority: 1, tags: [1, 2] })), insert(todo(2))])
    await startShape(env, { transport })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await env.tx([insert(todo(3, { meta: { a: 1 } }))])
    await converge(env)
    await env.tx([update({ id: 1, done: true })])
    const after = await converge(env)
    assert.equal(after.value[key(1)].priority, 1, 'columns not in the partial update are kept')
    const upd = await env.page.evaluate(() => window.msgs.find((m) => m.headers.operation === 'update'))
    assert.deepEqual(Object.keys(upd.value).sort(), ['done', 'id'], 'default replica: PK + changed columns')
    await env.tx([del({ id: 2 })])
    await converge(env)
    await env.tx([insert(todo(4)), update({ id: 3, title: 'same tx' }), del({ id: 1 })])
    await converge(env)
    const notes = await env.page.evaluate(() => window.notes.map((n) => n.n))
    assert.deepEqual(notes, [2, 3, 3, 2, 2], 'one notification per committed transaction')
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

cases('§8.5 PK-changing update: delete (key_change_to) + insert (key_change_from), old key gone', LIVE, async (transport) => {
  const env = await open()
  try {
    await env.tx([insert(todo(1, { priority: 9 })), insert(todo(2))])
    await startShape(env, { transport })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await env.tx([{ op: 'update', table: 'todos', old_key: { id: 1 }, row: { id: 10 } }])
    const want = await converge(env)
    assert.ok(!(key(1) in want.value) && key(10) in want.value)
    assert.equal(want.value[key(10)].priority, 9)
    const ms = await env.page.evaluate(() => window.msgs.filter((m) => m.headers.key_change_to || m.headers.key_change_from))
    assert.equal(ms.length, 2)
    assert.equal(ms[0].headers.operation, 'delete')
    assert.equal(ms[0].key, key(1))
    assert.equal(ms[0].headers.key_change_to, key(10))
    assert.equal(ms[1].headers.operation, 'insert')
    assert.equal(ms[1].key, key(10))
    assert.equal(ms[1].headers.key_change_from, key(1))
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

cases('§8.6 replica=full: full rows and old_value, deletes carry the row, its own handle', LIVE, async (transport) => {
  const env = await open()
  const params = { table: 'todos', replica: 'full' }
  try {
    await env.tx([insert(todo(1, { priority: 3 })), insert(todo(2))])
    await startShape(env, { transport }, params)
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await env.tx([update({ id: 1, title: 'changed' })])
    await converge(env, params)
    await env.tx([del({ id: 2 })])
    await converge(env, params)
    const ms = await env.page.evaluate(() => window.msgs.filter((m) => m.headers.lsn))
    const upd = ms.find((m) => m.headers.operation === 'update')
    assert.deepEqual(upd.value, { id: '1n', title: 'changed', done: false, created_at: null, meta: null, tags: null, priority: 3, score: null })
    assert.deepEqual(upd.old_value, { title: 'todo 1' })
    const d = ms.find((m) => m.headers.operation === 'delete')
    assert.equal(d.value.title, 'todo 2', 'a full-replica delete carries the whole row')
    const handle = await env.page.evaluate(() => window.stream.shapeHandle)
    assert.notEqual(handle, (await truth(env)).handle, 'another handle than the default-replica shape')
    assert.equal(handle, (await truth(env, params)).handle)
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

// HTTP only: over /v1/ws the server pushes every chunk without waiting for the page, so holding
// the first batch cannot put a DELETE between two chunks (it becomes the live 409 of §8.8).
cases('§8.7 409 during the initial sync: partial data dropped, restart at -1 with a cache buster', NO_WS, async (transport) => {
  const env = await open({ tap: true, serverArgs: [...FAST, '--chunk-bytes', '1024'] })
  try {
    const ops = []
    for (let i = 1; i <= 60; i++) ops.push(insert(todo(i)))
    await env.tx(ops)
    // Hold the stream after its first batch (backpressure), rotate the shape and change the rows.
    await env.page.evaluate(() => {
      window.held = 0
      window.holdFirst = new Promise((r) => (window.releaseFirst = r))
    })
    await startShape(env, { transport })
    await env.page.evaluate(() => {
      window.stream.subscribe(() => (window.held++ === 0 ? window.holdFirst : undefined))
    })
    await waitFor(() => env.page.evaluate(() => window.held >= 1), 10_000, 'the first batch')
    const del409 = await fetch(`${env.server}/v1/shape?table=todos`, { method: 'DELETE' })
    assert.equal(del409.status, 202)
    await env.tx([del({ id: 1 }), del({ id: 60 }), update({ id: 30, title: 'after rotation' }), insert(todo(61))])
    await env.page.evaluate(() => window.releaseFirst())
    await env.page.evaluate(() => window.shape.rows)
    const want = await converge(env)
    assert.equal(Object.keys(want.value).length, 59)
    const log = env.tap.log
    const i409 = log.findIndex((e) => e.status === 409)
    assert.ok(i409 > 0, 'a 409 was answered')
    const next = log[i409 + 1]
    assert.equal(next.query.offset, '-1', 'restarts at -1')
    assert.ok(next.query['cache-buster'], 'with a cache buster')
    assert.equal(next.query.handle ?? log[i409].headers['electric-handle'], log[i409].headers['electric-handle'])
    const s = await env.page.evaluate(() => ({
      notes: window.notes.map((n) => n.n), refetch: window.msgs.filter((m) => m.headers.control === 'must-refetch').length,
    }))
    assert.deepEqual(s.notes, [59], 'one notification, after the resync; no stale or duplicate rows')
    assert.equal(s.refetch, 1)
  } finally {
    await env.close()
  }
})

/** 409 while live, caused by a TRUNCATE or a shape deletion. */
function liveRefetch(cause) {
  return async (transport) => {
    const ws = transport === 'websocket'
    const env = await open({ tap: !ws })
    const frames = recordFrames(env)
    try {
      await env.tx([insert(todo(1)), insert(todo(2))])
      await startShape(env, { transport })
      await env.page.evaluate(() => window.shape.rows)
      await live(env)
      const firstHandle = await env.page.evaluate(() => window.stream.shapeHandle)
      if (cause === 'truncate') await env.tx([{ op: 'truncate', table: 'todos' }, insert(todo(5)), insert(todo(6)), insert(todo(7))])
      else {
        const r = await fetch(`${env.server}/v1/shape?table=todos`, { method: 'DELETE' })
        assert.equal(r.status, 202)
        await env.tx([insert(todo(3))])
      }
      await waitFor(() => env.page.evaluate(() => window.msgs.some((m) => m.headers.control === 'must-refetch')), 10_000, 'must-refetch')
      await env.page.evaluate(() => window.shape.rows)
      await converge(env)
      const s = await env.page.evaluate(() => ({ notes: window.notes.map((n) => n.n), handle: window.stream.shapeHandle, errors: window.errors }))
      assert.notEqual(s.handle, firstHandle)
      assert.ok(s.notes.every((n) => n > 0), `no empty-state flash: ${JSON.stringify(s.notes)}`)
      assert.deepEqual(s.errors, [])
      await sleep(700)
      // Over the socket a subscribe at -1 is the request at offset=-1, must-refetch the 409.
      const restarts = ws
        ? frames.sent.filter((f) => f.type === 'subscribe' && f.offset === '-1').length
        : env.tap.log.filter((e) => e.query.offset === '-1').length
      assert.ok(restarts <= 3, `no refetch loop (${restarts} requests at offset=-1)`)
      const n409 = ws
        ? frames.received.filter((f) => f.type === 'must-refetch').length
        : env.tap.log.filter((e) => e.status === 409).length
      assert.ok(n409 >= 1 && n409 <= 2, `one 409 (${n409})`)
      assertTransport(env, transport)
    } finally {
      await env.close()
    }
  }
}

cases('§8.8 409 while live after TRUNCATE: must-refetch, rebuilt, no empty flash', LIVE, liveRefetch('truncate'))
cases('§8.8 409 while live after shape deletion: must-refetch, rebuilt, no loop', LIVE, liveRefetch('delete'))
// A proxy that strips HTTP headers cannot touch a WebSocket frame: HTTP transports only.
cases('§8.8 409 while live without electric-handle (stripped by a proxy): still rebuilt, no loop', NO_WS, async (transport) => {
  const env = await open({ tap: true })
  env.tap.rules.push(() => ({ strip: ['electric-handle'], when: (status) => status === 409 }))
  try {
    await env.tx([insert(todo(1)), insert(todo(2))])
    await startShape(env, { transport })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    const r = await fetch(`${env.server}/v1/shape?table=todos`, { method: 'DELETE' })
    assert.equal(r.status, 202)
    await env.tx([insert(todo(3))])
    await waitFor(() => env.page.evaluate(() => window.msgs.some((m) => m.headers.control === 'must-refetch')), 10_000, 'must-refetch')
    await converge(env)
    const notes = await env.page.evaluate(() => window.notes.map((n) => n.n))
    assert.ok(notes.every((n) => n > 0), `no empty-state flash: ${JSON.stringify(notes)}`)
    await sleep(700)
    const restarts = env.tap.log.filter((e) => e.query.offset === '-1').length
    assert.ok(restarts <= 3, `no refetch loop (${restarts} requests at offset=-1)`)
    assert.ok(env.tap.log.some((e) => e.status === 409), 'a 409 was answered')
    assertTransport(env, transport)
  } finally {
    await env.close()
  }
})

cases('§8.9 resume from a persisted handle+offset across a server restart; invalidated handle → 409, full reset', LIVE, async (transport) => {
  const ws = transport === 'websocket'
  const dir = mkdtempSync(join(tmpdir(), 'eddy-interop-'))
  const data = join(dir, 'data.sqlite')
  let server = await startEddyServer([...FAST, '--data', data])
  // The tap forwards to whichever server runs now; truth reads it directly. The websocket
  // variant talks to the server directly and reads the frames instead.
  const env = await open({ tap: !ws, upstream: () => server.url })
  const frames = recordFrames(env)
  env.server = server.url
  if (ws) env.base = server.url
  const tx = async (ops) => {
    const r = await fetch(`${server.url}/v1/tx`, { method: 'POST', body: JSON.stringify({ ops }) })
    assert.equal(r.status, 200, await r.text())
  }
  try {
    await tx([insert(todo(1)), insert(todo(2)), insert(todo(3))])
    await startShape(env, { transport })
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await tx([update({ id: 2, title: 'seen live' })])
    await converge(env)
    const saved = await env.page.evaluate(() => ({ handle: window.stream.shapeHandle, offset: window.stream.lastOffset }))
    await env.page.evaluate(() => window.ac.abort())
    await tx([insert(todo(4)), del({ id: 1 })])
    await server.stop()
    server = await startEddyServer([...FAST, '--data', data])
    env.server = server.url
    if (ws) env.base = server.url
    else env.tap.log.length = 0
    frames.sent.length = 0
    frames.received.length = 0
    await startShape(env, { transport, offset: saved.offset, handle: saved.handle })
    await waitFor(() => env.page.evaluate(() => window.stream.isUpToDate), 10_000, 'resumed up-to-date')
    if (ws) {
      const subs = frames.sent.filter((f) => f.type === 'subscribe')
      assert.deepEqual(subs.map((f) => [f.offset, f.handle]), [[saved.offset, saved.handle]], 'no snapshot re-download')
    } else {
      const first = env.tap.log[0]
      assert.equal(first.query.offset, saved.offset)
      assert.equal(first.query.handle, saved.handle)
      assert.ok(!env.tap.log.some((e) => e.query.offset === '-1'), 'no snapshot re-download')
    }
    const resumed = await env.page.evaluate(() => window.msgs.filter((m) => m.key).map((m) => [m.headers.operation, m.key]))
    assert.deepEqual(resumed, [['insert', key(4)], ['delete', key(1)]], 'only the changes after the saved offset')
    await tx([insert(todo(5))])
    await waitFor(() => env.page.evaluate(() => window.msgs.some((m) => m.key === '"public"."todos"/"5"')), 10_000, 'live after resume')
    await env.page.evaluate(() => window.ac.abort())
    // Invalidate the handle, then resume with it: 409 and a full reset. (A custom param keeps
    // the browser's HTTP cache from answering with the earlier resume's 200.)
    const r = await fetch(`${server.url}/v1/shape?table=todos`, { method: 'DELETE' })
    assert.equal(r.status, 202)
    if (!ws) env.tap.log.length = 0
    frames.sent.length = 0
    frames.received.length = 0
    await startShape(env, { transport, offset: saved.offset, handle: saved.handle }, { table: 'todos', app: 'reload' })
    await env.page.evaluate(() => window.shape.rows)
    if (ws) {
      const subs = frames.sent.filter((f) => f.type === 'subscribe')
      assert.deepEqual(subs.map((f) => f.offset), [saved.offset, '-1'], 'resumed, then restarted at -1')
      assert.equal(frames.received.filter((f) => f.type === 'must-refetch' && f.id === subs[0].id).length, 1, 'the resume got a 409')
    } else {
      assert.equal(env.tap.log[0].status, 409)
      assert.equal(env.tap.log[1].query.offset, '-1')
    }
    const want = await converge(env)
    assert.deepEqual(Object.keys(want.value).sort(), [key(2), key(3), key(4), key(5)].sort())
    if (ws) assertTransport(env, transport)
  } finally {
    await env.close()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})

const TYPES_SCHEMA = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE typed (
  id int8 PRIMARY KEY,
  i2 int2, i4 int4, i8 int8, f8 float8, f4 float4, b bool, j json, jb jsonb,
  nested int4[][], texts text[], moods mood[], num numeric, u uuid, ts timestamptz, by bytea,
  "we,ird" text, "qu""ote" text, "sp ace" text
);
`

cases('§8.11 type matrix: integers to ±2^63, NaN/±Infinity, bool, json, nested arrays, NULL vs "NULL", enums, quoted columns', LIVE, async (transport) => {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-types-'))
  const schema = join(dir, 'types.sql')
  writeFileSync(schema, TYPES_SCHEMA)
  const env = await open({ serverArgs: [...FAST, '--schema', schema] })
  const columns = ['id', 'i2', 'i4', 'i8', 'f8', 'f4', 'b', 'j', 'jb', 'nested', 'texts', 'moods', 'num', 'u', 'ts', 'by', 'we,ird', 'qu"ote', 'sp ace']
  const params = { table: 'typed', columns }
  const rows = [
    `{"id":1,"i2":-32768,"i4":2147483647,"i8":"9223372036854775807","f8":"NaN","f4":"Infinity","b":true,"j":{"z":1,"a":[1,2]},"jb":{"z":1,"a":null},"nested":[[1,null],[3,4]],"texts":["NULL",null,"a,b","q\\"x"],"moods":["sad","happy"],"num":"12.50","u":"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11","ts":"2024-01-02T03:04:05.5Z","by":"\\\\xdeadbeef","we,ird":"c","qu\\"ote":"q","sp ace":"s"}`,
    `{"id":"-9223372036854775808","i2":0,"i4":-1,"i8":"-9223372036854775808","f8":"-Infinity","f4":1.5,"b":false,"j":[],"jb":"str","nested":[],"texts":[],"moods":[],"num":"-0.0","u":null,"ts":null,"by":null,"we,ird":null,"qu\\"ote":null,"sp ace":null}`,
  ]
  const post = async (row) => {
    const r = await fetch(`${env.server}/v1/tx`, { method: 'POST', body: `{"ops":[{"op":"insert","table":"typed","row":${row}}]}` })
    assert.equal(r.status, 200, await r.text())
  }
  try {
    await post(rows[0])
    await startShape(env, { transport }, params)
    await env.page.evaluate(() => window.shape.rows)
    await live(env)
    await post(rows[1]) // the second row arrives live
    const want = await converge(env, params)
    const r = await env.page.evaluate(() => {
      const v = window.shape.currentValue
      const a = v.get('"public"."typed"/"1"')
      const b = v.get('"public"."typed"/"-9223372036854775808"')
      return {
        i8max: a.i8 === 9223372036854775807n, i8min: b.i8 === -9223372036854775808n, idType: typeof b.id,
        nan: Number.isNaN(a.f8), inf: a.f4 === Infinity, ninf: b.f8 === -Infinity, i2: a.i2, bools: [a.b, b.b],
        j: a.j, jb: a.jb, jb2: b.jb, nested: a.nested, texts: a.texts, moods: a.moods, num: a.num, u: a.u,
        ts: a.ts, by: a.by, quoted: [a['we,ird'], a['qu"ote'], a['sp ace']],
      }
    })
    assert.deepEqual(r, {
      i8max: true, i8min: true, idType: 'bigint', nan: true, inf: true, ninf: true, i2: -32768, bools: [true, false],
      j: { z: 1, a: [1, 2] }, jb: { a: null, z: 1 }, jb2: 'str', nested: [[1, null], [3, 4]],
      texts: ['NULL', null, 'a,b', 'q"x'], moods: ['sad', 'happy'], num: '12.50',
      u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ts: '2024-01-02 03:04:05.5+00', by: '\\xdeadbeef', quoted: ['c', 'q', 's'],
    })
    assert.equal(Object.keys(want.value).length, 2)
    assertTransport(env, transport)
  } finally {
    await env.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

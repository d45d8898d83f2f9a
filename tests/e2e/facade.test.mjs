// The built package in Node (no browser): `import 'eddy-sync'` initialises the wasm by itself,
// option errors are thrown synchronously as typed classes with the core's `code`, and errors
// reported by the core map to the official client's classes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as eddy from 'eddy-sync'

const url = 'http://127.0.0.1:9/v1/shape'
const thrown = (fn) => {
  try {
    fn()
  } catch (e) {
    return { cls: e.constructor.name, code: e.code, isError: e instanceof Error, eddy: e instanceof eddy.EddyError }
  }
  return undefined
}

test('the package entry exports the official surface', () => {
  for (const name of ['ShapeStream', 'Shape', 'FetchError', 'FetchBackoffAbortError', 'MissingHeadersError',
    'ParserNullValueError', 'isChangeMessage', 'isControlMessage', 'BackoffDefaults']) {
    assert.ok(eddy[name], name)
  }
  assert.equal(eddy.ShapeStream.Replica.FULL, 'full')
  assert.equal(eddy.isChangeMessage({ key: 'k', value: {}, headers: { operation: 'insert' } }), true)
  assert.equal(eddy.isControlMessage({ headers: { control: 'up-to-date' } }), true)
})

test('bad options throw typed errors with the core code, before any request', () => {
  assert.deepEqual(thrown(() => new eddy.ShapeStream({ params: { table: 't' } })),
    { cls: 'MissingShapeUrlError', code: 'EDDY_REQUEST_EMPTY_URL', isError: true, eddy: true })
  assert.deepEqual(thrown(() => new eddy.ShapeStream({ url, params: { table: 't', offset: '1' } })),
    { cls: 'ReservedParamError', code: 'EDDY_REQUEST_RESERVED_PARAM', isError: true, eddy: true })
  assert.deepEqual(thrown(() => new eddy.ShapeStream({ url, params: { table: 't' }, offset: '3_1' })),
    { cls: 'MissingShapeHandleError', code: 'EDDY_STREAM_MISSING_HANDLE', isError: true, eddy: true })
  assert.deepEqual(thrown(() => new eddy.ShapeStream({ url, params: { table: 't' }, offset: 'soon', handle: 'h' })),
    { cls: 'InvalidShapeOptionsError', code: 'EDDY_OFFSET_INVALID', isError: true, eddy: true })
  assert.deepEqual(thrown(() => new eddy.ShapeStream({ url, params: { table: 't' }, transport: 'pigeon' })),
    { cls: 'InvalidShapeOptionsError', code: 'EDDY_WEB_INVALID_OPTION_VALUE', isError: true, eddy: true })
  assert.deepEqual(thrown(() => new eddy.ShapeStream({ url, params: { table: 't' }, signal: {} })),
    { cls: 'InvalidSignalError', code: 'EDDY_WEB_INVALID_SIGNAL', isError: true, eddy: true })
  assert.deepEqual(thrown(() => new eddy.ShapeStream({ url, params: {} })),
    { cls: 'InvalidShapeOptionsError', code: 'EDDY_WEB_MISSING_TABLE', isError: true, eddy: true })
  assert.equal(thrown(() => new eddy.ShapeStream({ url, params: { table: 't', where: 'x = $1', params: ['1'] } })), undefined)
})

test('a stream is lazy: nothing starts before the first subscriber', () => {
  const s = new eddy.ShapeStream({ url, params: { table: 't' }, offset: '5_2', handle: 'h-1' })
  assert.equal(s.hasStarted(), false)
  assert.equal(s.status, 'connecting')
  assert.equal(s.lastOffset, '5_2')
  assert.equal(s.shapeHandle, 'h-1')
  assert.equal(s.isUpToDate, false)
  assert.equal(s.isLoading(), true)
  assert.equal(s.lastSyncedAt(), undefined)
  assert.equal(s.lastSynced(), Infinity)
})

test('an aborted signal closes the stream at construction', () => {
  const ac = new AbortController()
  ac.abort()
  const s = new eddy.ShapeStream({ url, params: { table: 't' }, signal: ac.signal })
  s.subscribe(() => {})
  assert.equal(s.status, 'closed')
})

test('a column named __proto__ is an own property, not the prototype', async () => {
  // Same module instance as the package's, already initialised by `import 'eddy-sync'`.
  const core = await import('../../pkg/web/eddy.js')
  const log = new core.ShapeLog()
  log.setSchema('{"id":{"type":"int4","pk_index":0},"__proto__":{"type":"text"}}')
  const body = '[{"key":"k1","value":{"id":"1","__proto__":"x"},"headers":{"operation":"insert"}},' +
    '{"headers":{"control":"up-to-date"}}]'
  assert.equal(log.ingest(new TextEncoder().encode(body)), true)
  const [row] = log.rows()
  assert.equal(Object.getPrototypeOf(row), Object.prototype)
  assert.deepEqual(Object.getOwnPropertyDescriptor(row, '__proto__'),
    { value: 'x', writable: true, enumerable: true, configurable: true })
  assert.equal(row.id, 1)
  log.free()
})

test('the bulk JSON read path gives exactly the per-cell rows, for every value kind', async () => {
  const core = await import('../../pkg/web/eddy.js')
  const { rowsFromBulk, entriesFromBulk } = await import('../../js/dist/bulk.js')
  const { readFileSync } = await import('node:fs')
  const fixture = (n) => readFileSync(new URL(`../fixtures/${n}`, import.meta.url))
  // The captured session (int8 ids, jsonb, nested text arrays, -Infinity, timestamps, NULLs).
  const log = new core.ShapeLog()
  log.setSchema(fixture('session.schema.json').toString('utf8').trim())
  for (const i of [0, 1, 2, 3]) log.ingest(fixture(`session.${i}.json`))
  assert.deepStrictEqual(rowsFromBulk(log.rowsBulk(false)), log.rows())
  assert.ok(log.rows().some((r) => r.score === -Infinity))
  // Edge values: int8 extremes and arrays, NaN, ±Infinity, -0, escapes, unicode, __proto__.
  const edge = new core.ShapeLog()
  edge.setSchema(JSON.stringify({
    id: { type: 'int8', pk_index: 0 }, big: { type: 'int8', dims: 2 }, f: { type: 'float8' }, g: { type: 'float4', dims: 1 },
    t: { type: 'text' }, j: { type: 'json' }, b: { type: 'bool' }, n: { type: 'int2' }, ['__proto__']: { type: 'text' },
  }))
  const rowsIn = [
    { id: '-9223372036854775808', big: '{{1,NULL},{9223372036854775807,-3}}', f: 'NaN', g: '{Infinity,-Infinity,1.5}', t: 'a"\\\n\u0001é😀', j: '{"k":[1,{"z":null}],"s":"x"}', b: 'f', n: '-32768', ['__proto__']: 'p' },
    { id: '0', big: null, f: '-0', g: null, t: '', j: 'null', b: 't', n: '7', ['__proto__']: null },
    { id: '2', big: '{}', f: '1e-300', g: '{NaN}', t: 'NULL', j: '[]', b: null, n: null, ['__proto__']: 'q' },
  ]
  const body = JSON.stringify([
    ...rowsIn.map((v, i) => ({ key: `k${i}`, value: Object.fromEntries(Object.entries(v)), headers: { operation: 'insert' } })),
    { headers: { control: 'up-to-date' } },
  ])
  assert.equal(edge.ingest(new TextEncoder().encode(body)), true)
  const perCell = edge.rows()
  const bulk = rowsFromBulk(edge.rowsBulk(false))
  assert.deepStrictEqual(bulk, perCell)
  assert.equal(bulk[0].id, -9223372036854775808n)
  assert.deepStrictEqual(bulk[0].big, [[1n, null], [9223372036854775807n, -3n]])
  assert.ok(Number.isNaN(bulk[0].f) && Object.is(bulk[1].f, -0))
  assert.equal(Object.getPrototypeOf(bulk[0]), Object.prototype)
  assert.equal(Object.getOwnPropertyDescriptor(bulk[0], '__proto__').value, 'p')
  assert.deepStrictEqual(entriesFromBulk(edge.rowsBulk(true)).map(([k]) => k), ['k0', 'k1', 'k2'])
})

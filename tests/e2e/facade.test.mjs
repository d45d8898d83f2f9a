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

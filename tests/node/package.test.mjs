// Node tests of the built web package (pkg/web): the same artifact the browser loads (after
// wasm-opt), initialised synchronously from its bytes. Proves it loads, types rows through the
// schema header, and throws real Error objects with a stable code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const pkg = new URL('../../pkg/web/', import.meta.url);
const fixtures = new URL('../fixtures/', import.meta.url);
const eddy = await import(new URL('eddy.js', pkg));
eddy.initSync({ module: readFileSync(new URL('eddy_bg.wasm', pkg)) });

const fixture = (name) => readFileSync(new URL(name, fixtures));

test('the captured session materializes to typed rows', () => {
  const log = new eddy.ShapeLog();
  log.setSchema(fixture('session.schema.json').toString('utf8').trim());
  assert.equal(log.ingest(fixture('session.0.json')), false);
  assert.equal(log.size, 0);
  for (const i of [1, 2, 3]) assert.equal(log.ingest(fixture(`session.${i}.json`)), true);
  const rows = log.rows();
  assert.equal(rows.length, 3);
  const byId = new Map(rows.map((r) => [r.id, r]));
  assert.deepEqual([...byId.keys()].sort(), [1n, 30n, 4n].sort());
  assert.deepEqual(byId.get(1n), {
    id: 1n, title: 'buy milk', done: true, n: 3, score: 1.5, meta: { prio: 1 },
    tags: ['home', 'NULL', null], created_at: '2026-11-01 09:00:00+00',
  });
  assert.equal(byId.get(30n).score, -Infinity);
  assert.deepEqual(byId.get(30n).tags, [['a', 'b'], ['c', 'd']]);
  log.free();
});

test('a malformed body throws an Error with a stable code and applies nothing', () => {
  const log = new eddy.ShapeLog();
  assert.throws(
    () => log.ingest(fixture('session.2.json').subarray(0, 30)),
    (e) => e instanceof Error && e.name === 'ProtocolError' && e.code === 'EDDY_MESSAGE_JSON',
  );
  assert.equal(log.size, 0);
});

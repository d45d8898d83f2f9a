// Node tests of the built web package (pkg/web): the same artifact the browser loads, initialised
// synchronously from its bytes. Proves the wasm loads after wasm-opt and that errors arrive as
// real Error objects with a stable code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const pkg = new URL('../../pkg/web/', import.meta.url);
const eddy = await import(new URL('eddy.js', pkg));
eddy.initSync({ module: readFileSync(new URL('eddy_bg.wasm', pkg)) });

const body = JSON.stringify([
  { key: '"public"."items"/"1"', value: { id: '1', title: 'one' }, headers: { operation: 'insert', relation: ['public', 'items'] } },
  { headers: { control: 'up-to-date', global_last_seen_lsn: '7' } },
]);

test('parses a body in one call and hands messages back as wire JSON', () => {
  const log = new eddy.ShapeLog();
  assert.equal(log.ingest(new TextEncoder().encode(body)), 2);
  const msgs = JSON.parse(log.messagesJson());
  assert.deepEqual(msgs[0].value, { id: '1', title: 'one' });
  assert.equal(msgs[1].headers.control, 'up-to-date');
  log.free();
});

test('a malformed body throws an Error with a stable code and keeps nothing', () => {
  const log = new eddy.ShapeLog();
  assert.throws(
    () => log.ingest(new TextEncoder().encode(body.slice(0, 30))),
    (e) => e instanceof Error && e.name === 'ProtocolError' && e.code === 'EDDY_MESSAGE_JSON',
  );
  assert.equal(log.size, 0);
});

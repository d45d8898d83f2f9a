// The official client's live modes against eddy-server: long-poll timeouts, SSE (with server
// closes and reconnects), and 409 must-refetch mid-sync and while live (DELETE /v1/shape,
// truncate). After every up-to-date the client's rows must equal the ground truth.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, itemKey, sleep } from './harness.mjs';

const T = { timeout: 30000 };

async function withServer(fn, opts) {
  const s = await startServer(opts);
  try {
    await fn(s);
  } finally {
    await s.stop();
  }
}

const ins = (table, row) => ({ op: 'insert', table, row });
const upd = (table, row) => ({ op: 'update', table, row });
const del = (table, row) => ({ op: 'delete', table, row });
const item = (id, extra = {}) => ({ id, title: `t${id}`, done: id % 2 === 0, n: id, tags: [id], ...extra });
const q = (entry, name) => new URL(entry.url).searchParams.get(name);
const isLive = (entry) => q(entry, 'live') === 'true';

/** Apply `ops`, then wait for the client to equal the new truth (states in between: old or new). */
async function step(s, c, params, ops, prev) {
  const since = c.states.length;
  await s.tx(ops);
  const truth = await s.truth(params);
  await c.converge(truth, { since, allowed: prev ? [prev] : [] });
  return truth;
}

test('long-poll timeout: 200 [up-to-date] at the same offset, new cursor echoed, no notification; then continues', T, () =>
  withServer(async (s) => {
    const p = { table: 'items' };
    await s.tx([ins('items', item(1))]);
    const c = s.sync(p);
    let truth = await s.truth(p);
    await c.converge(truth);
    let notifications = 0;
    const unsub = c.shape.subscribe(() => notifications++);
    const done = () => c.requests.filter((r) => isLive(r) && r.status !== undefined);
    await c.until(() => done().length >= 3, 8000, 'three completed live long-polls');
    const polls = done();
    for (const r of polls.slice(0, 3)) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['electric-up-to-date'], '');
      assert.equal(r.headers['electric-offset'], q(r, 'offset'), 'timeout answers at the same offset');
      assert.equal(r.headers['electric-has-data'], 'false');
      assert.match(r.headers['electric-cursor'], /^\d+$/);
      assert.notEqual(r.headers['electric-cursor'], q(r, 'cursor'), 'the cursor changes');
    }
    const live = c.requests.filter(isLive);
    for (let i = 1; i < 3; i++) {
      assert.equal(q(live[i], 'cursor'), live[i - 1].headers['electric-cursor'], 'the client echoes the cursor');
    }
    assert.equal(notifications, 0, 'empty live timeouts do not notify');
    unsub();
    truth = await step(s, c, p, [ins('items', item(2)), upd('items', { id: 1, title: 'x' })], truth);
    assert.equal(c.last.value.get(itemKey(1)).title, 'x');
    assert.equal(c.errors.length, 0);
  }));

test('SSE live mode: changes arrive, the server closes the stream, the client reconnects and continues', T, () =>
  withServer(async (s) => {
    const p = { table: 'items' };
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const c = s.sync(p, { liveSse: true });
    let truth = await s.truth(p);
    await c.converge(truth);
    const sse = () => c.requests.filter((r) => q(r, 'live_sse') === 'true');
    await c.until(() => sse().length >= 1, 8000, 'an SSE request');
    truth = await step(s, c, p, [ins('items', item(3))], truth);
    truth = await step(s, c, p, [upd('items', { id: 1, title: 'sse' }), del('items', { id: 2 })], truth);
    // A multi-op last transaction: the client resumes SSE at <lsn>_0 and may see it again (§0).
    truth = await step(s, c, p, [ins('items', item(4)), ins('items', item(5)), upd('items', { id: 4, n: 40 })], truth);
    const first = sse()[0];
    assert.equal(first.status, 200);
    assert.match(first.headers['content-type'], /^text\/event-stream/);
    assert.equal(first.headers['cache-control'], 'public, max-age=59');
    // --sse-timeout-ms 1500: wait for the server to end the stream and the client to reconnect.
    const n = sse().length;
    await c.until(() => sse().length > n, 8000, 'an SSE reconnect');
    await sleep(50);
    truth = await step(s, c, p, [ins('items', item(6)), del('items', { id: 3 })], truth);
    assert.deepEqual([...c.last.value.keys()].sort(), [1, 4, 5, 6].map(itemKey).sort());
    assert.equal(c.last.value.get(itemKey(4)).n, 40);
    assert.equal(c.errors.length, 0);
    assert.ok(sse().every((r) => r.status === undefined || r.status === 200), 'no SSE request failed');
  }));

test('409 mid-sync (DELETE /v1/shape between chunks): restart at -1 with the new handle, no stale rows', T, () =>
  withServer(async (s) => {
    const p = { table: 'big' };
    const rows = Array.from({ length: 200 }, (_, i) => ins('big', { id: i + 1, body: `r${i + 1}`.padEnd(50, '.') }));
    await s.tx(rows);
    let deleted = false;
    const c = s.sync(p, {
      onResponse: async (entry) => {
        if (!deleted && q(entry, 'offset') === '0_1' && entry.status === 200) {
          deleted = true;
          assert.equal(await s.deleteShape(p), 202);
          // Rows the old snapshot had and the new one must not (and vice versa).
          await s.tx([del('big', { id: 1 }), upd('big', { id: 2, body: 'changed' }), ins('big', { id: 1000, body: 'new' })]);
        }
      },
    });
    await c.until(() => c.states.length >= 1, 10000, 'first up-to-date');
    const truth = await s.truth(p);
    await c.converge(truth);
    assert.ok(deleted, 'the shape was deleted mid-sync');
    const statuses = c.requests.map((r) => r.status);
    const i409 = statuses.indexOf(409);
    assert.ok(i409 > 0, `a 409 was seen: ${statuses}`);
    const after = c.requests[i409 + 1];
    assert.equal(q(after, 'offset'), '-1', 'restarts at offset -1');
    assert.equal(q(after, 'handle'), c.requests[i409].headers['electric-handle'], 'with the handle from the 409');
    assert.ok(q(after, 'cache-buster') || q(after, 'expired_handle'), 'with a cache buster');
    assert.equal(c.states.length, 1, 'no up-to-date before the resync finished');
    const v = c.last.value;
    assert.equal(v.size, 200);
    assert.equal(v.has('"public"."big"/"1"'), false);
    assert.equal(v.get('"public"."big"/"2"').body, 'changed');
    assert.equal(v.get('"public"."big"/"1000"').body, 'new');
    assert.equal(c.errors.length, 0);
  }));

test('409 while live (DELETE /v1/shape): the held long-poll gets 409, state rebuilt without an empty flash', T, () =>
  withServer(async (s) => {
    const p = { table: 'items' };
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const c = s.sync(p);
    let truth = await s.truth(p);
    await c.converge(truth);
    const oldHandle = c.stream.shapeHandle;
    await c.until(() => c.requests.some((r) => isLive(r) && r.status === undefined), 8000, 'a live request in flight');
    const since = c.states.length;
    assert.equal(await s.deleteShape(p), 202);
    await c.until(() => c.requests.some((r) => r.status === 409), 8000, 'a 409');
    const conflict = c.requests.find((r) => r.status === 409);
    assert.ok(isLive(conflict), 'the held live request itself answers 409');
    assert.equal(q(conflict, 'handle'), oldHandle);
    await c.until(() => c.stream.shapeHandle !== oldHandle && c.states.length > since, 8000, 'resync');
    truth = await s.truth(p);
    assert.notEqual(truth.handle, oldHandle);
    assert.equal(conflict.headers['electric-handle'], truth.handle, 'the 409 names the replacement handle');
    await c.converge(truth, { since });
    assert.equal(c.stream.shapeHandle, truth.handle);
    truth = await step(s, c, p, [ins('items', item(3))], truth);
    assert.equal(c.last.value.size, 3);
    assert.equal(c.errors.length, 0);
  }));

test('409 while live (truncate): rows cleared, then new rows arrive', T, () =>
  withServer(async (s) => {
    const p = { table: 'items' };
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const c = s.sync(p);
    let truth = await s.truth(p);
    await c.converge(truth);
    const oldHandle = c.stream.shapeHandle;
    truth = await step(s, c, p, [{ op: 'truncate', table: 'items' }], truth);
    assert.equal(c.last.value.size, 0);
    assert.notEqual(c.stream.shapeHandle, oldHandle);
    assert.ok(c.requests.some((r) => r.status === 409));
    truth = await step(s, c, p, [ins('items', item(7))], truth);
    assert.deepEqual([...c.last.value.keys()], [itemKey(7)]);
    assert.equal(c.errors.length, 0);
  }));

test('409 while live in SSE mode (DELETE /v1/shape): stream ends, reconnect gets 409, resync', T, () =>
  withServer(async (s) => {
    const p = { table: 'items' };
    await s.tx([ins('items', item(1))]);
    const c = s.sync(p, { liveSse: true });
    let truth = await s.truth(p);
    await c.converge(truth);
    await c.until(() => c.requests.some((r) => q(r, 'live_sse') === 'true' && r.status === 200), 8000, 'SSE open');
    const oldHandle = c.stream.shapeHandle;
    const since = c.states.length;
    assert.equal(await s.deleteShape(p), 202);
    await c.until(() => c.requests.some((r) => r.status === 409), 8000, 'a 409');
    await c.until(() => c.stream.shapeHandle !== oldHandle && c.states.length > since, 8000, 'resync');
    truth = await s.truth(p);
    await c.converge(truth, { since });
    truth = await step(s, c, p, [ins('items', item(2))], truth);
    assert.equal(c.last.value.size, 2);
    assert.equal(c.errors.length, 0);
  }));

test('resume from a stored (handle, offset): catch-up without the snapshot; an invalidated handle resets', T, () =>
  withServer(async (s) => {
    const p = { table: 'items' };
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const first = s.sync(p);
    let truth = await s.truth(p);
    await first.converge(truth);
    const stored = { handle: first.stream.shapeHandle, offset: first.stream.lastOffset, rows: first.last.value };
    first.close();
    await s.tx([ins('items', item(3)), upd('items', { id: 1, title: 'while away' })]);
    // Resume: only the changes since the stored offset arrive (the Shape starts empty, so it
    // holds exactly the rows those changes carry).
    const resumed = s.sync(p, { handle: stored.handle, offset: stored.offset });
    await resumed.until((x) => x.states.length >= 1, 8000, 'resume up-to-date');
    assert.equal(q(resumed.requests[0], 'offset'), stored.offset);
    assert.equal(q(resumed.requests[0], 'handle'), stored.handle);
    assert.equal(resumed.requests[0].status, 200);
    assert.ok(resumed.requests.every((r) => q(r, 'offset') !== '-1'), 'no snapshot re-download');
    const ops = resumed.batches.flat().filter((m) => m.headers?.operation).map((m) => [m.headers.operation, m.key]);
    assert.deepEqual(ops, [
      ['insert', itemKey(3)],
      ['update', itemKey(1)],
    ]);
    resumed.close();
    // Invalidate the handle, then resume again: 409, full resync to the truth.
    assert.equal(await s.deleteShape(p), 202);
    const reset = s.sync(p, { handle: stored.handle, offset: stored.offset });
    truth = await s.truth(p);
    await reset.converge(truth);
    assert.equal(reset.requests[0].status, 409);
    assert.equal(q(reset.requests[1], 'offset'), '-1');
    assert.equal(reset.last.value.size, 3);
    assert.equal(reset.errors.length, 0);
  }));

test('server restart on the same --data file: a stored (handle, offset) resumes without a resync', T, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-conf-data-'));
  const flags = { data: join(dir, 'eddy.sqlite') };
  const p = { table: 'items' };
  try {
    let stored;
    await withServer(async (s) => {
      await s.tx([ins('items', item(1))]);
      const c = s.sync(p);
      let truth = await s.truth(p);
      await c.converge(truth);
      truth = await step(s, c, p, [ins('items', item(2))], truth);
      stored = { handle: c.stream.shapeHandle, offset: c.stream.lastOffset };
    }, { flags });
    await withServer(async (s) => {
      await s.tx([ins('items', item(3)), del('items', { id: 1 })]);
      const c = s.sync(p, stored);
      await c.until((x) => x.states.length >= 1, 8000, 'resume up-to-date');
      assert.equal(c.requests[0].status, 200, 'the handle survived the restart');
      assert.equal(c.stream.shapeHandle, stored.handle);
      const ops = c.batches.flat().filter((m) => m.headers?.operation).map((m) => [m.headers.operation, m.key]);
      assert.deepEqual(ops, [
        ['insert', itemKey(3)],
        ['delete', itemKey(1)],
      ]);
      const truth = await s.truth(p);
      assert.deepEqual([...truth.rows.keys()].sort(), [itemKey(2), itemKey(3)]);
      assert.ok(BigInt(c.stream.lastOffset.split('_')[0]) > BigInt(stored.offset.split('_')[0]), 'LSNs keep growing');
    }, { flags });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

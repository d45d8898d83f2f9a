// The official @electric-sql/client against eddy-server: initial sync, live changes, PK change,
// replica full, where + params, columns, changes_only + offset=now, the type matrix.
// After every up-to-date the client's rows must equal the ground truth of the shape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, itemKey, sleep } from './harness.mjs';

const T = { timeout: 30000 };

/** Run `fn(server)` with a fresh server, always stopping it. */
async function withServer(fn, opts) {
  const s = await startServer(opts);
  try {
    await fn(s);
  } finally {
    await s.stop();
  }
}

const item = (id, extra = {}) => ({
  id,
  title: `t${id}`,
  done: false,
  score: id / 2,
  meta: { id, nested: { list: [id, 'x'] } },
  tags: [id, id + 1],
  at: '2024-05-06T07:08:09.5Z',
  n: id,
  ...extra,
});
const ins = (table, row) => ({ op: 'insert', table, row });
const upd = (table, row, old_key) => ({ op: 'update', table, row, ...(old_key ? { old_key } : {}) });
const del = (table, row) => ({ op: 'delete', table, row });

test('initial sync of an empty table: two requests, up-to-date with zero rows', T, () =>
  withServer(async (s) => {
    const c = s.sync({ table: 'empty_t' });
    const truth = await s.truth({ table: 'empty_t' });
    await c.converge(truth);
    assert.equal(c.last.value.size, 0);
    assert.equal(c.shape.isUpToDate, true);
    const [first, second] = c.requests;
    assert.match(first.url, /offset=-1/);
    assert.equal(first.status, 200);
    assert.equal(first.headers['electric-up-to-date'], undefined, 'offset=-1 must not be up-to-date');
    assert.match(second.url, /offset=0_0/);
    assert.equal(second.headers['electric-up-to-date'], '');
    assert.equal(c.errors.length, 0);
  }));

test('initial sync of a multi-chunk table follows offsets and exposes nothing before up-to-date', T, () =>
  withServer(async (s) => {
    const rows = Array.from({ length: 300 }, (_, i) => ins('big', { id: i + 1, body: `row ${i + 1} `.padEnd(60, 'x') }));
    await s.tx(rows.slice(0, 150));
    await s.tx(rows.slice(150));
    const truth = await s.truth({ table: 'big' });
    assert.equal(truth.rows.size, 300);
    const c = s.sync({ table: 'big' });
    await c.converge(truth);
    assert.equal(c.states.length, 1, 'exactly one up-to-date state, after the last chunk');
    assert.equal(c.states[0].value.size, 300);
    assert.equal(c.states[0].value.get('"public"."big"/"300"').id, 300n);
    const offsets = c.requests.map((r) => new URL(r.url).searchParams.get('offset'));
    assert.ok(offsets.length > 5, `expected many chunk requests, got ${offsets}`);
    assert.deepEqual(offsets.slice(0, 4), ['-1', '0_0', '0_1', '0_2']);
    const upToDates = c.requests.filter((r) => r.headers?.['electric-up-to-date'] === '');
    assert.equal(upToDates.length, 1);
    assert.equal(c.requests.findIndex((r) => r.headers?.['electric-up-to-date'] === ''), offsets.length - 1);
  }));

test('live insert, partial update, delete and a multi-op transaction', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const p = { table: 'items' };
    const c = s.sync(p);
    let truth = await s.truth(p);
    await c.converge(truth);

    const steps = [
      [ins('items', item(3))],
      [upd('items', { id: 1, title: 'renamed', done: true })],
      [upd('items', { id: 2, meta: null, tags: null, score: -0.25 })],
      [del('items', { id: 3 })],
      [ins('items', item(4)), upd('items', { id: 4, n: 44 }), del('items', { id: 1 }), ins('items', item(5))],
    ];
    for (const ops of steps) {
      const since = c.states.length;
      await s.tx(ops);
      const prev = truth;
      truth = await s.truth(p);
      await c.converge(truth, { since, allowed: [prev] });
    }
    const v = c.last.value;
    assert.deepEqual([...v.keys()].sort(), [itemKey(2), itemKey(4), itemKey(5)].sort());
    assert.equal(v.get(itemKey(2)).meta, null);
    assert.equal(v.get(itemKey(2)).score, -0.25);
    assert.equal(v.get(itemKey(2)).title, 't2', 'partial update keeps untouched columns');
    assert.equal(v.get(itemKey(4)).n, 44);
    assert.equal(c.errors.length, 0);
  }));

test('PK change: delete with key_change_to, insert with key_change_from, old key gone', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', item(1))]);
    const p = { table: 'items' };
    const c = s.sync(p);
    const before = await s.truth(p);
    await c.converge(before);
    const since = c.states.length;
    await s.tx([upd('items', { id: 100, title: 'moved' }, { id: 1 })]);
    const truth = await s.truth(p);
    await c.converge(truth, { since, allowed: [before] });
    assert.deepEqual([...c.last.value.keys()], [itemKey(100)]);
    const row = c.last.value.get(itemKey(100));
    assert.equal(row.id, 100n);
    assert.equal(row.title, 'moved');
    assert.equal(row.n, 1, 'the moved row keeps its other columns');
    const changes = c.batches.flat().filter((m) => m.headers?.operation && m.headers.lsn);
    const d = changes.find((m) => m.headers.operation === 'delete');
    const i = changes.find((m) => m.headers.operation === 'insert');
    assert.equal(d.key, itemKey(1));
    assert.equal(d.headers.key_change_to, itemKey(100));
    assert.equal(i.key, itemKey(100));
    assert.equal(i.headers.key_change_from, itemKey(1));
  }));

test('composite primary key table: keys, updates, deletes', T, () =>
  withServer(async (s) => {
    const p = { table: 'pairs' };
    await s.tx([ins('pairs', { a: 1, b: 'x', v: 'one' }), ins('pairs', { a: 1, b: 'y/z', v: 'two' })]);
    const c = s.sync(p);
    let truth = await s.truth(p);
    await c.converge(truth);
    assert.ok(c.last.value.has('"public"."pairs"/"1"/"x"'));
    assert.ok(c.last.value.has('"public"."pairs"/"1"/"y//z"'), `keys: ${[...c.last.value.keys()]}`);
    for (const ops of [
      [upd('pairs', { a: 1, b: 'x', v: 'uno' })],
      [del('pairs', { a: 1, b: 'y/z' }), ins('pairs', { a: 2, b: 'x', v: null })],
    ]) {
      const since = c.states.length;
      const prev = truth;
      await s.tx(ops);
      truth = await s.truth(p);
      await c.converge(truth, { since, allowed: [prev] });
    }
    assert.deepEqual(c.last.value.get('"public"."pairs"/"1"/"x"'), { a: 1n, b: 'x', v: 'uno' });
    assert.equal(c.last.value.size, 2);
  }));

test('replica=full: full rows and old_value on updates, full row on deletes, own handle', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const p = { table: 'items', replica: 'full' };
    const c = s.sync({ table: 'items' }, { replica: 'full' });
    let truth = await s.truth(p);
    await c.converge(truth);
    const dflt = await s.truth({ table: 'items' });
    assert.notEqual(truth.handle, dflt.handle, 'replica is part of the shape identity');
    assert.equal(c.stream.shapeHandle, truth.handle);
    for (const ops of [[upd('items', { id: 1, title: 'full' })], [del('items', { id: 2 })]]) {
      const since = c.states.length;
      const prev = truth;
      await s.tx(ops);
      truth = await s.truth(p);
      await c.converge(truth, { since, allowed: [prev] });
    }
    const live = c.batches.flat().filter((m) => m.headers?.lsn);
    const u = live.find((m) => m.headers.operation === 'update');
    assert.deepEqual(u.value, { ...item(1), id: 1n, title: 'full', at: '2024-05-06 07:08:09.5+00' });
    assert.deepEqual(u.old_value, { title: 't1' });
    const d = live.find((m) => m.headers.operation === 'delete');
    assert.deepEqual(d.value, { ...item(2), id: 2n, at: '2024-05-06 07:08:09.5+00' });
  }));

test('where with params: rows enter and leave the shape', T, () =>
  withServer(async (s) => {
    await s.tx([1, 2, 3, 4].map((i) => ins('items', item(i, { n: i * 10 }))));
    const where = 'n >= $1 AND title <> $2';
    const params = ['20', 't4'];
    const p = { table: 'items', where, params };
    const c = s.sync(p);
    let truth = await s.truth(p);
    await c.converge(truth);
    assert.deepEqual([...c.last.value.keys()].sort(), [itemKey(2), itemKey(3)]);
    assert.ok(c.requests[0].url.includes('params%5B1%5D=20') || c.requests[0].url.includes('params[1]=20'));
    const steps = [
      [upd('items', { id: 1, n: 50 })], // enters
      [upd('items', { id: 2, n: 5 })], // leaves
      [upd('items', { id: 3, title: 't4' })], // leaves via the second param
      [ins('items', item(9, { n: 99 })), ins('items', item(8, { n: 1 }))],
      [upd('items', { id: 9, n: 98 })], // stays
    ];
    for (const ops of steps) {
      const since = c.states.length;
      const prev = truth;
      await s.tx(ops);
      truth = await s.truth(p);
      await c.converge(truth, { since, allowed: [prev] });
    }
    assert.deepEqual([...c.last.value.keys()].sort(), [itemKey(1), itemKey(9)]);
    assert.equal(c.last.value.get(itemKey(9)).n, 98);
    assert.equal(c.last.value.get(itemKey(1)).title, 't1', 'a row entering the shape arrives whole');
  }));

test('columns: only the selected columns are synced', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const p = { table: 'items', columns: ['id', 'title', 'n'] };
    const c = s.sync(p);
    let truth = await s.truth({ table: 'items', columns: 'id,title,n' });
    await c.converge(truth);
    assert.deepEqual(c.last.value.get(itemKey(1)), { id: 1n, title: 't1', n: 1 });
    for (const ops of [
      [upd('items', { id: 1, score: 7 })], // not a selected column
      [upd('items', { id: 2, title: 'two', done: true })],
      [ins('items', item(3))],
    ]) {
      const since = c.states.length;
      const prev = truth;
      await s.tx(ops);
      truth = await s.truth({ table: 'items', columns: 'id,title,n' });
      await c.converge(truth, { since, allowed: [prev] });
    }
    assert.deepEqual(c.last.value.get(itemKey(2)), { id: 2n, title: 'two', n: 2 });
    assert.deepEqual(c.last.value.get(itemKey(3)), { id: 3n, title: 't3', n: 3 });
  }));

test('changes_only + offset=now: no history, then only new changes', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', item(1)), ins('items', item(2))]);
    const c = s.sync({ table: 'items' }, { log: 'changes_only', offset: 'now' });
    await c.until((x) => x.states.length >= 1, 8000, 'first up-to-date');
    assert.equal(c.last.value.size, 0, 'no history');
    const first = c.requests[0];
    assert.match(first.url, /offset=now/);
    assert.match(first.url, /log=changes_only/);
    assert.equal(first.headers['electric-up-to-date'], '');
    assert.equal(first.headers['electric-has-data'], 'false');

    await s.tx([ins('items', item(3)), upd('items', { id: 1, title: 'seen?' })]);
    await c.until((x) => x.last.value.size === 1, 8000, 'the new insert');
    assert.deepEqual([...c.last.value.keys()], [itemKey(3)]);
    assert.equal(c.last.value.get(itemKey(3)).id, 3n);
    const ops = c.batches.flat().filter((m) => m.headers?.operation).map((m) => [m.headers.operation, m.key]);
    assert.deepEqual(ops, [
      ['insert', itemKey(3)],
      ['update', itemKey(1)],
    ]);
    await s.tx([del('items', { id: 3 })]);
    await c.until((x) => x.last.value.size === 0, 8000, 'the delete');
  }));

test('type matrix: int8 extremes as BigInt, floats, bool, jsonb, int4[] with NULL, timestamptz, text', T, () =>
  withServer(async (s) => {
    const rows = [
      { id: '9223372036854775807', title: 'max', done: true, score: 'NaN', meta: [1, { a: null }], tags: [1, null, -3], at: '2024-01-01T00:00:00+02:00', n: 2147483647 },
      { id: '-9223372036854775808', title: 'min "quoted" \\ ünï', done: false, score: 'Infinity', meta: 'str', tags: [], at: null, n: -2147483648 },
      { id: 0, title: '', done: null, score: '-Infinity', meta: { b: 1, a: [true, false] }, tags: null, at: '1999-12-31T23:59:59.123456Z', n: null },
      { id: 5, title: null, done: true, score: 1e-7, meta: null, tags: [0], at: null, n: 0 },
    ];
    await s.tx(rows.map((r) => ins('items', r)));
    const p = { table: 'items' };
    const c = s.sync(p);
    const truth = await s.truth(p);
    await c.converge(truth);
    const v = c.last.value;
    const max = v.get(itemKey('9223372036854775807'));
    assert.equal(max.id, 9223372036854775807n);
    assert.ok(Number.isNaN(max.score));
    assert.deepEqual(max.meta, [1, { a: null }]);
    assert.deepEqual(max.tags, [1, null, -3]);
    assert.equal(max.at, '2023-12-31 22:00:00+00');
    assert.equal(max.n, 2147483647);
    const min = v.get(itemKey('-9223372036854775808'));
    assert.equal(min.id, -9223372036854775808n);
    assert.equal(min.title, 'min "quoted" \\ ünï');
    assert.equal(min.score, Infinity);
    assert.equal(min.meta, 'str');
    assert.deepEqual(min.tags, []);
    assert.equal(min.done, false);
    const zero = v.get(itemKey(0));
    assert.equal(zero.score, -Infinity);
    assert.equal(zero.done, null);
    assert.deepEqual(zero.meta, { a: [true, false], b: 1 });
    assert.equal(zero.at, '1999-12-31 23:59:59.123456+00');
    assert.equal(zero.title, '');
    assert.equal(v.get(itemKey(5)).score, 1e-7);
    assert.equal(c.errors.length, 0);
    await sleep(0);
  }));

test('live transactions larger than --chunk-bytes arrive whole (long-poll and SSE)', T, () =>
  withServer(async (s) => {
    const p = { table: 'big' };
    const lp = s.sync(p);
    const sse = s.sync(p, { liveSse: true });
    let truth = await s.truth(p);
    await lp.converge(truth);
    await sse.converge(truth);
    for (let round = 0; round < 2; round++) {
      const since = [lp.states.length, sse.states.length];
      const prev = truth;
      const base = round * 1000;
      await s.tx(Array.from({ length: 250 }, (_, i) => ins('big', { id: base + i + 1, body: 'w'.repeat(40) })));
      await s.tx([
        ...Array.from({ length: 100 }, (_, i) => del('big', { id: base + i + 1 })),
        ins('big', { id: base + 999, body: 'tail' }),
      ]);
      truth = await s.truth(p);
      assert.equal(truth.rows.size, (round + 1) * 151);
      // Each commit is one transaction: the client may see the state after the first one, never a part of one.
      const mid = new Map(
        [...prev.rows].concat(
          Array.from({ length: 250 }, (_, i) => [`"public"."big"/"${base + i + 1}"`, { id: BigInt(base + i + 1), body: 'w'.repeat(40) }]),
        ),
      );
      await lp.converge(truth, { since: since[0], allowed: [prev, mid] });
      await sse.converge(truth, { since: since[1], allowed: [prev, mid] });
    }
    assert.equal(lp.errors.length + sse.errors.length, 0);
  }));

test('a bad where is a 400 surfaced to onError once, not retried', T, () =>
  withServer(async (s) => {
    const c = s.sync({ table: 'items', where: 'nope = 1' });
    await c.until((x) => x.errors.length >= 1, 8000, 'onError');
    await sleep(300);
    assert.equal(c.errors.length, 1);
    assert.equal(c.errors[0].status, 400);
    assert.deepEqual(Object.keys(c.errors[0].json.errors), ['where']);
    assert.equal(c.requests.length, 1, 'not retried');
    assert.equal(c.states.length, 0);
  }));

for (const subsetMethod of ['GET', 'POST']) {
  test(`changes_only + requestSnapshot (subset snapshot over ${subsetMethod}) then live changes`, T, async (t) =>
    withServer(async (s) => {
      // Feature probe: servers without subset snapshots answer the plain log here.
      const probe = await s.get({ table: 'items', offset: 'now', log: 'changes_only', subset__where: 'true' });
      await probe.text();
      if (probe.headers.get('electric-snapshot') !== 'true') {
        t.skip('this eddy-server build has no subset snapshots (ref §3.5)');
        return;
      }
      await s.tx([1, 2, 3, 4].map((i) => ins('items', item(i, { n: i * 10 }))));
      const c = s.sync({ table: 'items' }, { log: 'changes_only', offset: 'now', subsetMethod });
      await c.until((x) => x.states.length >= 1, 8000, 'first up-to-date');
      await c.shape.requestSnapshot({ where: 'n >= 20', orderBy: 'id', limit: 2 });
      await c.until((x) => x.shape.currentValue.size === 2, 8000, 'snapshot rows');
      assert.deepEqual([...c.shape.currentValue.keys()].sort(), [itemKey(2), itemKey(3)]);
      assert.equal(c.shape.currentValue.get(itemKey(3)).n, 30);
      assert.equal(c.shape.currentValue.get(itemKey(3)).id, 3n);
      // Updates to snapshot rows apply; updates to rows never seen are ignored by Shape.
      await s.tx([upd('items', { id: 3, title: 'after' }), upd('items', { id: 4, title: 'unseen' })]);
      await c.until((x) => x.shape.currentValue.get(itemKey(3))?.title === 'after', 8000, 'live update');
      assert.equal(c.shape.currentValue.has(itemKey(4)), false);
      assert.equal(c.errors.length, 0);
    }));
}

test('more types: int2, float4, numeric, uuid, bytea, date, timestamp, varchar, bpchar, json, arrays', T, () =>
  withServer(
    async (s) => {
      const row = {
        id: 32767,
        f4: 0.1,
        num: '12345678901234567890.123456789',
        u: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
        b: '\\xDEADbeef',
        d: '2024-02-29',
        ts: '2024-01-02 03:04:05.5+02',
        vc: 'abcde',
        bp: 'a',
        j: { a: [2, { c: null }] },
        ta: ['a b', '', 'NULL', null, 'x"y', 'back\\slash', '{}', 'é', 'a,b'],
        i8a: [
          [1, '9223372036854775807'],
          [3, null],
        ],
        ba: [true, false, null],
        fa: ['NaN', 'Infinity', '-Infinity', 1.5],
        ua: ['{a0eebc999c0b4ef8bb6d6bb9bd380a11}'],
      };
      await s.tx([ins('t', row), ins('t', { id: -32768 })]);
      const p = { table: 't' };
      const c = s.sync(p);
      const truth = await s.truth(p);
      await c.converge(truth);
      // Raw text as Postgres prints it (ref §3.1).
      assert.deepEqual(truth.rawRows.get('"public"."t"/"32767"'), {
        id: '32767',
        f4: '0.1',
        num: '12345678901234567890.123456789',
        u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        b: '\\xdeadbeef',
        d: '2024-02-29',
        ts: '2024-01-02 03:04:05.5',
        vc: 'abcde',
        bp: 'a  ',
        j: '{"a":[2,{"c":null}]}',
        ta: '{"a b","","NULL",NULL,"x\\"y","back\\\\slash","{}",é,"a,b"}',
        i8a: '{{1,9223372036854775807},{3,NULL}}',
        ba: '{t,f,NULL}',
        fa: '{NaN,Infinity,-Infinity,1.5}',
        ua: '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
      });
      assert.deepEqual(truth.schema.i8a, { dims: 2, type: 'int8' });
      assert.deepEqual(truth.schema.vc, { max_length: 5, type: 'varchar' });
      assert.deepEqual(truth.schema.bp, { length: 3, type: 'bpchar' });
      assert.deepEqual(truth.schema.num, { precision: 30, scale: 9, type: 'numeric' });
      // Parsed by the official client.
      const v = c.last.value.get('"public"."t"/"32767"');
      assert.equal(v.id, 32767);
      assert.equal(v.f4, 0.1);
      assert.equal(v.num, '12345678901234567890.123456789');
      assert.deepEqual(v.j, { a: [2, { c: null }] });
      assert.deepEqual(v.ta, ['a b', '', 'NULL', null, 'x"y', 'back\\slash', '{}', 'é', 'a,b']);
      assert.deepEqual(v.i8a, [
        [1n, 9223372036854775807n],
        [3n, null],
      ]);
      assert.deepEqual(v.ba, [true, false, null]);
      assert.deepEqual(v.fa, [NaN, Infinity, -Infinity, 1.5]);
      const empty = c.last.value.get('"public"."t"/"-32768"');
      assert.equal(empty.id, -32768);
      assert.equal(empty.ta, null);
      assert.equal(c.errors.length, 0);
    },
    {
      schema: `CREATE TABLE t (id int2 PRIMARY KEY, f4 float4, num numeric(30,9), u uuid, b bytea, d date,
        ts timestamp, vc varchar(5), bp char(3), j json, ta text[], i8a int8[][], ba bool[], fa float8[], ua uuid[]);`,
    },
  ));

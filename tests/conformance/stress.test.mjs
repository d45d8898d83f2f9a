// Writes racing reads: a seeded writer commits transactions one after another while official
// clients (long-poll and SSE, with and without where/columns) start at staggered moments, some
// in the middle of the write stream. The oracle is independent of the server: a JS model of
// every committed write. After the writer stops, every client must equal the model (filtered
// by its where clause), and every up-to-date state it reported must equal the server's ground
// truth for that shape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { startServer, sleep, itemKey, mapsEqual } from './harness.mjs';

/** Small deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random transaction over ids 1..24, applied to `model` (Map id -> {id, title, n}). */
function randomTx(rand, model, seq) {
  const ops = [];
  const nOps = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < nOps; i++) {
    const id = 1 + Math.floor(rand() * 24);
    const row = model.get(id);
    const roll = rand();
    if (!row) {
      const r = { id, title: `i${seq}.${i}`, n: Math.floor(rand() * 100) };
      model.set(id, r);
      ops.push({ op: 'insert', table: 'items', row: r });
    } else if (roll < 0.5) {
      const patch = rand() < 0.5 ? { n: Math.floor(rand() * 100) } : { title: `u${seq}.${i}` };
      model.set(id, { ...row, ...patch });
      ops.push({ op: 'update', table: 'items', row: { id, ...patch } });
    } else if (roll < 0.8) {
      model.delete(id);
      ops.push({ op: 'delete', table: 'items', row: { id } });
    } else {
      const to = 100 + Math.floor(rand() * 24);
      if (model.has(to)) continue;
      model.delete(id);
      model.set(to, { ...row, id: to });
      ops.push({ op: 'update', table: 'items', row: { id: to }, old_key: { id } });
    }
  }
  return ops;
}

function expected(model, filter) {
  const out = new Map();
  for (const r of model.values()) {
    if (filter(r)) out.set(itemKey(r.id), { id: BigInt(r.id), title: r.title, n: r.n });
  }
  return out;
}

const CLIENTS = [
  { name: 'all long-poll', params: {}, filter: () => true, opts: {} },
  { name: 'all SSE', params: {}, filter: () => true, opts: { liveSse: true } },
  { name: 'n >= 50 long-poll', params: { where: 'n >= $1', params: ['50'] }, filter: (r) => r.n >= 50, opts: {} },
  { name: 'n < 50 SSE', params: { where: 'n < 50' }, filter: (r) => r.n < 50, opts: { liveSse: true } },
  { name: 'id > 100 replica full', params: { where: 'id > 100' }, filter: (r) => r.id > 100, opts: { replica: 'full' } },
];

test('writes racing snapshots, long-polls and SSE streams converge to an independent model', { timeout: 60000 }, async () => {
  const s = await startServer({ flags: { 'chunk-bytes': 600 } });
  try {
    const rand = rng(20261123);
    const model = new Map();
    const clients = [];
    const TXS = 150;
    for (let seq = 0; seq < TXS; seq++) {
      const ops = randomTx(rand, model, seq);
      if (ops.length) await s.tx(ops);
      // Start clients at staggered points, including before anything was written.
      const k = Math.floor((seq * CLIENTS.length) / TXS);
      if (seq % Math.floor(TXS / CLIENTS.length) === 0 && k < CLIENTS.length && !clients[k]) {
        const def = CLIENTS[k];
        const params = { table: 'items', columns: ['id', 'title', 'n'], ...def.params };
        clients[k] = { def, params, c: s.sync(params, def.opts) };
      }
      if (seq % 10 === 0) await sleep(5);
    }
    for (const { def, params, c } of clients) {
      const want = expected(model, def.filter);
      try {
        await c.until((x) => x.last && mapsEqual(x.last.value, want), 10000, `${def.name} to equal the model`);
      } catch (e) {
        throw new Error(
          `${e.message}\nclient: ${inspect(c.last?.value)}\nmodel: ${inspect(want)}\nerrors: ${inspect(c.errors)}`,
        );
      }
      assert.equal(c.errors.length, 0, `${def.name}: ${inspect(c.errors)}`);
      const truth = await s.truth({ ...params, columns: 'id,title,n' });
      assert.ok(mapsEqual(truth.rows, want), `${def.name}: the server's fresh sync equals the model`);
    }
  } finally {
    await s.stop();
  }
});

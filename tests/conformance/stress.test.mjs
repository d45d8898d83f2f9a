// Writes racing reads: a seeded writer commits transactions one after another while official
// clients (long-poll and SSE, with and without where/columns) start at staggered moments, some
// in the middle of the write stream. The oracle is independent of the server: a JS model of
// every committed write. After the writer stops, every client must equal the model (filtered
// by its where clause), and every up-to-date state it reported must equal the server's ground
// truth for that shape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { startServer, sleep, mapsEqual } from './harness.mjs';
import { rng, randomTx, expected } from './model.mjs';

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

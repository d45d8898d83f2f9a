// Fault mode (issue #3 acceptance): eddy-server started with `--faults <seed>:<rate>` answers a
// seeded fraction of GET /v1/shape requests with 503 + retry-after, 500, a cut connection
// before the body, half a body then a cut, a delay, or a rotated handle (409). The official
// client, continuing after errors (onError returns {}), must still converge to an independent
// model of the writes, for long-poll and SSE, with writes landing while it syncs. Reproducible: the seed picks the faults, another
// seed the writes. EDDY_FAULT_SEEDS=N runs more schedules (default 4).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { startServer, sleep, mapsEqual } from './harness.mjs';
import { rng, randomTx, expected } from './model.mjs';

const SEEDS = Number(process.env.EDDY_FAULT_SEEDS ?? 4);
const RATE = 0.3;
/** Fault kinds seen across all schedules (x-eddy-fault headers; `cut` = no response at all). */
const seen = new Set();

for (let seed = 1; seed <= SEEDS; seed++) {
  for (const liveSse of [false, true]) {
    const name = `seed ${seed} (${liveSse ? 'SSE' : 'long-poll'}): the official client converges despite faults at rate ${RATE}`;
    test(name, { timeout: 60000 }, async () => {
      const s = await startServer({ flags: { 'chunk-bytes': 700, faults: `${seed}:${RATE}` } });
      try {
        const rand = rng(1000 + seed);
        const model = new Map();
        const params = { table: 'items', columns: ['id', 'title', 'n'] };
        // Half the writes before the client starts (a multi-chunk snapshot), half while it runs.
        for (let seq = 0; seq < 40; seq++) {
          const ops = randomTx(rand, model, seq);
          if (ops.length) await s.tx(ops);
        }
        const c = s.sync(params, { liveSse, onError: () => ({}) });
        for (let seq = 40; seq < 80; seq++) {
          const ops = randomTx(rand, model, seq);
          if (ops.length) await s.tx(ops);
          if (seq % 5 === 0) await sleep(20);
        }
        const want = expected(model, () => true);
        try {
          await c.until((x) => x.last && mapsEqual(x.last.value, want), 30000, 'client rows to equal the model');
        } catch (e) {
          throw new Error(`${e.message}\nclient: ${inspect(c.last?.value)}\nmodel: ${inspect(want)}\nerrors: ${inspect(c.errors)}`);
        }
        for (const r of c.requests) {
          if (r.headers?.['x-eddy-fault']) seen.add(r.headers['x-eddy-fault']);
          if (r.status === undefined) seen.add('cut');
        }
        const faulted = c.requests.filter((r) => r.headers?.['x-eddy-fault'] || r.status === undefined).length;
        assert.ok(faulted > 0, `faults were injected (${c.requests.length} requests)`);
        if (process.env.EDDY_CONF_DEBUG) console.error(`${name}: ${c.requests.length} requests, ${faulted} faulted, ${c.errors.length} errors`);
      } finally {
        await s.stop();
      }
    });
  }
}

test('the schedules above exercised every kind of fault', () => {
  for (const kind of ['unavailable', 'internal', 'delay', 'rotate', 'cut']) {
    assert.ok(seen.has(kind), `fault kind ${kind} occurred (seen: ${[...seen].join(', ')})`);
  }
});

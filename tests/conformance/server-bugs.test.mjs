// Regression tests for eddy-server bugs found by the conformance suite (all fixed): exact float8
// and jsonb numbers, prompt Ctrl-C with held live requests, Postgres timestamptz input forms,
// numeric output and typmods, json key order.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, serverBin, withTimeout, sleep, itemKey } from './harness.mjs';

const OPTS = { timeout: 30000 };

test(
  'POST /v1/tx keeps float8 and jsonb numbers exact (JSON numbers round-trip bit for bit)',
  OPTS,
  async () => {
    const s = await startServer();
    try {
      // Each of these is a JSON number that parses to a different f64 than the one written.
      const values = [123456789012345680000, 9.705605544149876e-11, -2016636133193.9697, -4.638020992279053e-8];
      await s.tx(values.map((v, i) => ({ op: 'insert', table: 'items', row: { id: i + 1, score: v, meta: { v } } })));
      const c = s.sync({ table: 'items' });
      await c.until((x) => x.last?.value.size === values.length, 8000, 'initial sync');
      const got = values.map((_, i) => c.last.value.get(itemKey(i + 1)));
      // e.g. 123456789012345680000 comes back as 123456789012345670000 (raw "1.2345678901234567e+20").
      assert.deepEqual(
        got.map((r) => r.score),
        values,
        'float8 column',
      );
      assert.deepEqual(
        got.map((r) => r.meta.v),
        values,
        'jsonb number',
      );
      // The text is Postgres float8 output (shortest round-trip digits, extra_float_digits=1)
      // and jsonb numbers are printed as numeric (exponent applied).
      const t = await s.truth({ table: 'items' });
      const raw = values.map((_, i) => t.rawRows.get(itemKey(i + 1)));
      assert.deepEqual(
        raw.map((r) => r.score),
        ['1.2345678901234568e+20', '9.705605544149876e-11', '-2016636133193.9697', '-4.638020992279053e-08'],
      );
      assert.deepEqual(
        raw.map((r) => r.meta),
        [
          '{"v": 123456789012345680000}',
          '{"v": 0.00000000009705605544149876}',
          '{"v": -2016636133193.9697}',
          '{"v": -0.00000004638020992279053}',
        ],
      );
    } finally {
      await s.stop();
    }
  },
);

test(
  'Ctrl-C (SIGINT) stops the server promptly while a long-poll or an SSE stream is held',
  OPTS,
  async () => {
    for (const sse of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), 'eddy-conf-'));
      const schema = join(dir, 's.sql');
      writeFileSync(schema, 'CREATE TABLE items (id int8 PRIMARY KEY);');
      const child = spawn(serverBin(), ['--schema', schema, '--listen', '127.0.0.1:0'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const exited = new Promise((r) => child.once('exit', () => r(Date.now())));
      const ac = new AbortController();
      try {
        const base = await withTimeout(
          new Promise((r) => child.stdout.on('data', (d) => /(http:\/\/\S+)/.test(d) && r(/(http:\/\/\S+)/.exec(d)[1]))),
          10000,
          'startup',
        );
        const r0 = await fetch(`${base}/v1/shape?table=items&offset=-1`);
        await r0.text();
        const h = r0.headers.get('electric-handle');
        const url = `${base}/v1/shape?table=items&offset=0_0&handle=${h}`;
        await (await fetch(url)).text();
        const held = fetch(`${url.replace('0_0', '0_inf')}&live=true${sse ? '&live_sse=true' : ''}`, {
          signal: ac.signal,
        })
          .then((r) => r.text())
          .catch(() => null);
        await sleep(200);
        const t0 = Date.now();
        child.kill('SIGINT');
        const t1 = await Promise.race([exited, sleep(3000).then(() => null)]);
        assert.ok(t1 !== null, `${sse ? 'SSE' : 'long-poll'}: still running 3 s after SIGINT`);
        assert.ok(t1 - t0 < 3000);
        ac.abort();
        await held;
      } finally {
        ac.abort();
        child.kill('SIGKILL');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      }
    }
  },
);

test(
  'timestamptz accepts the Postgres input forms a user writes: date only, zone name UTC, ±infinity',
  OPTS,
  async () => {
    const s = await startServer();
    try {
      const cases = [
        ['2024-01-01', '2024-01-01 00:00:00+00'],
        ['2024-01-01 00:00:00 UTC', '2024-01-01 00:00:00+00'],
        ['infinity', 'infinity'],
        ['-infinity', '-infinity'],
        ['2024-01-01 05:30:00+05:30', '2024-01-01 00:00:00+00'],
        ['2024-01-01T23:59:59.250-01', '2024-01-02 00:59:59.25+00'],
        ['2024-06-01 12:00:00Z', '2024-06-01 12:00:00+00'],
      ];
      const failures = [];
      for (const [i, [input, out]] of cases.entries()) {
        try {
          await s.tx([{ op: 'insert', table: 'items', row: { id: i + 1, at: input } }]);
          const t = await s.truth({ table: 'items' });
          const got = t.rawRows.get(itemKey(i + 1)).at;
          if (got !== out) failures.push(`${input} -> ${got}, expected ${out}`);
        } catch (e) {
          failures.push(`${input}: ${e.message}`);
        }
      }
      const r = await s.get({ table: 'items', offset: '-1', where: "at < '2024-01-01'" });
      await r.text();
      if (r.status !== 200) failures.push(`where at < '2024-01-01' -> ${r.status}`);
      // Only '-infinity' is before 2024-01-01; 'infinity' sorts after every date.
      const before = await s.truth({ table: 'items', where: "at < '2024-01-01'" });
      if ([...before.rawRows.values()].map((v) => v.at).join() !== '-infinity')
        failures.push(`where at < '2024-01-01' -> ${[...before.rawRows.values()].map((v) => v.at)}`);
      const inf = await s.truth({ table: 'items', where: "at = 'Infinity' OR at = '2024-01-01 UTC'" });
      // ids 1, 2 and 5 are 2024-01-01 00:00:00+00 and id 3 is infinity.
      const ids = [...inf.rawRows.values()].map((v) => v.id).sort().join();
      if (ids !== '1,2,3,5') failures.push(`where at = 'Infinity' OR ... -> ids ${ids}, expected 1,2,3,5`);
      assert.deepEqual(failures, []);
    } finally {
      await s.stop();
    }
  },
);

const NUMERIC_SCHEMA = 'CREATE TABLE t (id int8 PRIMARY KEY, n numeric, s numeric(30,9), j json, jb jsonb);';

test(
  'numeric values come out as Postgres prints them (normalised, with the declared scale)',
  OPTS,
  async () => {
    const s = await startServer({ schema: NUMERIC_SCHEMA });
    try {
      const cases = [
        [{ n: '1e3' }, { n: '1000' }],
        [{ n: '00012.50' }, { n: '12.50' }],
        [{ n: '-0.000' }, { n: '0.000' }],
        [{ s: '-1.5' }, { s: '-1.500000000' }],
        [{ s: 2 }, { s: '2.000000000' }],
        [{ s: '1.0000000005' }, { s: '1.000000001' }],
        [{ s: '-1.0000000005' }, { s: '-1.000000001' }],
        [{ s: '-0.0000000004' }, { s: '0.000000000' }],
        [{ s: 1e20 }, { s: '100000000000000000000.000000000' }],
      ];
      await s.tx(cases.map(([row], i) => ({ op: 'insert', table: 't', row: { id: i + 1, ...row } })));
      const t = await s.truth({ table: 't' });
      const got = cases.map((_, i) => {
        const r = t.rawRows.get(`"public"."t"/"${i + 1}"`);
        return r.n !== null ? { n: r.n } : { s: r.s };
      });
      assert.deepEqual(got, cases.map(([, want]) => want));
      // Precision overflow (more than 30 - 9 integer digits) is a typed 400 and applies nothing.
      const r = await s.request('/v1/tx', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ops: [{ op: 'insert', table: 't', row: { id: 99, s: '1e21' } }] }),
      });
      const body = await r.json();
      assert.equal(r.status, 400);
      assert.equal(body.code, 'EDDY_SERVER_TX_TYPE_MISMATCH');
      assert.ok(body.errors['ops[0].row.s'][0].includes('numeric field overflow'), JSON.stringify(body));
      // Equal values have equal text: a numeric(30,9) key written two ways names the same value.
      const w = await s.truth({ table: 't', where: "s = '2.0'" });
      assert.deepEqual([...w.rawRows.keys()], ['"public"."t"/"5"']);
    } finally {
      await s.stop();
    }
  },
);

test(
  'json (not jsonb) keeps the key order it was written with, as Postgres json does',
  OPTS,
  async () => {
    const s = await startServer({ schema: NUMERIC_SCHEMA });
    try {
      const doc = { b: 1, a: [2, { z: 0, y: 1 }], cc: 1e21, aa: 'x y' };
      await s.tx([{ op: 'insert', table: 't', row: { id: 1, j: doc, jb: doc } }]);
      const t = await s.truth({ table: 't' });
      const row = t.rawRows.get('"public"."t"/"1"');
      assert.equal(row.j, '{"b":1,"a":[2,{"z":0,"y":1}],"cc":1e+21,"aa":"x y"}');
      // jsonb: Postgres' own order (shorter keys first, then bytewise) and numeric numbers.
      assert.equal(row.jb, '{"a": [2, {"y": 1, "z": 0}], "b": 1, "aa": "x y", "cc": 1000000000000000000000}');
      // A jsonb literal in `where` is read the same way (key order and number spelling do not matter).
      const w2 = await s.truth({ table: 't', where: `jb = '{"cc": 1e21, "aa": "x y", "b": 1, "a": [2, {"z": 0, "y": 1}]}'` });
      assert.equal(w2.rawRows.size, 1);
    } finally {
      await s.stop();
    }
  },
);

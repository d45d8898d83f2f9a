// eddy-server benchmark (not a test): prints a table and exits by itself.
//
//   node bench/server/run.mjs [--rows 100000] [--clients 1000] [--rounds 20]
//
// Binary: EDDY_SERVER_BIN, else target/release/eddy-server if built, else target/debug/eddy-server
// (build first: `cargo build --release -p eddy-server`). Loopback only; every phase is bounded
// (the whole run aborts after --deadline-s seconds, default 300).
//
// 1. Initial sync throughput: ROWS rows written through POST /v1/tx, then synced with the
//    official @electric-sql/client (ShapeStream + Shape, subscribe: false) from offset=-1 to
//    up-to-date. "cold" creates the shape (the server snapshots the table), "warm" re-syncs the
//    same shape (snapshot already stored). Rows/s and MB/s of response bodies.
// 2. Live fan-out: CLIENTS raw-fetch long-poll clients on one shape; ROUNDS times, one row is
//    committed and every client's delivery is timed from the moment the POST /v1/tx was sent
//    (commit -> delivery latency, p50/p99/max over all deliveries), plus the time until the
//    last client had it (fan-out completion).

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import '../../tests/conformance/unref-long-timers.mjs';
import { ShapeStream, Shape } from '@electric-sql/client';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = Object.fromEntries(
  process.argv
    .slice(2)
    .join(' ')
    .split('--')
    .filter(Boolean)
    .map((a) => a.trim().split(/[ =]/)),
);
const ROWS = Number(args.rows ?? 100000);
const CLIENTS = Number(args.clients ?? 1000);
const ROUNDS = Number(args.rounds ?? 20);
const DEADLINE_S = Number(args['deadline-s'] ?? 300);

function pickBin() {
  if (process.env.EDDY_SERVER_BIN) return process.env.EDDY_SERVER_BIN;
  for (const p of ['release', 'debug']) {
    const b = join(ROOT, 'target', p, 'eddy-server');
    if (existsSync(b)) return b;
  }
  throw new Error('no eddy-server binary: run `cargo build --release -p eddy-server` (or set EDDY_SERVER_BIN)');
}

const SCHEMA = `
CREATE TABLE items (id int8 PRIMARY KEY, title text NOT NULL, done bool NOT NULL,
                    score float8, meta jsonb, tags int4[], n int4);
CREATE TABLE feed (id int8 PRIMARY KEY, sent_at float8 NOT NULL);
`;

let child;
let dir;
const cleanup = () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);
const deadline = setTimeout(() => {
  console.error(`bench: deadline of ${DEADLINE_S} s reached, aborting`);
  process.exit(2);
}, DEADLINE_S * 1000);
deadline.unref();

async function start(bin, flags) {
  dir = mkdtempSync(join(tmpdir(), 'eddy-bench-'));
  writeFileSync(join(dir, 's.sql'), SCHEMA);
  child = spawn(bin, ['--schema', join(dir, 's.sql'), '--listen', '127.0.0.1:0', '--data', ':memory:', ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) res(m[1]);
    });
    child.once('exit', (c) => rej(new Error(`server exited with ${c}`)));
  });
}

async function tx(base, ops) {
  const r = await fetch(`${base}/v1/tx`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ops }),
  });
  const t = await r.text();
  if (!r.ok) throw new Error(`tx ${r.status}: ${t}`);
  return JSON.parse(t);
}

/** Server CPU time (user + system) in ms from /proc, or NaN where /proc is missing. */
function serverCpuMs() {
  try {
    const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return NaN;
  }
}

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function syncOnce(base) {
  let bytes = 0;
  let requests = 0;
  const fetchClient = async (input, init) => {
    const res = await fetch(input, init);
    requests++;
    // Body bytes from content-length (the server always sends it for non-SSE responses).
    const len = Number(res.headers.get('content-length'));
    if (Number.isFinite(len)) bytes += len;
    return res;
  };
  const ac = new AbortController();
  const cpu0 = serverCpuMs();
  const t0 = performance.now();
  const stream = new ShapeStream({
    url: `${base}/v1/shape`,
    params: { table: 'items' },
    subscribe: false,
    signal: ac.signal,
    fetchClient,
    warnOnHttp: false,
  });
  const shape = new Shape(stream);
  const rows = await shape.rows;
  const ms = performance.now() - t0;
  ac.abort();
  stream.unsubscribeAll();
  if (rows.length !== ROWS) throw new Error(`synced ${rows.length} rows, expected ${ROWS}`);
  if (typeof rows[0].id !== 'bigint') throw new Error('int8 not parsed as BigInt');
  return { ms, bytes, requests, cpu: serverCpuMs() - cpu0 };
}

async function initialSync(bin) {
  const base = await start(bin, ['--max-ops', '10000']);
  const t0 = performance.now();
  const BATCH = 10000;
  for (let i = 0; i < ROWS; i += BATCH) {
    const ops = [];
    for (let id = i + 1; id <= Math.min(ROWS, i + BATCH); id++) {
      ops.push({
        op: 'insert',
        table: 'items',
        row: {
          id,
          title: `item number ${id} with some text`,
          done: id % 3 === 0,
          score: id * 1.25,
          meta: { k: id, tag: 'bench' },
          tags: [id % 7, id % 11],
          n: id % 1000,
        },
      });
    }
    await tx(base, ops);
  }
  const loadMs = performance.now() - t0;
  const cold = await syncOnce(base);
  const warm = await syncOnce(base);
  child.kill('SIGKILL');
  return { loadMs, cold, warm };
}

async function fanOut(bin) {
  const base = await start(bin, ['--max-live', String(CLIENTS + 100), '--long-poll-ms', '20000']);
  // One shape; every client does its own initial sync then long-polls.
  const url = `${base}/v1/shape?table=feed`;
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // one abort listener per in-flight fetch
  const sentAt = new Map(); // row id -> performance.now() when the POST was sent
  const latencies = [];
  const gotCount = new Map(); // row id -> deliveries so far
  const roundDone = new Map(); // row id -> resolve
  let inflight = 0;
  let inflightWaiter = null;
  const setInflight = (d) => {
    inflight += d;
    if (inflightWaiter && inflight >= CLIENTS) inflightWaiter();
  };

  async function client() {
    let offset = '-1';
    let handle = '';
    let cursor = '';
    let live = false;
    while (!ac.signal.aborted) {
      let u = `${url}&offset=${offset}`;
      if (handle) u += `&handle=${handle}`;
      if (live) u += `&live=true&cursor=${cursor}`;
      if (live) setInflight(1);
      let res;
      try {
        res = await fetch(u, { signal: ac.signal });
      } catch {
        return;
      } finally {
        if (live) setInflight(-1);
      }
      const body = await res.json().catch(() => null);
      if (res.status !== 200 || !Array.isArray(body)) throw new Error(`fan-out client got ${res.status}`);
      const now = performance.now();
      handle = res.headers.get('electric-handle');
      offset = res.headers.get('electric-offset');
      cursor = res.headers.get('electric-cursor') ?? cursor;
      if (res.headers.has('electric-up-to-date')) live = true;
      for (const m of body) {
        if (m.headers?.operation !== 'insert' || !live) continue;
        const id = Number(m.value.id);
        const t = sentAt.get(id);
        if (t === undefined) continue;
        latencies.push(now - t);
        const n = (gotCount.get(id) ?? 0) + 1;
        gotCount.set(id, n);
        if (n === CLIENTS) roundDone.get(id)?.(now);
      }
    }
  }

  const t0 = performance.now();
  const waitAllLive = () =>
    new Promise((r) => {
      if (inflight >= CLIENTS) return r();
      inflightWaiter = () => {
        inflightWaiter = null;
        r();
      };
    });
  const tasks = Array.from({ length: CLIENTS }, () => client().catch((e) => e));
  await waitAllLive();
  const connectMs = performance.now() - t0;
  const cpu0 = serverCpuMs();
  const rounds = [];
  for (let i = 1; i <= ROUNDS; i++) {
    await waitAllLive();
    const done = new Promise((r) => roundDone.set(i, r));
    const t = performance.now();
    sentAt.set(i, t);
    await tx(base, [{ op: 'insert', table: 'feed', row: { id: i, sent_at: t } }]);
    const end = await Promise.race([done, new Promise((r) => setTimeout(() => r(null), 30000))]);
    if (end === null) throw new Error(`round ${i}: only ${gotCount.get(i) ?? 0}/${CLIENTS} deliveries in 30 s`);
    rounds.push(end - t);
  }
  const totalMs = performance.now() - t0;
  const cpu = serverCpuMs() - cpu0;
  ac.abort();
  const errs = (await Promise.all(tasks)).filter((e) => e instanceof Error);
  child.kill('SIGKILL');
  if (errs.length) throw errs[0];
  latencies.sort((a, b) => a - b);
  rounds.sort((a, b) => a - b);
  return { connectMs, totalMs, latencies, rounds, cpu };
}

const bin = pickBin();
const f1 = (x) => x.toFixed(1);
const f0 = (x) => Math.round(x).toLocaleString('en-US');
console.log(`eddy-server benchmark — binary ${bin.replace(ROOT + '/', '')}, node ${process.version}, loopback`);
console.log();

const s = await initialSync(bin);
const row = (name, r) =>
  `| ${name.padEnd(28)} | ${f0(r.ms).padStart(8)} | ${f0((ROWS / r.ms) * 1000).padStart(10)} | ${f1(r.bytes / 1e6 / (r.ms / 1000)).padStart(6)} | ${f1(r.bytes / 1e6).padStart(7)} | ${String(r.requests).padStart(4)} | ${f0(r.cpu).padStart(10)} |`;
console.log(`Initial sync of ${ROWS.toLocaleString('en-US')} rows (official client, ShapeStream + Shape)`);
console.log(`| ${'run'.padEnd(28)} | ${'ms'.padStart(8)} | ${'rows/s'.padStart(10)} | ${'MB/s'.padStart(6)} | ${'MB'.padStart(7)} | ${'reqs'.padStart(4)} | ${'server CPU'.padStart(10)} |`);
console.log(`|${'-'.repeat(30)}|${'-'.repeat(10)}|${'-'.repeat(12)}|${'-'.repeat(8)}|${'-'.repeat(9)}|${'-'.repeat(6)}|${'-'.repeat(12)}|`);
console.log(row('cold (server snapshots)', s.cold));
console.log(row('warm (stored snapshot)', s.warm));
console.log(`(loading the rows through POST /v1/tx took ${f0(s.loadMs)} ms)`);
console.log();

const f = await fanOut(bin);
console.log(`Live fan-out: ${CLIENTS} long-poll clients (raw fetch), ${ROUNDS} commits of one row each`);
console.log(`| ${'metric'.padEnd(40)} | ${'value'.padStart(10)} |`);
console.log(`|${'-'.repeat(42)}|${'-'.repeat(12)}|`);
const line = (k, v) => console.log(`| ${k.padEnd(40)} | ${v.padStart(10)} |`);
line('deliveries', f0(f.latencies.length));
line('commit -> delivery p50 (ms)', f1(pct(f.latencies, 50)));
line('commit -> delivery p99 (ms)', f1(pct(f.latencies, 99)));
line('commit -> delivery max (ms)', f1(f.latencies.at(-1)));
line('commit -> last client, median round (ms)', f1(pct(f.rounds, 50)));
line('commit -> last client, worst round (ms)', f1(f.rounds.at(-1)));
line('clients synced and live after (ms)', f0(f.connectMs));
line('total time (ms)', f0(f.totalMs));
line('server CPU during the rounds (ms)', f0(f.cpu));
console.log('(all clients run in this one Node process, on the same cores as the server: latencies include');
console.log(' client-side JSON parsing of 1,000 responses per commit)');
clearTimeout(deadline);
process.exit(0);

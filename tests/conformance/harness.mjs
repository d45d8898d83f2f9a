// Conformance harness: spawns a real eddy-server binary (built beforehand with
// `cargo build -p eddy-server`; path from EDDY_SERVER_BIN, default target/debug/eddy-server) on
// 127.0.0.1:0 with a temporary schema and `--data :memory:`, and gives tests:
//   - tx(ops)            POST /v1/tx, throws on non-2xx
//   - truth(params)      ground truth of a shape: a fresh raw-fetch sync from offset=-1 to
//                        up-to-date, materialised and typed like the official client's parser
//   - sync(params, opts) an official ShapeStream + Shape with a recorder of every up-to-date state
//   - raw(path|params)   plain fetch helpers for protocol checks
//   - stop()             kills the server and removes the temp dir
// Every wait is bounded; nothing is left running after stop().

import './unref-long-timers.mjs';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, inspect } from 'node:util';
import { ShapeStream, Shape } from '@electric-sql/client';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The default test schema: every column type the tests exercise plus a composite-PK table. */
export const SCHEMA = `
CREATE TABLE items (
    id     int8 PRIMARY KEY,
    title  text,
    done   bool,
    score  float8,
    meta   jsonb,
    tags   int4[],
    at     timestamptz,
    n      int4
);
CREATE TABLE pairs (
    a  int8 NOT NULL,
    b  text NOT NULL,
    v  text,
    PRIMARY KEY (a, b)
);
CREATE TABLE empty_t (id int8 PRIMARY KEY, name text);
CREATE TABLE big (id int8 PRIMARY KEY, body text NOT NULL);
`;

/** Short timeouts so the long-poll / SSE paths are exercised quickly. */
export const FAST_FLAGS = {
  'long-poll-ms': 400,
  'sse-timeout-ms': 1500,
  'sse-keepalive-ms': 200,
  'chunk-bytes': 2048,
};

export function serverBin() {
  const bin = process.env.EDDY_SERVER_BIN ?? join(ROOT, 'target', 'debug', 'eddy-server');
  if (!existsSync(bin)) {
    throw new Error(
      `eddy-server binary not found at ${bin}: run \`cargo build -p eddy-server\` first ` +
        `or set EDDY_SERVER_BIN to its path`,
    );
  }
  return bin;
}

/** Reject after `ms` with `what` in the message. */
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a server. `flags` are `--name value` pairs (numbers or strings) merged over FAST_FLAGS.
 * Returns the server object described at the top of this file.
 */
export async function startServer({ schema = SCHEMA, flags = {} } = {}) {
  const bin = serverBin();
  const dir = mkdtempSync(join(tmpdir(), 'eddy-conf-'));
  const schemaPath = join(dir, 'schema.sql');
  writeFileSync(schemaPath, schema);
  const all = { data: ':memory:', ...FAST_FLAGS, ...flags };
  const args = ['--schema', schemaPath, '--listen', '127.0.0.1:0'];
  for (const [k, v] of Object.entries(all)) if (v !== undefined && v !== null) args.push(`--${k}`, String(v));
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20000) stderr = stderr.slice(-20000);
  });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const base = await withTimeout(
    new Promise((resolveUrl, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /eddy-server listening on (http:\/\/\S+)/.exec(out);
        if (m) resolveUrl(m[1]);
      });
      exited.then(({ code, signal }) =>
        reject(new Error(`eddy-server exited early (code ${code}, signal ${signal}): ${stderr}`)),
      );
      child.once('error', reject);
    }),
    10000,
    'eddy-server startup line',
  ).catch((e) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const shapeUrl = `${base}/v1/shape`;
  const streams = new Set();

  const server = {
    base,
    shapeUrl,
    args,
    get stderr() {
      return stderr;
    },

    /** POST /v1/tx; returns `{lsn, txid}`. */
    async tx(ops) {
      const r = await fetch(`${base}/v1/tx`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ops }, (_, v) => (typeof v === 'bigint' ? v.toString() : v)),
        signal: AbortSignal.timeout(10000),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`POST /v1/tx -> ${r.status}: ${text}`);
      return JSON.parse(text);
    },

    /** GET /v1/shape with params (object; `params` may be an object of `$n` values). */
    async get(params, init = {}) {
      return fetch(shapeQuery(shapeUrl, params), { signal: AbortSignal.timeout(15000), ...init });
    },

    /** Any request on a path of the server. */
    async request(path, init = {}) {
      return fetch(`${base}${path}`, { signal: AbortSignal.timeout(15000), ...init });
    },

    /** DELETE /v1/shape for the definition in `params` (optionally a handle). */
    async deleteShape(params) {
      const r = await fetch(shapeQuery(shapeUrl, params), {
        method: 'DELETE',
        signal: AbortSignal.timeout(10000),
      });
      await r.arrayBuffer();
      return r.status;
    },

    /**
     * Ground truth of a shape: a raw sync from offset=-1 to the first up-to-date, materialised
     * (insert = set, update = merge, delete = remove) and typed with the electric-schema header.
     * Returns `{ handle, offset, schema, rawRows: Map<key, raw>, rows: Map<key, typed> }`.
     */
    async truth(params) {
      return rawSync(shapeUrl, params);
    },

    /** An official ShapeStream + Shape on `params`, recording every up-to-date state. */
    sync(params, opts = {}) {
      const s = officialSync(shapeUrl, params, opts);
      streams.add(s);
      return s;
    },

    /** Abort every stream opened with sync(), kill the server, remove the temp dir. */
    async stop() {
      for (const s of streams) s.close();
      streams.clear();
      if (child.exitCode === null && child.signalCode === null) {
        // Graceful first; eddy-server's graceful shutdown waits for held live requests (see
        // server-bugs.test.mjs), so fall back to SIGKILL quickly.
        child.kill('SIGINT');
        const t0 = Date.now();
        const done = await Promise.race([exited, sleep(1000).then(() => null)]);
        if (process.env.EDDY_CONF_DEBUG) console.error(`stop: ${done ? 'exited' : 'killed'} after ${Date.now() - t0} ms`);
        if (done === null) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Build a /v1/shape URL. `params.params` (object or array) becomes `params[n]=..`. */
export function shapeQuery(url, params) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (k === 'params' && typeof v === 'object') {
      const entries = Array.isArray(v) ? v.map((x, i) => [i + 1, x]) : Object.entries(v);
      for (const [n, x] of entries) u.searchParams.set(`params[${n}]`, String(x));
    } else if (Array.isArray(v)) {
      u.searchParams.set(k, v.join(','));
    } else {
      u.searchParams.set(k, String(v));
    }
  }
  return u.toString();
}

async function rawSync(shapeUrl, params) {
  let offset = '-1';
  let handle;
  let schema;
  const rawRows = new Map();
  for (let i = 0; i < 10000; i++) {
    const q = { ...params, offset };
    if (handle) q.handle = handle;
    const r = await fetch(shapeQuery(shapeUrl, q), { signal: AbortSignal.timeout(10000) });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`truth: GET offset=${offset} -> ${r.status} ${text}`);
    handle = r.headers.get('electric-handle');
    offset = r.headers.get('electric-offset');
    schema ??= JSON.parse(r.headers.get('electric-schema'));
    const msgs = JSON.parse(text);
    let upToDate = false;
    for (const m of msgs) {
      if (m.headers?.control === 'up-to-date') upToDate = true;
      const op = m.headers?.operation;
      if (op === 'insert') rawRows.set(m.key, m.value);
      else if (op === 'update') rawRows.set(m.key, { ...rawRows.get(m.key), ...m.value });
      else if (op === 'delete') rawRows.delete(m.key);
    }
    if (upToDate !== r.headers.has('electric-up-to-date')) {
      throw new Error(`truth: body up-to-date ${upToDate} but header says ${r.headers.has('electric-up-to-date')}`);
    }
    if (upToDate) {
      const rows = new Map([...rawRows].map(([k, v]) => [k, typeRow(v, schema)]));
      return { handle, offset, schema, rawRows, rows };
    }
  }
  throw new Error('truth: no up-to-date after 10000 requests');
}

// ---- An independent re-implementation of the documented default parser (ref §5) ----

/** Type a raw row (strings/null) with an electric-schema object. */
export function typeRow(raw, schema) {
  const out = {};
  for (const [col, v] of Object.entries(raw)) {
    const info = schema[col];
    out[col] = info ? typeValue(v, info) : v;
  }
  return out;
}

function typeScalar(s, type) {
  if (s === null) return null;
  switch (type) {
    case 'int2':
    case 'int4':
    case 'float4':
    case 'float8':
      return Number(s);
    case 'int8':
      return BigInt(s);
    case 'bool':
      return s === 't' || s === 'true';
    case 'json':
    case 'jsonb':
      return JSON.parse(s);
    default:
      return s;
  }
}

function typeValue(v, info) {
  if (v === null) return null;
  if (info.dims) return parsePgArray(v, (s) => typeScalar(s, info.type));
  return typeScalar(v, info.type);
}

/** Parse a Postgres array literal; unquoted NULL -> null, quoted "NULL" -> the string. */
export function parsePgArray(text, el) {
  let i = 0;
  function parse() {
    if (text[i] !== '{') throw new Error(`bad array literal ${text}`);
    i++;
    const out = [];
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      if (text[i] === '{') out.push(parse());
      else if (text[i] === '"') {
        i++;
        let s = '';
        while (text[i] !== '"') {
          if (text[i] === '\\') i++;
          s += text[i++];
        }
        i++;
        out.push(el(s));
      } else {
        let s = '';
        while (text[i] !== ',' && text[i] !== '}') s += text[i++];
        out.push(s === 'NULL' ? null : el(s));
      }
      if (text[i] === ',') i++;
      else if (text[i] === '}') {
        i++;
        return out;
      } else throw new Error(`bad array literal ${text}`);
    }
  }
  return parse();
}

// ---- Official client wrapper ----

/** Deep copy of a Map<key,row> (values are treated as immutable JSON-ish data). */
function cloneMap(m) {
  return new Map([...m].map(([k, v]) => [k, structuredClone(v)]));
}

/**
 * Open an official ShapeStream + Shape. The returned object records:
 * - `states`: a copy of Shape.currentValue at every batch that ends with up-to-date,
 * - `batches`: every batch of messages the stream published,
 * - `requests`: every request the client made `{url, status, headers}` (via fetchClient),
 * - `errors`: everything passed to onError.
 */
export function officialSync(shapeUrl, params, opts = {}) {
  const ac = new AbortController();
  const requests = [];
  const errors = [];
  const batches = [];
  const states = [];
  const waiters = new Set();
  const onRequest = opts.onRequest;
  const onResponse = opts.onResponse;
  const fetchClient = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    const entry = { url, status: undefined, headers: undefined, at: Date.now() };
    requests.push(entry);
    if (onRequest) await onRequest(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    entry.headers = Object.fromEntries(res.headers);
    if (onResponse) await onResponse(entry, res);
    return res;
  };
  // Only pass options that are set: the client spreads defaults under explicit `undefined`s.
  const extra = {};
  for (const k of ['liveSse', 'log', 'offset', 'handle', 'subscribe', 'subsetMethod']) if (opts[k] !== undefined) extra[k] = opts[k];
  const stream = new ShapeStream({
    url: shapeUrl,
    params: { ...params, ...(opts.replica ? { replica: opts.replica } : {}) },
    signal: ac.signal,
    fetchClient,
    ...extra,
    warnOnHttp: false,
    backoffOptions: { initialDelay: 50, maxDelay: 500, multiplier: 2 },
    onError: (e) => {
      errors.push(e);
      for (const w of waiters) w();
      return opts.onError ? opts.onError(e) : undefined;
    },
  });
  const shape = new Shape(stream);
  const unsub = stream.subscribe((msgs) => {
    batches.push(msgs);
    if (msgs.some((m) => m.headers?.control === 'up-to-date')) {
      states.push({ value: cloneMap(shape.currentValue), offset: stream.lastOffset, handle: stream.shapeHandle });
    }
    for (const w of waiters) w();
  });

  const s = {
    stream,
    shape,
    requests,
    errors,
    batches,
    states,
    /** Latest up-to-date state (or undefined). */
    get last() {
      return states.at(-1);
    },
    /** Resolve when `pred(s)` holds; bounded by `ms`. */
    async until(pred, ms = 8000, what = 'condition') {
      if (pred(s)) return;
      // Re-checked after every batch/error and every 20 ms (requests change between batches).
      let wake;
      let poll;
      const p = new Promise((r) => {
        wake = () => {
          if (pred(s)) r();
        };
        waiters.add(wake);
        poll = setInterval(wake, 20);
      });
      try {
        await withTimeout(p, ms, what);
      } finally {
        clearInterval(poll);
        waiters.delete(wake);
      }
    },
    /**
     * Wait until the latest up-to-date state equals `truth.rows` (a Map). Every up-to-date state
     * recorded after index `since` must equal one of `allowed` (the previous truth) or the new one.
     */
    async converge(truth, { since = 0, allowed = [], ms = 8000 } = {}) {
      const target = truth.rows ?? truth;
      try {
        await s.until((x) => x.last && mapsEqual(x.last.value, target), ms, 'client rows to equal ground truth');
      } catch (e) {
        throw new Error(
          `${e.message}\nclient: ${inspect(s.last?.value, { depth: 5 })}\ntruth:  ${inspect(target, { depth: 5 })}` +
            `\nerrors: ${inspect(errors)}`,
        );
      }
      for (const st of states.slice(since)) {
        const ok = mapsEqual(st.value, target) || allowed.some((a) => mapsEqual(st.value, a.rows ?? a));
        if (!ok) throw new Error(`an up-to-date state matched no ground truth: ${inspect(st.value, { depth: 5 })}`);
      }
    },
    close() {
      unsub();
      ac.abort();
      stream.unsubscribeAll();
      shape.unsubscribeAll();
      for (const w of waiters) w();
    },
  };
  return s;
}

/** Deep equality of two Map<key,row> (BigInt-aware, order-insensitive). */
export function mapsEqual(a, b) {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    if (!b.has(k) || !isDeepStrictEqual(v, b.get(k))) return false;
  }
  return true;
}

/** Map of key -> typed row as a plain sorted object, for readable assertions. */
export function toObject(m) {
  return Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Read a fetch Response body as JSON (null on empty). */
export async function json(res) {
  const t = await res.text();
  return t ? JSON.parse(t) : null;
}

/** Key of an `items` row the way Electric builds it. */
export const itemKey = (id) => `"public"."items"/"${id}"`;

// Raw-fetch protocol checks the official client cannot see (ref §1, §2.1, §2.2, §3, §3.6, §4):
// headers and cache-control per response kind, etag/If-None-Match -> 304, CORS, status codes and
// error bodies, offset=-1 never up-to-date, chunked log catch-up, SSE framing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, json, withTimeout } from './harness.mjs';

const T = { timeout: 30000 };

const CC = {
  initial: 'public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746',
  nonLive: 'public, max-age=60, stale-while-revalidate=300',
  live: 'public, max-age=5, stale-while-revalidate=5',
  sse: 'public, max-age=59',
  conflict: 'public, max-age=60, must-revalidate',
  error: 'no-store',
};
const EXPOSED = [
  'electric-cursor',
  'electric-handle',
  'electric-has-data',
  'electric-offset',
  'electric-schema',
  'electric-up-to-date',
  'electric-internal-known-error',
  'retry-after',
];

async function withServer(fn, opts) {
  const s = await startServer(opts);
  try {
    await fn(s);
  } finally {
    await s.stop();
  }
}

const ins = (table, row) => ({ op: 'insert', table, row });
const isUpToDate = (m) => m.headers?.control === 'up-to-date';

/** Follow non-live requests from offset -1 to up-to-date; returns every response. */
async function follow(s, params, max = 1000) {
  const out = [];
  let offset = '-1';
  let handle;
  for (let i = 0; i < max; i++) {
    const r = await s.get({ ...params, offset, ...(handle ? { handle } : {}) });
    const body = await json(r);
    out.push({ r, body, offset });
    assert.equal(r.status, 200, `GET offset=${offset}: ${JSON.stringify(body)}`);
    handle = r.headers.get('electric-handle');
    offset = r.headers.get('electric-offset');
    if (r.headers.has('electric-up-to-date')) return out;
  }
  throw new Error('no up-to-date');
}

test('offset=-1 is never up-to-date (empty, non-empty, changes_only, multi-chunk); headers of initial responses', T, () =>
  withServer(async (s) => {
    await s.tx(Array.from({ length: 80 }, (_, i) => ins('big', { id: i + 1, body: 'x'.repeat(60) })));
    await s.tx([ins('items', { id: 1, title: 'a' })]);
    for (const params of [
      { table: 'empty_t' },
      { table: 'items' },
      { table: 'items', log: 'changes_only' },
      { table: 'big' },
      { table: 'items', where: 'id = 999' },
    ]) {
      const r = await s.get({ ...params, offset: '-1' });
      const body = await json(r);
      const what = JSON.stringify(params);
      assert.equal(r.status, 200, what);
      assert.ok(Array.isArray(body), what);
      assert.equal(body.some(isUpToDate), false, `${what}: no up-to-date message`);
      assert.equal(r.headers.has('electric-up-to-date'), false, `${what}: no up-to-date header`);
      assert.equal(r.headers.get('cache-control'), CC.initial, what);
      assert.equal(r.headers.get('electric-offset'), '0_0', what);
      assert.match(r.headers.get('electric-handle'), /^\d+-\d+$/, what);
      assert.equal(typeof JSON.parse(r.headers.get('electric-schema')), 'object', what);
      assert.equal(r.headers.has('electric-cursor'), false, `${what}: no cursor on non-live`);
      assert.equal(r.headers.get('content-type'), 'application/json', what);
      const hasData = body.some((m) => m.headers?.operation);
      assert.equal(r.headers.get('electric-has-data'), String(hasData), what);
      for (const m of body) {
        assert.deepEqual(m.headers.relation, ['public', params.table], what);
        assert.equal(m.headers.lsn, undefined, `${what}: snapshot rows have no lsn`);
        assert.equal(m.headers.operation, 'insert', what);
      }
    }
  }));

test('multi-chunk snapshot: offsets 0_0, 0_1, ... then up-to-date; every row exactly once', T, () =>
  withServer(async (s) => {
    await s.tx(Array.from({ length: 120 }, (_, i) => ins('big', { id: i + 1, body: 'y'.repeat(70) })));
    const res = await follow(s, { table: 'big' });
    assert.ok(res.length > 3, `chunks: ${res.length}`);
    res.slice(0, -1).forEach((x, i) => {
      assert.equal(x.r.headers.get('electric-offset'), `0_${i}`);
      assert.equal(x.body.some(isUpToDate), false);
      assert.ok(x.r.headers.get('content-length') < 2048 + 400, 'chunks respect --chunk-bytes (one row of slack)');
    });
    assert.equal(res.at(-1).r.headers.get('cache-control'), CC.nonLive);
    const keys = res.flatMap((x) => x.body.filter((m) => m.key).map((m) => m.key));
    assert.equal(keys.length, 120);
    assert.equal(new Set(keys).size, 120);
    const last = res.at(-1);
    assert.ok(isUpToDate(last.body.at(-1)), 'up-to-date is the last message');
    assert.match(last.body.at(-1).headers.global_last_seen_lsn, /^\d+$/);
  }));

test('log catch-up larger than --chunk-bytes: partial responses without up-to-date, offsets advance, all changes once', T, () =>
  withServer(async (s) => {
    const base = await s.truth({ table: 'items' });
    const lsns = [];
    for (let i = 0; i < 40; i++) lsns.push((await s.tx([ins('items', { id: i + 1, title: 'z'.repeat(80) })])).lsn);
    let offset = base.offset;
    const seen = [];
    let partial = 0;
    for (let i = 0; i < 100; i++) {
      const r = await s.get({ table: 'items', offset, handle: base.handle });
      const body = await json(r);
      assert.equal(r.status, 200);
      const changes = body.filter((m) => m.headers.operation);
      const last = changes.at(-1);
      if (last) assert.equal(r.headers.get('electric-offset'), `${last.headers.lsn}_${last.headers.op_position}`);
      seen.push(...changes);
      offset = r.headers.get('electric-offset');
      if (r.headers.has('electric-up-to-date')) {
        assert.ok(isUpToDate(body.at(-1)));
        break;
      }
      assert.equal(body.some(isUpToDate), false);
      partial++;
    }
    assert.ok(partial >= 1, 'at least one partial response');
    assert.deepEqual(
      seen.map((m) => m.headers.lsn),
      lsns,
      'each transaction once, in commit order',
    );
    for (const m of seen) {
      assert.deepEqual(m.headers.txids.length, 1);
      assert.equal(m.headers.last, true);
      assert.equal(m.headers.op_position, 0);
    }
  }));

test('non-live, live and offset=now headers; has-data; schema only on non-live', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', { id: 1, title: 'a' })]);
    const t = await s.truth({ table: 'items' });
    // Non-live at the end: up-to-date, no data.
    let r = await s.get({ table: 'items', offset: t.offset, handle: t.handle });
    let body = await json(r);
    assert.equal(r.headers.get('cache-control'), CC.nonLive);
    assert.equal(r.headers.get('electric-up-to-date'), '');
    assert.equal(r.headers.get('electric-has-data'), 'false');
    assert.ok(r.headers.has('electric-schema'));
    assert.deepEqual(body.map((m) => m.headers.control), ['up-to-date']);
    // Live timeout (--long-poll-ms 400): 200 [up-to-date] at the same offset with a cursor.
    r = await s.get({ table: 'items', offset: t.offset, handle: t.handle, live: 'true', cursor: '' });
    body = await json(r);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), CC.live);
    assert.equal(r.headers.get('electric-offset'), t.offset);
    assert.equal(r.headers.get('electric-has-data'), 'false');
    assert.equal(r.headers.get('electric-up-to-date'), '');
    assert.equal(r.headers.has('electric-schema'), false, 'no schema on live responses');
    const cursor = r.headers.get('electric-cursor');
    assert.match(cursor, /^\d+$/);
    assert.equal(body.length, 1);
    assert.ok(isUpToDate(body[0]));
    // Echoing the cursor always yields a different one (§0).
    r = await s.get({ table: 'items', offset: t.offset, handle: t.handle, live: 'true', cursor });
    await r.text();
    assert.notEqual(r.headers.get('electric-cursor'), cursor);
    // Live with a commit while held: answers with the change.
    const pending = s.get({ table: 'items', offset: t.offset, handle: t.handle, live: 'true', cursor });
    const { lsn } = await s.tx([ins('items', { id: 2, title: 'b' })]);
    r = await pending;
    body = await json(r);
    assert.equal(r.headers.get('electric-has-data'), 'true');
    assert.equal(r.headers.get('electric-offset'), `${lsn}_0`);
    assert.equal(body[0].key, '"public"."items"/"2"');
    assert.deepEqual(body[0].headers, {
      operation: 'insert',
      relation: ['public', 'items'],
      lsn,
      op_position: 0,
      txids: body[0].headers.txids,
      last: true,
    });
    assert.ok(isUpToDate(body.at(-1)));
    assert.equal(body.at(-1).headers.global_last_seen_lsn, lsn);
    // offset=now: immediate up-to-date at the log end, no data, schema present.
    r = await s.get({ table: 'items', offset: 'now' });
    body = await json(r);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('electric-offset'), `${lsn}_0`);
    assert.equal(r.headers.get('electric-has-data'), 'false');
    assert.equal(r.headers.get('electric-up-to-date'), '');
    assert.equal(r.headers.get('electric-handle'), t.handle);
    assert.ok(r.headers.has('electric-schema'));
    assert.deepEqual(body.map((m) => m.headers.control), ['up-to-date']);
  }));

test('etag and If-None-Match: 304 for data responses, never for empty ones', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', { id: 1, title: 'a' })]);
    let r = await s.get({ table: 'items', offset: '-1' });
    await r.text();
    const handle = r.headers.get('electric-handle');
    const etag = r.headers.get('etag');
    assert.equal(etag, `"${handle}:-1:0_0"`);
    r = await s.get({ table: 'items', offset: '-1' }, { headers: { 'if-none-match': etag } });
    assert.equal(r.status, 304);
    assert.equal(await r.text(), '');
    assert.equal(r.headers.get('electric-handle'), handle);
    assert.equal(r.headers.get('electric-offset'), '0_0');
    r = await s.get({ table: 'items', offset: '-1' }, { headers: { 'if-none-match': `"other", ${etag}` } });
    await r.text();
    assert.equal(r.status, 304, 'a list of etags matches too');
    r = await s.get({ table: 'items', offset: '-1' }, { headers: { 'if-none-match': '"nope"' } });
    await r.text();
    assert.equal(r.status, 200);
    // Empty responses carry a unique suffix: they never revalidate.
    r = await s.get({ table: 'items', offset: '0_0', handle });
    await r.text();
    const e1 = r.headers.get('etag');
    assert.match(e1, new RegExp(`^"${handle}:0_0:0_inf:\\d+"$`));
    r = await s.get({ table: 'items', offset: '0_0', handle }, { headers: { 'if-none-match': e1 } });
    assert.equal(r.status, 200);
    await r.text();
    assert.notEqual(r.headers.get('etag'), e1);
  }));

test('CORS: expose list, origin echo, preflight', T, () =>
  withServer(async (s) => {
    let r = await s.get({ table: 'items', offset: '-1' });
    await r.text();
    const exposed = r.headers.get('access-control-expose-headers').split(',').map((x) => x.trim());
    for (const h of EXPOSED) assert.ok(exposed.includes(h), `exposes ${h}`);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    r = await s.get({ table: 'items', offset: '-1' }, { headers: { origin: 'http://app.test' } });
    await r.text();
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.test');
    assert.match(r.headers.get('vary') ?? '', /origin/i);
    // Errors are readable cross-origin too.
    r = await s.get({ table: 'nope', offset: '-1' }, { headers: { origin: 'http://app.test' } });
    await r.text();
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.test');
    r = await s.request('/v1/shape?table=items&offset=-1', {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.test',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'if-none-match',
      },
    });
    await r.text();
    assert.ok(r.status === 204 || r.status === 200, `preflight status ${r.status}`);
    const allowHeaders = r.headers.get('access-control-allow-headers').split(',').map((x) => x.trim().toLowerCase());
    for (const h of ['if-none-match', 'traceparent']) assert.ok(allowHeaders.includes(h), `allows ${h}`);
    const methods = r.headers.get('access-control-allow-methods');
    for (const m of ['GET', 'DELETE', 'OPTIONS']) assert.ok(methods.includes(m), `allows ${m}`);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.test');
  }));

test('400s: one field error each, Electric body, no-store', T, () =>
  withServer(async (s) => {
    const t = await s.truth({ table: 'items' });
    const cases = [
      [{ table: 'items' }, 'offset'],
      [{ table: 'items', offset: 'abc' }, 'offset'],
      [{ table: 'items', offset: '1_2_3' }, 'offset'],
      [{ table: 'items', offset: '-1', live: 'true' }, 'live'],
      [{ table: 'items', offset: 'now', live: 'true' }, 'live'],
      [{ table: 'items', offset: t.offset, handle: t.handle, live_sse: 'true' }, 'live_sse'],
      [{ table: 'items', offset: '0_0' }, 'handle'],
      [{ offset: '-1' }, 'table'],
      [{ table: 'nope', offset: '-1' }, 'table'],
      [{ table: 'items', offset: '-1', where: 'id ==== 1' }, 'where'],
      [{ table: 'items', offset: '-1', where: 'nope = 1' }, 'where'],
      [{ table: 'items', offset: '-1', where: 'pg_sleep(1) IS NULL' }, 'where'],
      [{ table: 'items', offset: '-1', where: 'id = $1' }, 'params'],
      [{ table: 'items', offset: '-1', columns: 'title' }, 'columns'],
      [{ table: 'items', offset: '-1', columns: 'id,zzz' }, 'columns'],
      [{ table: 'items', offset: '-1', replica: 'partial' }, 'replica'],
      [{ table: 'items', offset: '-1', log: 'some' }, 'log'],
      [{ table: 'items', offset: '0_99', handle: t.handle }, 'offset'],
      [{ table: 'items', offset: '99999999999999999_0', handle: t.handle }, 'offset'],
    ];
    for (const [params, field] of cases) {
      const r = await s.get(params);
      const body = await json(r);
      const what = JSON.stringify(params);
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(body)}`);
      assert.equal(body.message, 'Invalid request', what);
      assert.deepEqual(Object.keys(body.errors), [field], `${what}: ${JSON.stringify(body)}`);
      assert.ok(Array.isArray(body.errors[field]) && typeof body.errors[field][0] === 'string', what);
      assert.equal(r.headers.get('cache-control'), CC.error, what);
      assert.equal(r.headers.get('surrogate-control'), 'no-store', what);
    }
  }));

test('409s: unknown, mismatched and deleted handles name the replacement; DELETE 202/404', T, () =>
  withServer(async (s) => {
    await s.tx([ins('items', { id: 1 })]);
    const t = await s.truth({ table: 'items' });
    const check = async (params, expectHandle) => {
      const r = await s.get(params);
      const body = await json(r);
      assert.equal(r.status, 409, JSON.stringify(params));
      assert.deepEqual(body, [{ headers: { control: 'must-refetch' } }]);
      assert.equal(r.headers.get('cache-control'), CC.conflict);
      if (expectHandle) assert.equal(r.headers.get('electric-handle'), expectHandle);
      return r.headers.get('electric-handle');
    };
    await check({ table: 'items', offset: '0_0', handle: 'no-such-handle' }, t.handle);
    await check({ table: 'items', offset: t.offset, handle: t.handle, live: 'true', where: 'id > 0' });
    // A fresh table's shape does not exist until requested: 404.
    let r = await s.request('/v1/shape?table=big', { method: 'DELETE' });
    const nf = await json(r);
    assert.equal(r.status, 404);
    assert.equal(typeof nf.message, 'string');
    r = await s.request('/v1/shape?table=items', { method: 'DELETE' });
    await r.text();
    assert.equal(r.status, 202);
    const replacement = await check({ table: 'items', offset: t.offset, handle: t.handle });
    assert.notEqual(replacement, t.handle);
    const t2 = await s.truth({ table: 'items' });
    assert.equal(t2.handle, replacement, 'the 409 handle is the one a fresh sync gets');
    assert.deepEqual([...t2.rows.keys()], ['"public"."items"/"1"']);
    // DELETE with an explicit handle.
    r = await s.request(`/v1/shape?table=items&handle=${encodeURIComponent(t2.handle)}`, { method: 'DELETE' });
    await r.text();
    assert.equal(r.status, 202);
    r = await s.request(`/v1/shape?table=items&handle=${encodeURIComponent(t2.handle)}`, { method: 'DELETE' });
    await r.text();
    assert.equal(r.status, 404, 'deleting the same handle twice');
  }));

test('a live request held when its shape is deleted answers 409 at once (not after the timeout)', T, () =>
  withServer(
    async (s) => {
      const t = await s.truth({ table: 'items' });
      const pending = s.get({ table: 'items', offset: t.offset, handle: t.handle, live: 'true' });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await s.deleteShape({ table: 'items' }), 202);
      // --long-poll-ms is 20 s here: the bounded wait below fails if the server waits for it.
      const r = await withTimeout(pending, 5000, 'the held request to answer');
      await r.text();
      assert.equal(r.status, 409);
    },
    { flags: { 'long-poll-ms': 20000 } },
  ));

test('503 when live requests exceed --max-live, with retry-after and known-error headers', T, () =>
  withServer(
    async (s) => {
      const t = await s.truth({ table: 'items' });
      const ac = new AbortController();
      const first = s
        .get({ table: 'items', offset: t.offset, handle: t.handle, live: 'true' }, { signal: ac.signal })
        .catch(() => null);
      await new Promise((r) => setTimeout(r, 100));
      const r = await s.get({ table: 'items', offset: t.offset, handle: t.handle, live: 'true' });
      const body = await json(r);
      assert.equal(r.status, 503);
      assert.match(r.headers.get('retry-after'), /^\d+$/);
      assert.equal(r.headers.get('electric-internal-known-error'), 'true');
      assert.equal(body.code, 'concurrent_request_limit_exceeded');
      ac.abort();
      await first;
      // Non-live requests are not limited.
      const ok = await s.get({ table: 'items', offset: t.offset, handle: t.handle });
      await ok.text();
      assert.equal(ok.status, 200);
    },
    { flags: { 'max-live': 1, 'long-poll-ms': 5000 } },
  ));

test('unknown query parameters are ignored; a handle with offset=-1 is dropped', T, () =>
  withServer(async (s) => {
    const t = await s.truth({ table: 'items' });
    let r = await s.get({ table: 'items', offset: '-1', 'cache-buster': 'x1', expired_handle: 'old', foo: 'bar' });
    await r.text();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('electric-handle'), t.handle);
    r = await s.get({ table: 'items', offset: '-1', handle: 'garbage' });
    await r.text();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('electric-handle'), t.handle);
  }));

test('SSE framing: text/event-stream, one JSON object per data event, keep-alives, up-to-date after changes', T, () =>
  withServer(async (s) => {
    const t = await s.truth({ table: 'items' });
    const ac = new AbortController();
    const r = await s.get(
      { table: 'items', offset: t.offset, handle: t.handle, live: 'true', live_sse: 'true', cursor: '' },
      { signal: ac.signal, headers: { accept: 'text/event-stream' } },
    );
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(r.headers.get('cache-control'), CC.sse);
    assert.equal(r.headers.get('electric-handle'), t.handle);
    assert.ok(r.headers.has('electric-offset'));
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    const readUntil = async (pred, what) =>
      withTimeout(
        (async () => {
          while (!pred(text)) {
            const { value, done } = await reader.read();
            if (done) throw new Error(`stream ended before ${what}: ${text}`);
            text += dec.decode(value, { stream: true });
          }
        })(),
        5000,
        what,
      );
    await readUntil((x) => x.includes(': keep-alive') || /\n: ?\S*/.test(x), 'a keep-alive comment');
    const { lsn } = await s.tx([ins('items', { id: 1, title: 'sse' }), ins('items', { id: 2 })]);
    await readUntil((x) => x.includes(`"global_last_seen_lsn":"${lsn}"`), 'the up-to-date after the commit');
    ac.abort();
    await reader.cancel().catch(() => {});
    const events = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice(6)));
    const changes = events.filter((m) => m.headers.operation);
    assert.deepEqual(
      changes.map((m) => [m.key, m.headers.op_position, m.headers.last ?? false]),
      [
        ['"public"."items"/"1"', 0, false],
        ['"public"."items"/"2"', 1, true],
      ],
    );
    assert.ok(isUpToDate(events.at(-1)));
    for (const e of text.split('\n\n').filter(Boolean)) {
      assert.ok(e.startsWith('data: ') || e.startsWith(':'), `unexpected SSE frame ${JSON.stringify(e)}`);
    }
  }));

test('health endpoint and 404 for unknown paths', T, () =>
  withServer(async (s) => {
    let r = await s.request('/v1/health');
    assert.equal(r.status, 200);
    assert.deepEqual(await json(r), { status: 'active' });
    r = await s.request('/v2/shape?table=items&offset=-1');
    const body = await json(r);
    assert.equal(r.status, 404);
    assert.equal(typeof body.message, 'string');
  }));

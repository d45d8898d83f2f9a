// End-to-end: ShapeStreamPersister (issue #5) in headless Chromium with a persistent profile,
// against a real eddy-server behind a recording tap. One conformance suite, run once per backend
// (IndexedDB, OPFS); the quota case uses a failing custom storage.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { persistEnv, waitFor, todo, insert, update, del, truthIds } from './persist-support.mjs'

const T = { timeout: 90_000 }
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

/** Sync until the shape equals the server and the stored copy is at the stream's offset. */
async function settled(env, page) {
  const want = await truthIds(env)
  await waitFor(async () => {
    // While a lost store is being reopened and rewritten, stats() rejects with
    // EDDY_STORAGE_LOST: not settled yet.
    const v = await page.evaluate(() => window.view().catch((e) => ({ lost: e.code })))
    if (v.lost === 'EDDY_STORAGE_LOST') return false
    if ('lost' in v) throw new Error(`stats() failed: ${v.lost}`)
    return (
      v.status === 'live' &&
      JSON.stringify(v.ids) === JSON.stringify(want.ids) &&
      v.stored.offset === v.offset &&
      v.stored.rows === want.ids.length
    )
  }, 15_000, 'shape == server and stored copy at the stream offset')
  return page.evaluate(() => window.view())
}

for (const backend of ['indexeddb', 'opfs']) {
  describe(`persistence conformance: ${backend}`, () => {
    test('reload with the server unreachable shows the stored rows as stale; catch-up resumes at the stored offset (no snapshot refetch)', T, async () => {
      const env = await persistEnv()
      try {
        await env.tx(range(1, 40).map((i) => insert(todo(i))))
        let b = await env.browser()
        const first = await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: backend })
        assert.deepEqual(first.ids, [], 'nothing stored on the first visit')
        await env.tx([update({ id: 3, title: 'changed' }), del({ id: 4 }), insert(todo(41))])
        const before = await settled(env, b.page)
        assert.equal(before.ids.length, 40)
        await b.page.evaluate(() => window.persister.flush()) // nothing left to write: resolves
        await b.close()

        // Restart the browser with the server unreachable.
        env.block()
        b = await env.browser()
        const restored = await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: backend })
        assert.deepEqual(restored.ids, before.ids, 'the stored rows are there once ready resolves')
        assert.equal(restored.status, 'stale')
        assert.ok(restored.seen >= 1, 'shape subscribers were notified with the stored rows')
        const title3 = await b.page.evaluate(() => window.shape.currentValue.get('"public"."todos"/"3"')?.title)
        assert.equal(title3, 'changed', 'stored rows hold their latest values')
        assert.equal(await b.page.evaluate(() => window.persister.status), 'stale', 'still stale while unreachable')

        // The server changes meanwhile, then comes back.
        await env.tx([insert(todo(42)), del({ id: 1 }), update({ id: 2, title: 'later' })])
        const mark = env.tap.log.length
        env.unblock()
        const after = await settled(env, b.page)
        const want = await truthIds(env)
        assert.deepEqual(after.ids, want.ids)
        const reqs = env.since(mark).filter((e) => e.status === 200)
        assert.ok(reqs.length >= 1, 'requests after the unblock')
        assert.ok(reqs.every((e) => e.query.offset !== '-1'), `no snapshot refetch: ${reqs.map((e) => e.query.offset)}`)
        assert.equal(reqs[0].query.offset, before.stored.offset, 'resumes from the stored offset')
        assert.equal(reqs[0].query.handle, before.stored.handle, 'with the stored handle')
        const rows = await b.page.evaluate(() => window.plain(window.shape.currentRows))
        const two = rows.find((r) => r.id === '2n')
        assert.equal(two.title, 'later')
        assert.deepEqual(b.consoleLines.filter((l) => l.startsWith('pageerror')), [])
      } finally {
        await env.close()
      }
    })

    test('409 while persisted: the old rows never reappear after a reload', T, async () => {
      const env = await persistEnv()
      try {
        await env.tx(range(1, 10).map((i) => insert(todo(i))))
        let b = await env.browser()
        await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: backend })
        await settled(env, b.page)
        // Rotate the shape and change the rows; the refetch after the 409 cannot complete yet.
        let refetches = 0
        env.tap.rules.unshift((e) => (e.query.offset === '-1' && ++refetches > 0 ? { destroy: true } : undefined))
        const r = await fetch(`${env.direct}/v1/shape?table=todos`, { method: 'DELETE' })
        assert.equal(r.status, 202)
        await env.tx([del({ id: 1 }), del({ id: 2 }), insert(todo(11))])
        await waitFor(async () => refetches > 0, 30_000, 'the 409 and a refetch attempt')
        // The wipe is committed before any new data lands.
        await waitFor(async () => (await b.page.evaluate(() => window.view())).stored.rows === 0, 10_000, 'the wipe')
        await b.close()

        env.block()
        b = await env.browser()
        const wiped = await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: backend })
        assert.deepEqual(wiped.ids, [], 'after the wipe nothing old is shown')
        env.tap.rules.shift()
        env.unblock()
        const now = await settled(env, b.page)
        const want = await truthIds(env)
        assert.deepEqual(now.ids, want.ids)
        await b.close()

        env.block()
        b = await env.browser()
        const again = await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: backend })
        assert.deepEqual(again.ids, want.ids, 'the re-synced rows, none of the old ones')
        assert.ok(!again.ids.includes('1') && !again.ids.includes('2'))
        assert.equal(again.status, 'stale')
      } finally {
        await env.close()
      }
    })
  })
}

test('quota: a failing custom storage gives a typed StorageQuotaError, the stream goes on in memory, the store keeps its last checkpoint', T, async () => {
  const env = await persistEnv()
  try {
    await env.tx(range(1, 10).map((i) => insert(todo(i))))
    const b = await env.browser()
    const page = b.page
    await page.evaluate(async (server) => {
      window.custom = window.makeCustomStorage()
      await window.startPersisted({ server, storage: window.custom })
    }, env.server)
    const first = await settled(env, page)
    await page.evaluate(() => (window.custom.fail = true))
    await env.tx([insert(todo(11)), del({ id: 5 })])
    await waitFor(() => page.evaluate(() => window.persisterErrors.length > 0), 10_000, 'the quota error')
    const errs = await page.evaluate(() => window.persisterErrors)
    assert.equal(errs[0].quota, true, JSON.stringify(errs[0]))
    assert.equal(errs[0].storage, true)
    assert.equal(errs[0].code, 'EDDY_STORAGE_QUOTA')
    assert.equal(errs[0].name, 'StorageQuotaError')
    const want = await truthIds(env)
    await waitFor(async () => JSON.stringify((await page.evaluate(() => window.view())).ids) === JSON.stringify(want.ids), 10_000, 'the stream going on')
    assert.equal(await page.evaluate(() => window.stream.status), 'live')

    // The stored copy is the last successful checkpoint, intact: restore it into a second stream.
    const stored = await page.evaluate(async (server) => {
      const { ShapeStream, Shape, ShapeStreamPersister } = window.eddy
      // A second stream whose server is unreachable (connection refused): only the stored rows.
      const ac = new AbortController()
      const s = new ShapeStream({ url: `http://127.0.0.1:9/v1/shape`, params: { table: 'todos' }, signal: ac.signal })
      const p = new ShapeStreamPersister(s, { storage: window.custom, namespace: 'ns1' })
      const shape = new Shape(p)
      await p.ready
      const out = { ids: window.ids(shape.currentRows), status: p.status, offset: (await p.stats()).offset }
      p.close()
      ac.abort()
      return out
    }, env.server)
    assert.deepEqual(stored.ids, first.ids, 'the stored rows are those of the last successful checkpoint')
    assert.equal(stored.offset, first.stored.offset)

    // Space again: the next checkpoint covers everything since the last success.
    await page.evaluate(() => (window.custom.fail = false))
    await env.tx([update({ id: 2, title: 'after quota' })])
    const want2 = await truthIds(env)
    const done = await settled(env, page)
    assert.deepEqual(done.ids, want2.ids)
    const restored = await page.evaluate(async (server) => {
      const { ShapeStream, Shape, ShapeStreamPersister } = window.eddy
      // A second stream whose server is unreachable (connection refused): only the stored rows.
      const ac = new AbortController()
      const s = new ShapeStream({ url: `http://127.0.0.1:9/v1/shape`, params: { table: 'todos' }, signal: ac.signal })
      const p = new ShapeStreamPersister(s, { storage: window.custom, namespace: 'ns1' })
      const shape = new Shape(p)
      await p.ready
      const out = { ids: window.ids(shape.currentRows), two: shape.currentValue.get('"public"."todos"/"2"')?.title }
      p.close()
      ac.abort()
      return out
    }, env.server)
    assert.deepEqual(restored.ids, want2.ids)
    assert.equal(restored.two, 'after quota')
  } finally {
    await env.close()
  }
})

test('IndexedDB deleted under the running persister: reported as EDDY_STORAGE_LOST, the store is rebuilt from the rows in memory', T, async () => {
  const env = await persistEnv()
  try {
    await env.tx(range(1, 10).map((i) => insert(todo(i))))
    let b = await env.browser()
    await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: 'indexeddb' })
    await settled(env, b.page)
    // Another party (a tab, "clear site data") deletes the database; our connection yields.
    await b.page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const r = indexedDB.deleteDatabase('eddy-persist')
          r.onsuccess = resolve
          r.onerror = () => reject(r.error)
        }),
    )
    await env.tx([insert(todo(11)), del({ id: 1 })])
    await waitFor(() => b.page.evaluate(() => window.persisterErrors.some((e) => e.code === 'EDDY_STORAGE_LOST')), 10_000, 'the loss report')
    const want = await truthIds(env)
    await settled(env, b.page)
    await b.close()

    env.block()
    b = await env.browser()
    const got = await b.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: 'indexeddb' })
    assert.deepEqual(got.ids, want.ids, 'the rebuilt store holds the current rows')
    assert.equal(got.status, 'stale')
  } finally {
    await env.close()
  }
})

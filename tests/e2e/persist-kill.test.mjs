// Crash safety of the persisted store (issue #5): Chromium's whole process group is SIGKILLed at
// random points during the initial sync and during live updates; every reopened store must equal
// the server's rows at the stored offset exactly (no torn pages, no rows from after the offset,
// none missing). Iterations: EDDY_KILL_ITERATIONS (default 20), alternating IndexedDB and OPFS.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { persistEnv, sleep, todo, insert, update, del, truthAt } from './persist-support.mjs'

const ITERATIONS = Number(process.env.EDDY_KILL_ITERATIONS ?? 20)
const FAST = ['--long-poll-ms', '1000', '--chunk-bytes', '16384']

/** A deterministic PRNG so a failing run can be replayed (seed printed on failure). */
function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test(`SIGKILL loop: ${ITERATIONS} kills during initial sync and live updates; every reopened store == server rows at its stored offset`, { timeout: 60_000 + ITERATIONS * 20_000 }, async (t) => {
  const seed = Number(process.env.EDDY_KILL_SEED ?? Date.now() % 1_000_000)
  const rand = rng(seed)
  const env = await persistEnv({ serverArgs: FAST })
  let nextId = 1
  const live = new Set()
  const ops = (n) => {
    const out = []
    for (let i = 0; i < n; i++) {
      const r = rand()
      const ids = [...live]
      if (r < 0.5 || ids.length < 10) {
        const id = nextId++
        live.add(id)
        out.push(insert(todo(id, `t${id}-${Math.floor(rand() * 1e6)}`)))
      } else if (r < 0.85) {
        const id = ids[Math.floor(rand() * ids.length)]
        out.push(update({ id, title: `u${id}-${Math.floor(rand() * 1e6)}` }))
      } else {
        const id = ids[Math.floor(rand() * ids.length)]
        live.delete(id)
        out.push(del({ id }))
      }
    }
    return out
  }
  let writing = false
  const writer = async () => {
    while (writing) {
      await env.tx(ops(1 + Math.floor(rand() * 10)))
      await sleep(20 + rand() * 40)
    }
  }
  const summary = []
  try {
    await env.tx(ops(1500))
    let namespace = 'k0'
    for (let it = 0; it < ITERATIONS; it++) {
      // Groups of three iterations on one store: a fresh one (initial sync), then two resumes.
      const storage = Math.floor(it / 3) % 2 === 0 ? 'indexeddb' : 'opfs'
      if (it % 3 === 0) namespace = `k${it}-${storage}`
      const phase = it % 3 === 0 ? 'initial' : 'live'
      const b = await env.killableBrowser()
      await b.page.evaluate((a) => { void window.startPersisted(a) }, { server: env.server, storage, namespace })
      writing = true
      const w = writer()
      if (phase === 'live') {
        // Let it reach live (bounded), then kill at a random point of the live updates.
        const deadline = Date.now() + 10_000
        while (Date.now() < deadline && (await b.page.evaluate(() => window.persister?.status)) !== 'live') await sleep(50)
      }
      await sleep(rand() * (phase === 'initial' ? 1500 : 2000))
      const at = await b.page.evaluate(() => [window.stream.lastOffset, window.shape.currentRows.length, window.persister.status]).catch((e) => [String(e)])
      await b.kill()
      writing = false
      await w

      // Reopen with the server unreachable (another origin, so not even the HTTP cache answers):
      // only what was stored. The store key does not include the URL.
      const v = await env.killableBrowser()
      const got = await v.page.evaluate(async (a) => {
        await window.startPersisted(a)
        const st = await window.persister.stats()
        const rows = window.shape.currentRows.map((r) => [String(r.id), r.title])
        return { rows, offset: st.offset, handle: st.handle, status: window.persister.status }
      }, { server: env.server, storage, namespace, url: 'http://127.0.0.1:9/v1/shape' })
      await v.kill()
      summary.push(`${it}:${storage}:${phase}:${got.rows.length}@${got.offset ?? '-'}(page ${at.join('/')})`)
      if (got.offset === undefined) {
        assert.equal(got.rows.length, 0, `iteration ${it} (seed ${seed}): rows without a stored offset`)
        continue
      }
      assert.equal(got.status, 'stale')
      const want = await truthAt(env.direct, got.offset)
      assert.equal(got.handle, want.handle, `iteration ${it} (seed ${seed}): stored handle`)
      const have = new Map(got.rows)
      assert.equal(have.size, got.rows.length, 'one row per key')
      assert.deepEqual(
        [...have].sort((a, b) => Number(a[0]) - Number(b[0])),
        [...want.rows].sort((a, b) => Number(a[0]) - Number(b[0])),
        `iteration ${it} (seed ${seed}, ${storage}, ${phase}): stored rows == server rows at ${got.offset}`,
      )
    }
    t.diagnostic(`seed ${seed}; iteration:backend:phase:rows@offset ${summary.join(' ')}`)
    const restored = summary.filter((s) => !s.includes('@-')).length
    assert.ok(restored >= ITERATIONS / 3, `most iterations restored something: ${summary.join(' ')}`)
  } finally {
    writing = false
    await env.close()
  }
})

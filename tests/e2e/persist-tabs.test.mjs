// Multi-tab persistence (issue #5): per store one writer tab (Web Locks), the others follow;
// leadership passes on when the writer's tab closes. Headless Chromium, one persistent profile,
// several tabs on one shape, real eddy-server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { persistEnv, waitFor, todo, insert, update, del, truthIds } from './persist-support.mjs'

const T = { timeout: 120_000 }
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i)

const state = (page) =>
  page.evaluate(async () => {
    const st = await window.persister.stats()
    return {
      leader: window.persister.isLeader,
      ids: window.ids(window.shape.currentRows),
      status: window.persister.status,
      offset: window.stream.lastOffset,
      checkpoints: st.checkpoints,
      storedOffset: st.offset,
      leaderCheckpoint: st.leaderCheckpoint,
    }
  })

for (const [backend, tabs] of [['indexeddb', 2], ['indexeddb', 5], ['opfs', 2], ['opfs', 5]]) {
  test(`${tabs} tabs, ${backend}: one writer, all tabs show the server's rows, only the writer commits; a follower takes over when the writer closes`, T, async () => {
    const env = await persistEnv()
    try {
      await env.tx(range(1, 30).map((i) => insert(todo(i))))
      const b = await env.browser()
      const pages = [b.page]
      for (let i = 1; i < tabs; i++) pages.push(await b.newPage())
      for (const p of pages) await p.evaluate((a) => window.startPersisted(a), { server: env.server, storage: backend })
      await env.tx([update({ id: 2, title: 'two' }), del({ id: 3 }), insert(todo(31))])
      let want = await truthIds(env)
      const converged = async (list) => {
        await waitFor(async () => {
          for (const p of list) {
            const s = await state(p)
            if (s.status !== 'live' || JSON.stringify(s.ids) !== JSON.stringify(want.ids)) return false
          }
          return true
        }, 20_000, 'all tabs == server')
        return Promise.all(list.map(state))
      }
      let states = await converged(pages)
      assert.equal(states.filter((s) => s.leader).length, 1, 'exactly one writer')
      const li = states.findIndex((s) => s.leader)
      await waitFor(async () => (await state(pages[li])).storedOffset === states[li].offset, 10_000, 'the writer checkpoint')
      states = await Promise.all(pages.map(state))
      for (const [i, s] of states.entries()) {
        if (i === li) assert.ok(s.checkpoints >= 1, 'the writer committed')
        else assert.equal(s.checkpoints, 0, `follower ${i} never wrote`)
      }
      await waitFor(async () => {
        const f = await Promise.all(pages.filter((_, i) => i !== li).map(state))
        return f.every((s) => s.leaderCheckpoint?.offset === states[li].storedOffset)
      }, 10_000, 'followers heard of the last commit')

      // The writer's tab closes: one follower takes over and goes on writing.
      await pages[li].close()
      const rest = pages.filter((_, i) => i !== li)
      await waitFor(async () => (await Promise.all(rest.map(state))).filter((s) => s.leader).length === 1, 10_000, 'a new writer')
      await env.tx([insert(todo(32)), update({ id: 1, title: 'one' })])
      want = await truthIds(env)
      states = await converged(rest)
      const ni = states.findIndex((s) => s.leader)
      assert.equal(states.filter((s) => s.leader).length, 1)
      await waitFor(async () => (await state(rest[ni])).storedOffset === states[ni].offset, 10_000, 'the new writer checkpoint')
      for (const [i, s] of (await Promise.all(rest.map(state))).entries()) {
        if (i !== ni) assert.equal(s.checkpoints, 0, `follower ${i} never wrote`)
      }
      await b.close()

      // What the new writer stored is the latest state.
      env.block()
      const c = await env.browser()
      const got = await c.page.evaluate((a) => window.startPersisted(a), { server: env.server, storage: backend })
      assert.deepEqual(got.ids, want.ids)
      assert.equal(got.status, 'stale')
    } finally {
      await env.close()
    }
  })
}

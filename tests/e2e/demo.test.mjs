// The demo page (www/index.html) in headless Chromium: it syncs, writes through POST /v1/tx and
// follows the change live, over long-poll and SSE.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { setup, closeBrowser } from './harness.mjs'

after(closeBrowser)

for (const transport of ['long-poll', 'sse']) {
  test(`demo page: live table over ${transport}`, { timeout: 45_000 }, async () => {
    const t = await setup()
    try {
      await t.tx([{ op: 'insert', table: 'todos', row: { id: 1, title: 'first', done: false } }])
      await t.page.goto(`${t.files}/www/index.html?server=${encodeURIComponent(t.server)}&transport=${transport}`)
      await t.page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 1, null, { timeout: 10_000 })
      await t.page.waitForFunction(() => document.getElementById('status').textContent === 'live', null, { timeout: 10_000 })
      await t.page.click('#add')
      await t.page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 2, null, { timeout: 10_000 })
      await t.page.click('#rows tr:first-child button:first-of-type') // toggle row 1
      await t.page.waitForFunction(() => document.querySelector('#rows tr:first-child td:nth-child(3)').textContent === '✓', null, { timeout: 10_000 })
      assert.equal(await t.page.textContent('#error'), '')
      assert.ok(t.shapeRequests.some((u) => (transport === 'sse' ? u.includes('live_sse=true') : u.includes('live=true'))))
    } finally {
      await t.close()
    }
  })
}

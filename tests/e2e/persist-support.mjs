// Fixtures of the persistence suite (issue #5): a real eddy-server behind a recording tap (its
// request log; `block()` makes the server unreachable as if stopped, without losing its data),
// and a headless Chromium with a persistent profile directory, so IndexedDB and OPFS survive
// closing and relaunching the browser exactly as they do for a user.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { startEddyServer, startStatic, startTap, rawTruth } from './harness.mjs'

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
export const todo = (id, title = `todo ${id}`) => ({ id, title, done: false })
export const insert = (row) => ({ op: 'insert', table: 'todos', row })
export const update = (row) => ({ op: 'update', table: 'todos', row })
export const del = (row) => ({ op: 'delete', table: 'todos', row })

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

/** Wait (bounded) until `pred()` (possibly async) is truthy. */
export async function waitFor(pred, timeout = 10_000, what = 'condition') {
  const deadline = Date.now() + timeout
  for (;;) {
    if (await pred()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

/**
 * A server (behind a tap), the static file server and a profile directory. `browser()` launches
 * Chromium on that profile and opens the test page; `close()` removes everything.
 */
export async function persistEnv({ serverArgs = [] } = {}) {
  const eddy = await startEddyServer(serverArgs)
  const tap = await startTap(() => eddy.url)
  const files = await startStatic()
  const profile = await mkdtemp(join(tmpdir(), 'eddy-persist-'))
  let blocked = false
  tap.rules.push(() => (blocked ? { destroy: true } : undefined))
  const sessions = new Set()
  const env = {
    server: tap.url,
    direct: eddy.url,
    tap,
    profile,
    /** The server is unreachable (every shape request is dropped) until `unblock()`. */
    block: () => (blocked = true),
    unblock: () => (blocked = false),
    /** Requests the page made since `mark` (an index into the log). */
    since: (mark) => tap.log.slice(mark),
    tx: async (ops) => {
      const r = await fetch(`${eddy.url}/v1/tx`, { method: 'POST', body: JSON.stringify({ ops }) })
      if (!r.ok) throw new Error(`tx failed: ${r.status} ${await r.text()}`)
      return r.json()
    },
    truth: () => rawTruth(eddy.url),
    /** Launch Chromium on the profile and open the test page. */
    browser: async () => {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ARGS,
      })
      const consoleLines = []
      const open = async (page) => {
        page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`))
        page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`))
        await page.goto(`${files.url}/tests/e2e/page.html`)
        await page.waitForFunction(() => window.eddyReady === true || window.eddyError, null, { timeout: 15_000 })
        const loadError = await page.evaluate(() => window.eddyError)
        if (loadError) throw new Error(`package failed to load: ${loadError}`)
        await page.evaluate(installHelpers)
        return page
      }
      const page = await open(context.pages()[0] ?? (await context.newPage()))
      const s = {
        context,
        page,
        consoleLines,
        /** Another tab of the same browser profile, with the test page loaded. */
        newPage: async () => open(await context.newPage()),
        close: async () => {
          sessions.delete(s)
          await context.close().catch(() => {})
        },
      }
      sessions.add(s)
      return s
    },
    /**
     * Launch Chromium ourselves in its own process group (so `kill()` can SIGKILL all of it,
     * renderer and storage processes included, like a crash) and drive it over CDP.
     */
    killableBrowser: async () => {
      const child = spawn('/usr/bin/chromium', [...ARGS, `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'], {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let err = ''
      const ws = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`chromium did not start: ${err}`)), 15_000)
        child.stderr.on('data', (d) => {
          err += d
          const m = /DevTools listening on (ws:\/\/\S+)/.exec(err)
          if (m) {
            clearTimeout(timer)
            resolve(m[1])
          }
        })
        child.on('exit', (code) => reject(new Error(`chromium exited ${code}: ${err}`)))
      })
      const browser = await chromium.connectOverCDP(ws)
      const context = browser.contexts()[0]
      const page = context.pages()[0] ?? (await context.newPage())
      await page.goto(`${files.url}/tests/e2e/page.html`)
      await page.waitForFunction(() => window.eddyReady === true || window.eddyError, null, { timeout: 15_000 })
      await page.evaluate(installHelpers)
      const exited = new Promise((r) => child.once('exit', r))
      const s = {
        page,
        kill: async () => {
          try {
            process.kill(-child.pid, 'SIGKILL')
          } catch {}
          await exited
          sessions.delete(s)
        },
        close: async () => s.kill(),
      }
      sessions.add(s)
      return s
    },
    close: async () => {
      for (const s of [...sessions]) await s.close()
      await tap.close()
      await files.close()
      await eddy.stop()
      await rm(profile, { recursive: true, force: true })
    },
  }
  return env
}

/** Runs in the page: helpers the tests call through `page.evaluate`. */
function installHelpers() {
  const ids = (rows) => rows.map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b))
  window.ids = ids
  /** A custom storage in page memory that can fail its commits with QuotaExceededError. */
  window.makeCustomStorage = () => {
    const s = { meta: null, pages: new Map(), fail: false, commits: 0, failures: 0 }
    s.loadMeta = async () => s.meta
    s.loadPages = async (list) => list.map((id) => s.pages.get(id))
    s.commit = async (c) => {
      if (s.fail) {
        s.failures++
        throw new DOMException('quota exceeded (test)', 'QuotaExceededError')
      }
      if (c.clearFirst) {
        s.pages.clear()
        s.meta = null
      }
      for (const id of c.deletes) s.pages.delete(id)
      for (const [id, b] of c.puts) s.pages.set(id, b)
      s.meta = c.clearFirst && c.meta.length === 0 ? null : c.meta
      s.commits++
    }
    s.bytes = async () => [...s.pages.values()].reduce((n, b) => n + b.length, s.meta ? s.meta.length : 0)
    return s
  }
  /** Start stream + persister + shape; resolves once `persister.ready`. */
  window.startPersisted = async ({ server, storage, namespace = 'ns1', url = `${server}/v1/shape` }) => {
    const { ShapeStream, Shape, ShapeStreamPersister, StorageQuotaError, StorageError } = window.eddy
    window.streamAbort = new AbortController()
    window.stream = new ShapeStream({ url, params: { table: 'todos' }, signal: window.streamAbort.signal })
    window.persisterErrors = []
    window.persister = new ShapeStreamPersister(window.stream, { storage, namespace })
    window.persister.addEventListener('error', (e) =>
      window.persisterErrors.push({
        name: e.error?.name,
        code: e.error?.code,
        quota: e.error instanceof StorageQuotaError,
        storage: e.error instanceof StorageError,
        message: e.error?.message,
      }),
    )
    window.shape = new Shape(window.persister)
    window.seen = []
    window.shape.subscribe(({ rows }) => window.seen.push(ids(rows)))
    await window.persister.ready
    return { status: window.persister.status, ids: ids(window.shape.currentRows), seen: window.seen.length }
  }
  /** The shape's ids now, status and persisted position. */
  window.view = async () => {
    const st = await window.persister.stats()
    return {
      ids: ids(window.shape.currentRows),
      status: window.persister.status,
      offset: window.stream.lastOffset,
      handle: window.stream.shapeHandle,
      stored: { rows: st.rows, offset: st.offset, handle: st.handle, pages: st.pages, bytes: st.bytes },
    }
  }
}

/**
 * The server's rows of `todos` at `offset` ("lsn_pos" of an up-to-date): a raw sync from -1
 * replayed only up to that offset (snapshot rows, then log changes whose lsn_op_position is not
 * after it). Returns `{ handle, rows: Map<id, title> }`.
 */
export async function truthAt(base, offset) {
  const [lsn, pos] = offset.split('_').map(BigInt)
  const notAfter = (h) => h.lsn === undefined || BigInt(h.lsn) < lsn || (BigInt(h.lsn) === lsn && BigInt(h.op_position ?? 0) <= pos)
  let at = '-1'
  let handle
  const rows = new Map()
  for (let i = 0; i < 10_000; i++) {
    const u = new URL(`${base}/v1/shape`)
    u.searchParams.set('table', 'todos')
    u.searchParams.set('offset', at)
    if (handle) u.searchParams.set('handle', handle)
    const r = await fetch(u, { signal: AbortSignal.timeout(10_000) })
    if (r.status !== 200) throw new Error(`truthAt: ${u} -> ${r.status}`)
    handle = r.headers.get('electric-handle')
    at = r.headers.get('electric-offset')
    let done = false
    for (const m of await r.json()) {
      if (m.headers?.control === 'up-to-date') done = true
      const op = m.headers?.operation
      if (!op || !notAfter(m.headers)) continue
      if (op === 'insert') rows.set(m.value.id, { ...m.value })
      else if (op === 'update') rows.set(m.value.id, { ...rows.get(m.value.id), ...m.value })
      else if (op === 'delete') rows.delete(m.value.id)
    }
    if (done) return { handle, rows: new Map([...rows].map(([id, v]) => [id, v.title])) }
  }
  throw new Error('truthAt: no up-to-date')
}

/** Ids of the server's rows, sorted as the page sorts them. */
export async function truthIds(env) {
  const t = await env.truth()
  return { ...t, ids: [...t.rows.values()].map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b)) }
}

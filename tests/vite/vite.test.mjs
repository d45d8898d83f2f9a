// Issue #4: the packed eddy-sync in a plain Vite app (tests/vite/app: no plugin, no vite.config).
// A temp copy of the app (under os.tmpdir(), so the repo stays clean) installs the tarball and
// Vite from the registry, `vite build`s, and headless Chromium opens the built dist (served by a
// small static server) and the dev server; both must sync the todos shape from a real eddy-server
// (rows equal the server's) and then show a live insert. Every step is bounded.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { promisify } from 'node:util'
import { pack, ROOT } from '../pack/pack.mjs'
import { browser, closeBrowser, startEddyServer } from '../e2e/harness.mjs'

const run = promisify(execFile)
let dir
let app
let eddy

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' }

/** POST /v1/tx. */
async function tx(ops) {
  const r = await fetch(`${eddy.url}/v1/tx`, { method: 'POST', body: JSON.stringify({ ops }) })
  if (!r.ok) throw new Error(`tx failed: ${r.status} ${await r.text()}`)
}

/** The server's rows of `todos` (id, title, done), read with plain HTTP from the shape log. */
async function serverRows() {
  const rows = new Map()
  let url = `${eddy.url}/v1/shape?table=todos&offset=-1`
  for (let i = 0; i < 100; i++) {
    const r = await fetch(url)
    assert.equal(r.status, 200)
    for (const m of await r.json()) {
      if (m.headers?.operation === 'insert' || m.headers?.operation === 'update') rows.set(m.key, { ...rows.get(m.key), ...m.value })
      if (m.headers?.operation === 'delete') rows.delete(m.key)
    }
    if (r.headers.get('electric-up-to-date') !== null) break
    url = `${eddy.url}/v1/shape?table=todos&offset=${r.headers.get('electric-offset')}&handle=${r.headers.get('electric-handle')}`
  }
  return [...rows.values()]
    .map((v) => ({ id: String(v.id), title: v.title, done: v.done === 't' || v.done === true }))
    .sort((a, b) => Number(a.id) - Number(b.id))
}

/**
 * Open the app at `base`, check the initial rows against the server's, then a live insert. With
 * `storage`, the app persists the shape there, and every synced row must be stored.
 */
async function checkApp(base, liveId, storage) {
  const ctx = await (await browser()).newContext()
  const page = await ctx.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
  try {
    const query = `server=${encodeURIComponent(eddy.url)}${storage ? `&storage=${storage}` : ''}`
    await page.goto(`${base}/?${query}`, { timeout: 30_000 })
    await page.waitForFunction(() => window.app?.ready || window.app?.error, null, { timeout: 30_000 })
    assert.equal(await page.evaluate(() => window.app.error), undefined, errors.join('\n'))
    const sorted = () => window.app.rows.slice().sort((a, b) => Number(a.id) - Number(b.id))
    const initial = await serverRows()
    assert.deepEqual(initial.slice(0, 3), [
      { id: '1', title: 'todo 1', done: false },
      { id: '2', title: 'todo 2', done: true },
      { id: '3', title: 'todo 3', done: false },
    ])
    assert.deepEqual(await page.evaluate(sorted), initial)
    if (storage) assert.equal(await page.evaluate(() => window.app.stored), initial.length, `rows stored in ${storage}`)
    await tx([{ op: 'insert', table: 'todos', row: { id: liveId, title: `live ${liveId}`, done: true } }])
    await page.waitForFunction((id) => window.app.rows.some((r) => r.id === String(id)), liveId, {
      timeout: 30_000,
      polling: 50,
    })
    const rows = await page.evaluate(sorted)
    assert.deepEqual(rows, await serverRows())
    assert.deepEqual(rows.find((r) => r.id === String(liveId)), { id: String(liveId), title: `live ${liveId}`, done: true })
    assert.equal(await page.textContent('#status'), `${rows.length} rows`)
  } finally {
    await ctx.close()
  }
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eddy-vite-'))
  const { tarball } = await pack(dir)
  app = join(dir, 'app')
  await cp(join(ROOT, 'tests/vite/app'), app, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|dist)([\\/]|$)/.test(src.slice(ROOT.length)),
  })
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--save-exact', tarball], {
    cwd: app,
    timeout: 300_000,
  })
  eddy = await startEddyServer()
  await tx([1, 2, 3].map((id) => ({ op: 'insert', table: 'todos', row: { id, title: `todo ${id}`, done: id === 2 } })))
})

test.after(async () => {
  await closeBrowser()
  await eddy?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

test('vite build of the app bundles the wasm as an asset, with no plugin and no config', { timeout: 200_000 }, async () => {
  const { stdout } = await run(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], { cwd: app, timeout: 180_000 })
  console.log(stdout.split('\n').filter((l) => /dist\//.test(l)).map((l) => `# ${l.trim()}`).join('\n'))
  const assets = await readdir(join(app, 'dist/assets'))
  assert.equal(assets.filter((f) => f.endsWith('.wasm')).length, 1, `assets: ${assets}`)
  const installed = JSON.parse(await readFile(join(app, 'node_modules/eddy-sync/package.json'), 'utf8'))
  assert.equal(installed.name, 'eddy-sync')
})

test('the built app syncs the shape from eddy-server and shows a live insert', { timeout: 90_000 }, async () => {
  const dist = join(app, 'dist')
  const files = createServer(async (req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^[\\/]+/, '')
    if (path === '' || path.endsWith('/')) path += 'index.html'
    try {
      const body = await readFile(join(dist, path))
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise((r) => files.listen(0, '127.0.0.1', r))
  try {
    await checkApp(`http://127.0.0.1:${files.address().port}`, 100)
    await checkApp(`http://127.0.0.1:${files.address().port}`, 101, 'opfs')
  } finally {
    files.closeAllConnections()
    await new Promise((r) => files.close(r))
  }
})

test('the vite dev server serves the app, which syncs and shows a live insert', { timeout: 120_000 }, async () => {
  const port = await freePort()
  const dev = spawn(
    process.execPath,
    ['node_modules/vite/bin/vite.js', '--host', '127.0.0.1', '--port', String(port), '--strictPort'],
    // No colours: with CI set, vite wraps the port in ANSI codes and the ready line never matches.
    { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: false, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
  )
  let log = ''
  dev.stdout.on('data', (d) => (log += d))
  dev.stderr.on('data', (d) => (log += d))
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vite dev did not start: ${log}`)), 60_000)
      const check = () => {
        // eslint-disable-next-line no-control-regex
        if (log.replace(/\x1b\[[0-9;]*m/g, '').includes(`:${port}`)) {
          clearTimeout(timer)
          resolve()
        }
      }
      dev.stdout.on('data', check)
      dev.on('exit', (code) => reject(new Error(`vite dev exited ${code}: ${log}`)))
    })
    await checkApp(`http://127.0.0.1:${port}`, 200)
    await checkApp(`http://127.0.0.1:${port}`, 201, 'opfs')
  } catch (e) {
    e.message += `\nvite dev output:\n${log}`
    throw e
  } finally {
    await new Promise((resolve) => {
      if (dev.exitCode !== null) return resolve()
      dev.once('exit', resolve)
      dev.kill('SIGTERM')
    })
  }
})

// Shared fixtures of the e2e suite: a real eddy-server per test, a static server for the built
// package (js/dist + pkg/web) and a test page, and headless Debian Chromium via playwright-core.
// Everything started here is stopped by the returned `close()`; every wait is bounded.
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { extname, normalize, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SERVER_BIN = join(ROOT, 'target/debug/eddy-server')
const SCHEMA = join(ROOT, 'server/examples/todo.sql')

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
}

// Only these trees are served: the package build, the page, the official client for side-by-side runs.
const SERVED = ['js/dist/', 'pkg/web/', 'tests/e2e/', 'www/', 'node_modules/@electric-sql/', 'node_modules/@microsoft/']

/** Servers still running when this process exits go with it (a script may `process.exit`). */
const running = new Set()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/**
 * Start an eddy-server on an ephemeral port; resolves with its base URL and a stop function.
 * `bin`: another build of the server (the benchmarks use target/release/eddy-server).
 */
export async function startEddyServer(extraArgs = [], { bin = SERVER_BIN } = {}) {
  if (!existsSync(bin)) throw new Error(`build the server first: cargo build -p eddy-server (${bin})`)
  const child = spawn(
    bin,
    ['--schema', SCHEMA, '--data', ':memory:', '--listen', '127.0.0.1:0', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  running.add(child)
  child.once('exit', () => running.delete(child))
  let log = ''
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`eddy-server did not start: ${log}`)), 10_000)
    const onData = (d) => {
      log += d
      const m = /listening on (http:\/\/\S+)/.exec(log)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => reject(new Error(`eddy-server exited ${code}: ${log}`)))
  })
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', resolve)
        child.kill('SIGTERM')
      }),
  }
}

/** A static file server for the repo's served trees. */
export async function startStatic() {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+/, '')
    if (!SERVED.some((p) => path.startsWith(p))) {
      res.writeHead(404).end()
      return
    }
    try {
      const body = await readFile(join(ROOT, path))
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) }
}

let browserPromise
/** One headless Chromium for the whole file (closed by `closeBrowser`). */
export function browser() {
  browserPromise ??= chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(process.env.EDDY_JS_FLAGS ? [`--js-flags=${process.env.EDDY_JS_FLAGS}`] : []),
    ],
  })
  return browserPromise
}

export async function closeBrowser() {
  if (browserPromise) await (await browserPromise).close()
  browserPromise = undefined
}

/**
 * Everything one test needs: an eddy-server, the static server, a fresh page with `eddy`
 * (the package) loaded. `shapeRequests` records every /v1/shape request URL the page made.
 */
export async function setup({ serverArgs = [] } = {}) {
  const eddy = await startEddyServer(serverArgs)
  const files = await startStatic()
  const b = await browser()
  const context = await b.newContext()
  const page = await context.newPage()
  const consoleLines = []
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`))
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`))
  const shapeRequests = []
  const failedRequests = []
  page.on('request', (r) => {
    if (r.url().includes('/v1/shape')) shapeRequests.push(r.url())
  })
  page.on('requestfailed', (r) => {
    if (r.url().includes('/v1/shape')) failedRequests.push(r.url())
  })
  await page.goto(`${files.url}/tests/e2e/page.html`)
  await page.waitForFunction(() => window.eddyReady === true || window.eddyError, null, { timeout: 15_000 })
  const loadError = await page.evaluate(() => window.eddyError)
  if (loadError) throw new Error(`package failed to load: ${loadError}`)
  return {
    server: eddy.url,
    files: files.url,
    page,
    shapeRequests,
    failedRequests,
    consoleLines,
    /** POST /v1/tx with these ops. */
    tx: async (ops) => {
      const r = await fetch(`${eddy.url}/v1/tx`, { method: 'POST', body: JSON.stringify({ ops }) })
      if (!r.ok) throw new Error(`tx failed: ${r.status} ${await r.text()}`)
      return r.json()
    },
    close: async () => {
      await context.close()
      await files.close()
      await eddy.stop()
    },
  }
}

/** Poll `fn` in the page until it returns a truthy value (bounded). */
export async function until(page, fn, arg, timeout = 10_000) {
  const h = await page.waitForFunction(fn, arg, { timeout, polling: 50 })
  return h.jsonValue()
}

/**
 * A forwarding proxy in front of eddy-server (`upstream()` gives its URL) that can misbehave:
 * `cutSse` ends every SSE body right after its headers; `dropHeaders` removes response headers.
 */
export async function startProxy(upstream, { cutSse = false, dropHeaders = [] } = {}) {
  const proxy = createServer(async (req, res) => {
    let r
    try {
      r = await fetch(upstream() + req.url, { method: req.method, headers: { accept: req.headers.accept ?? '*/*' } })
    } catch {
      res.writeHead(502).end()
      return
    }
    const headers = Object.fromEntries(r.headers)
    for (const h of ['content-length', 'transfer-encoding', 'content-encoding', ...dropHeaders]) delete headers[h]
    if (dropHeaders.length) {
      headers['access-control-expose-headers'] = (headers['access-control-expose-headers'] ?? '')
        .split(',').filter((h) => !dropHeaders.includes(h)).join(',')
    }
    res.writeHead(r.status, headers)
    if (cutSse && req.url.includes('live_sse=true')) {
      r.body?.cancel()
      res.end()
    } else {
      res.end(Buffer.from(await r.arrayBuffer()))
    }
  })
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    close: () => {
      proxy.closeAllConnections()
      return new Promise((r) => proxy.close(r))
    },
  }
}

// ---- Additions for the interop and fault suites (issue #4) ----

const EXPOSE = 'electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,electric-up-to-date,electric-internal-known-error,retry-after'

/**
 * A streaming, recording proxy in front of eddy-server (SSE bodies pass through as they come).
 * `log` holds one entry per GET /v1/shape request: `{ url, query, t, tReply, status, headers, tEnd }`
 * (`t`/`tReply`/`tEnd`: Date.now() at arrival / when the answer's headers were sent / when it ended).
 * `rules` is a list of functions `(entry) => action | undefined`, the first
 * action wins: `{ status, headers, body }` answers with that (CORS headers added), `{ destroy: true }`
 * drops the connection, `{ strip: [header...] }` forwards without those response headers,
 * `{ cutSse: true }` ends the body right after the headers; `when(status)` limits `strip`/`cutSse`
 * to some upstream statuses.
 */
export async function startTap(upstream) {
  const { request } = await import('node:http')
  const log = []
  const rules = []
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x')
    const entry = { url: req.url, method: req.method, query: Object.fromEntries(url.searchParams), t: Date.now() }
    const tracked = url.pathname === '/v1/shape' && req.method === 'GET'
    if (tracked) log.push(entry)
    res.on('close', () => (entry.tEnd = Date.now()))
    const action = tracked ? rules.map((r) => r(entry)).find(Boolean) : undefined
    if (action?.destroy) {
      entry.status = 'destroyed'
      req.socket.destroy()
      return
    }
    if (action?.status) {
      entry.status = action.status
      entry.tReply = Date.now()
      res.writeHead(action.status, {
        'access-control-allow-origin': req.headers.origin ?? '*',
        'access-control-expose-headers': EXPOSE,
        'content-type': 'application/json',
        ...action.headers,
      })
      res.end(action.body ?? '')
      return
    }
    const up = request(upstream() + req.url, { method: req.method, headers: { ...req.headers } }, (ur) => {
      entry.status = ur.statusCode
      entry.tReply = Date.now()
      entry.headers = ur.headers
      const headers = { ...ur.headers }
      if (!action?.when || action.when(ur.statusCode)) for (const h of action?.strip ?? []) delete headers[h]
      res.writeHead(ur.statusCode, headers)
      if (action?.cutSse && (!action.when || action.when(ur.statusCode))) {
        ur.destroy()
        res.end()
        return
      }
      ur.pipe(res)
      ur.on('error', () => res.destroy())
    })
    up.on('error', () => {
      entry.status ??= 'upstream-error'
      res.destroy()
    })
    req.pipe(up)
    res.on('close', () => up.destroy())
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    rules,
    close: () => {
      server.closeAllConnections()
      return new Promise((r) => server.close(r))
    },
  }
}

/**
 * Ground truth in Node: a raw fetch sync of a shape from offset=-1 to up-to-date against a
 * (fault-free) eddy-server, materialised (insert = set, update = merge, delete = remove).
 * Returns `{ handle, offset, schema, rows: Map<key, raw string/null values> }`.
 */
export async function rawTruth(base, params = { table: 'todos' }) {
  let offset = '-1'
  let handle
  let schema
  const rows = new Map()
  for (let i = 0; i < 10_000; i++) {
    const u = new URL(`${base}/v1/shape`)
    for (const [k, v] of Object.entries({ ...params, offset, handle })) {
      if (v === undefined) continue
      if (k === 'params') Object.entries(v).forEach(([n, x]) => u.searchParams.set(`params[${n}]`, x))
      else u.searchParams.set(k, Array.isArray(v) ? v.join(',') : v)
    }
    const r = await fetch(u, { signal: AbortSignal.timeout(10_000) })
    const text = await r.text()
    if (r.status !== 200) throw new Error(`rawTruth: ${u} -> ${r.status} ${text}`)
    handle = r.headers.get('electric-handle')
    offset = r.headers.get('electric-offset')
    schema ??= JSON.parse(r.headers.get('electric-schema'))
    let upToDate = false
    for (const m of JSON.parse(text)) {
      if (m.headers?.control === 'up-to-date') upToDate = true
      const op = m.headers?.operation
      if (op === 'insert') rows.set(m.key, m.value)
      else if (op === 'update') rows.set(m.key, { ...rows.get(m.key), ...m.value })
      else if (op === 'delete') rows.delete(m.key)
    }
    if (upToDate) return { handle, offset, schema, rows }
  }
  throw new Error('rawTruth: no up-to-date')
}

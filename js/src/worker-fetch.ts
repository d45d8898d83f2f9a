// `fetch` through the package's fetch worker (js/src/fetch-worker.ts): same arguments, and a real
// `Response` whose body is a stream of the chunks the worker transfers as they arrive. Reading a
// response body costs its receiving thread about 10 ms per MB in Chromium; here the worker pays
// it and the page's main thread only takes the finished chunks (an initial sync is main-thread
// bound: parsing and building rows are what it should spend its time on).
//
// Used by ShapeStream with `fetchInWorker: true` (and no `fetchClient`). Falls back to the
// global `fetch` where there is no Worker, where it cannot be created (CSP, a cross-origin
// package URL) or when it fails to load; requests not answered yet are then sent again directly.

interface Pending {
  input: string
  init: RequestInit | undefined
  resolve: (r: Response) => void
  reject: (e: unknown) => void
  body?: ReadableStreamDefaultController<Uint8Array>
  answered: boolean
}

let worker: Worker | null | undefined // undefined: not tried yet; null: unusable
let seq = 0
const pending = new Map<number, Pending>()

/** Statuses whose Response must have a null body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

function start(): Worker | null {
  if (worker !== undefined) return worker
  if (typeof Worker !== `function` || typeof ReadableStream !== `function`) return (worker = null)
  try {
    // The literal `new Worker(new URL(…, import.meta.url), { type: 'module' })` form is what
    // bundlers (Vite, webpack 5) recognise without a plugin.
    worker = new Worker(new URL(`./fetch-worker.js`, import.meta.url), { type: `module` })
  } catch {
    return (worker = null)
  }
  worker.onmessage = (e: MessageEvent) => onMessage(e.data)
  worker.onerror = () => {
    // Failed to load (or crashed): from now on fetch directly. Unanswered requests go again;
    // a body cut short is a network error, as a dropped connection would be.
    worker?.terminate()
    worker = null
    for (const [id, p] of pending) {
      pending.delete(id)
      if (!p.answered) fetch(p.input, p.init).then(p.resolve, p.reject)
      else p.body?.error(new TypeError(`network error (fetch worker failed)`))
    }
  }
  return worker
}

function onMessage(m: { type: string; id: number; [k: string]: unknown }): void {
  const p = pending.get(m.id)
  if (!p) return
  switch (m.type) {
    case `head`: {
      p.answered = true
      const status = m.status as number
      const body = NULL_BODY.has(status)
        ? null
        : new ReadableStream<Uint8Array>({
            start: (c) => {
              p.body = c
            },
            cancel: () => {
              pending.delete(m.id)
              worker?.postMessage({ type: `abort`, id: m.id })
            },
          })
      if (!body) pending.delete(m.id)
      p.resolve(new Response(body, { status, statusText: m.statusText as string, headers: m.headers as [string, string][] }))
      break
    }
    case `chunk`:
      p.body?.enqueue(m.chunk as Uint8Array)
      break
    case `end`:
      pending.delete(m.id)
      p.body?.close()
      break
    case `error`: {
      pending.delete(m.id)
      const e = new TypeError(`Failed to fetch: ${m.message as string}`)
      if (!p.answered) p.reject(e)
      else p.body?.error(e)
      break
    }
  }
}

function headerList(h: HeadersInit | undefined): [string, string][] {
  return h === undefined ? [] : [...new Headers(h)]
}

/** `fetch(input, init)` with the body received in the fetch worker (see the module docs). */
export function workerFetch(input: string | URL, init?: RequestInit): Promise<Response> {
  const w = start()
  if (!w) return fetch(input, init)
  const signal = init?.signal ?? undefined
  const abortError = () => signal?.reason ?? new DOMException(`The operation was aborted.`, `AbortError`)
  if (signal?.aborted) return Promise.reject(abortError())
  // Resolved here: a relative URL means relative to the page, not to the worker's script.
  const url = new URL(String(input), globalThis.location?.href).href
  const id = ++seq
  return new Promise<Response>((resolve, reject) => {
    const p: Pending = { input: url, init, resolve, reject, answered: false }
    pending.set(id, p)
    signal?.addEventListener(
      `abort`,
      () => {
        if (!pending.delete(id)) return
        worker?.postMessage({ type: `abort`, id })
        if (!p.answered) reject(abortError())
        else p.body?.error(abortError())
      },
      { once: true }
    )
    w.postMessage({
      type: `fetch`,
      id,
      url,
      method: init?.method ?? `GET`,
      headers: headerList(init?.headers),
      credentials: init?.credentials,
      cache: init?.cache,
      mode: init?.mode,
    })
  })
}

// The fetch worker: carries out the HTTP requests of ShapeStreams (js/src/worker-fetch.ts) so
// that receiving response bodies — Chromium spends about 10 ms of the receiving thread per MB —
// happens off the page's main thread. Bodies come back as transferred chunks, as they arrive.
//
// Page → worker: { type: 'fetch', id, url, method, headers, credentials?, cache?, mode? }
//                { type: 'abort', id }
// Worker → page: { type: 'head', id, status, statusText, headers } then { type: 'chunk', id,
//                chunk } (its buffer transferred)… and { type: 'end', id }, or { type: 'error',
//                id, message } (a network error, before or during the body).
// Self-contained on purpose: no imports, no top-level await (bundlers may build it as a classic
// script).

interface FetchRequest {
  type: `fetch`
  id: number
  url: string
  method: string
  headers: [string, string][]
  credentials?: RequestCredentials
  cache?: RequestCache
  mode?: RequestMode
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent) => void) | null
  postMessage(message: unknown, transfer?: Transferable[]): void
}
const running = new Map<number, AbortController>()

async function run(r: FetchRequest): Promise<void> {
  const controller = new AbortController()
  running.set(r.id, controller)
  const fail = (e: unknown) => {
    if (!controller.signal.aborted) scope.postMessage({ type: `error`, id: r.id, message: String((e as Error)?.message ?? e) })
  }
  try {
    let response: Response
    try {
      response = await fetch(r.url, {
        method: r.method,
        headers: r.headers,
        credentials: r.credentials,
        cache: r.cache,
        mode: r.mode,
        signal: controller.signal,
      })
    } catch (e) {
      return fail(e)
    }
    scope.postMessage({
      type: `head`,
      id: r.id,
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
    })
    if (response.body) {
      const reader = response.body.getReader()
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          scope.postMessage({ type: `chunk`, id: r.id, chunk: value }, [value.buffer])
        }
      } catch (e) {
        return fail(e)
      }
    }
    if (!controller.signal.aborted) scope.postMessage({ type: `end`, id: r.id })
  } finally {
    running.delete(r.id)
  }
}

scope.onmessage = (e: MessageEvent) => {
  const m = e.data
  if (m?.type === `fetch`) void run(m as FetchRequest)
  else if (m?.type === `abort`) running.get(m.id)?.abort()
}

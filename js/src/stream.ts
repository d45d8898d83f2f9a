// ShapeStream: the @electric-sql/client API over the Rust driver. This file holds no protocol
// logic: it normalises options, starts the driver on the first subscriber, fans the driver's
// notes out to subscribers and maps errors to typed classes.

import { newDriver, type Driver, type Note } from './wasm.js'
import {
  EddyError,
  InvalidShapeOptionsError,
  InvalidSignalError,
  MissingShapeUrlError,
  toEddyError,
} from './errors.js'
import type { Message, Row, Status } from './types.js'

type MaybeFn<V> = V | (() => V | Promise<V>)

/** Shape definition params (`params` of the official client). */
export interface ShapeParams {
  table: string
  where?: string
  params?: string[] | Record<string, string>
  columns?: string[]
  replica?: `default` | `full`
  log?: `full` | `changes_only`
  [custom: string]: unknown
}

/** What `onError` may return to keep going: merged into the next requests. */
export interface RetryOpts {
  params?: Record<string, string>
  headers?: Record<string, MaybeFn<string>>
}

/** Retry timings (the official `BackoffOptions`). */
export interface BackoffOptions {
  initialDelay?: number
  maxDelay?: number
  multiplier?: number
  maxRetries?: number
}

/** Options of `new ShapeStream(...)`, as in @electric-sql/client. */
export interface ShapeStreamOptions {
  url: string
  params?: ShapeParams
  headers?: Record<string, MaybeFn<string>>
  offset?: string
  handle?: string
  signal?: AbortSignal
  subscribe?: boolean
  backoffOptions?: BackoffOptions
  liveRequestTimeoutMs?: number | false
  onError?: (error: EddyError) => void | RetryOpts | Promise<void | RetryOpts>
  parser?: Record<string, (value: string) => unknown>
  /**
   * Live transport. Default `long-poll`. `websocket`: all such streams of the page to one server
   * share one WebSocket (`/v1/ws` next to the shape URL); where it cannot open, long-polling.
   */
  transport?: `auto` | `long-poll` | `sse` | `websocket`
  /** Official alias of `transport: 'sse'`. */
  liveSse?: boolean
  log?: `full` | `changes_only`
}

/** Internal observer used by `Shape` (rows come from the driver, not from messages). */
export interface StreamObserver {
  onNote(note: Note): void
  onFlush(): void
}

interface Subscriber<T extends Row> {
  cb: (messages: Message<T>[]) => unknown
  onError?: (error: EddyError) => void
}

const DEFINITION_KEYS = new Set([`table`, `where`, `params`, `columns`, `replica`, `log`])

function rethrowLater(e: unknown): void {
  setTimeout(() => {
    throw e
  })
}

/** A live subscription to one shape; same surface as @electric-sql/client's `ShapeStream`. */
export class ShapeStream<T extends Row = Row> {
  /** Replica modes. */
  static readonly Replica = { DEFAULT: `default`, FULL: `full` } as const

  readonly options: ShapeStreamOptions
  #driver: Driver
  #subscribers = new Map<object, Subscriber<T>>()
  #observers = new Set<StreamObserver>()
  #headers: Record<string, MaybeFn<string>>
  #error: EddyError | false = false
  #status: Status = `connecting`
  #started = false
  #closed = false
  #lastSyncedAt: number | undefined
  #progress = { rows: 0, batches: 0 }

  constructor(options: ShapeStreamOptions) {
    if (!options || !options.url) throw new MissingShapeUrlError(`Invalid shape options: missing required url parameter`, `EDDY_REQUEST_EMPTY_URL`, `MissingShapeUrlError`)
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidSignalError(`Invalid signal option: it must be an AbortSignal`, `EDDY_WEB_INVALID_SIGNAL`, `InvalidSignalError`)
    }
    if (options.parser) console.warn(`eddy: custom parsers are not supported yet; values are typed by the core`)
    this.options = options
    this.#headers = { ...(options.headers ?? {}) }
    const url = new URL(options.url, globalThis.location?.href)
    try {
      this.#driver = newDriver(JSON.stringify(driverOptions(options, url.toString())), this.#onNotes)
    } catch (e) {
      throw toEddyError(e)
    }
    const signal = options.signal
    if (signal) {
      if (signal.aborted) this.#abort()
      else signal.addEventListener(`abort`, () => this.#abort(), { once: true })
    }
  }

  /** Receive every batch of messages; returns the unsubscribe function. Starts the stream. */
  subscribe(
    callback: (messages: Message<T>[]) => unknown,
    onError?: (error: EddyError) => void
  ): () => void {
    const token = {}
    this.#subscribers.set(token, { cb: callback, onError })
    this.#driver.setWantMessages(true)
    this.#start()
    return () => {
      this.#subscribers.delete(token)
      this.#driver.setWantMessages(this.#subscribers.size > 0)
    }
  }

  /** Drop every subscriber (the stream keeps its position; use the signal to stop it). */
  unsubscribeAll(): void {
    this.#subscribers.clear()
    this.#driver.setWantMessages(false)
  }

  /** @internal Used by `Shape`. */
  _observe(observer: StreamObserver): () => void {
    this.#observers.add(observer)
    this.#start()
    return () => this.#observers.delete(observer)
  }

  /** @internal Used by `Shape` to read rows without building messages. */
  get _driver(): Driver {
    return this.#driver
  }

  get isUpToDate(): boolean {
    return this.#driver.isUpToDate
  }
  get lastOffset(): string {
    return this.#driver.offset
  }
  get shapeHandle(): string | undefined {
    return this.#driver.handle
  }
  get error(): EddyError | false {
    return this.#error
  }
  /** `connecting`, `syncing`, `live`, `paused`, `offline`, `error` or `closed`. */
  get status(): Status {
    return this.#status
  }
  isLoading(): boolean {
    return !this.isUpToDate
  }
  /**
   * Sync progress: change messages and batches received since the start (or the last
   * must-refetch). During the initial sync `rows` counts snapshot rows as they arrive, before
   * they become visible at the first up-to-date.
   */
  get progress(): { rows: number; batches: number; upToDate: boolean } {
    return { ...this.#progress, upToDate: this.isUpToDate }
  }
  isConnected(): boolean {
    return this.#status === `syncing` || this.#status === `live`
  }
  hasStarted(): boolean {
    return this.#started
  }
  isPaused(): boolean {
    return this.#status === `paused` || this.#status === `offline`
  }
  /** Epoch ms of the last up-to-date, if any. */
  lastSyncedAt(): number | undefined {
    return this.#lastSyncedAt
  }
  /** Ms since the last up-to-date, or Infinity. */
  lastSynced(): number {
    return this.#lastSyncedAt === undefined ? Infinity : Date.now() - this.#lastSyncedAt
  }
  /** Abort the live request and catch up with a non-live one. */
  async forceDisconnectAndRefresh(): Promise<void> {
    this.#driver.forceRefresh()
  }

  #start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    this.#applyHeaders()
    this.#driver.start()
  }

  /** Static headers go to the driver once; (async) function values are evaluated per request. */
  #applyHeaders(): void {
    const headers = this.#headers
    if (Object.values(headers).some((v) => typeof v === `function`)) {
      this.#driver.setHeadersProvider(() =>
        Promise.all(
          Object.entries(headers).map(async ([k, v]) => [k, String(typeof v === `function` ? await v() : v)])
        )
      )
    } else {
      const entries = Object.entries(headers)
      this.#driver.setHeaders(
        entries.map(([k]) => k),
        entries.map(([, v]) => String(v))
      )
    }
  }

  #abort(): void {
    if (this.#closed) return
    this.#closed = true
    this.#driver.abort()
    this.#status = `closed`
  }

  /**
   * The driver's listener. Returns a promise while a subscriber is still busy with a batch
   * (the driver then holds the next request until it settles: backpressure).
   */
  #onNotes = (notes: Note[]): Promise<unknown> | undefined => {
    const busy: Promise<unknown>[] = []
    for (const note of notes) {
      switch (note.type) {
        case `batch`: {
          this.#progress.rows += note.received
          this.#progress.batches += 1
          if (note.batch) {
            let messages: Message<T>[] = []
            try {
              messages = note.batch.messages() as Message<T>[]
            } catch (e) {
              this.#handleError(toEddyError(e))
            } finally {
              note.batch.free()
            }
            if (messages.length > 0) this.#publish(messages, busy)
          }
          break
        }
        case `must-refetch`:
          this.#progress = { rows: 0, batches: 0 }
          this.#publish([note.message as Message<T>], busy)
          break
        case `status`:
          this.#status = note.status as Status
          break
        case `up-to-date`:
          this.#lastSyncedAt = Date.now()
          this.#error = false
          break
        case `error`:
          this.#handleError(toEddyError(note.error))
          break
      }
      if (note.type !== `error`) for (const o of this.#observers) o.onNote(note)
    }
    for (const o of this.#observers) o.onFlush()
    return busy.length > 0 ? Promise.allSettled(busy) : undefined
  }

  #publish(messages: Message<T>[], busy: Promise<unknown>[]): void {
    for (const { cb } of [...this.#subscribers.values()]) {
      try {
        const r = cb(messages) as Promise<unknown> | undefined
        if (r && typeof r.then === `function`) busy.push(Promise.resolve(r).then(undefined, rethrowLater))
      } catch (e) {
        rethrowLater(e)
      }
    }
  }

  async #handleError(err: EddyError): Promise<void> {
    this.#error = err
    const onError = this.options.onError
    if (onError) {
      let retry: void | RetryOpts = undefined
      try {
        retry = await onError(err)
      } catch (e) {
        rethrowLater(e)
      }
      if (retry && typeof retry === `object` && !this.#closed) {
        if (retry.params) console.warn(`eddy: changing params from onError is not supported yet`)
        if (retry.headers) {
          this.#headers = { ...this.#headers, ...retry.headers }
          this.#applyHeaders()
        }
        this.#error = false
        this.#driver.retryAfterError()
        return
      }
    }
    let handled = !!onError
    for (const s of [...this.#subscribers.values()]) {
      if (s.onError) {
        handled = true
        s.onError(err)
      }
    }
    for (const o of this.#observers) o.onNote({ type: `error`, error: err })
    if (!handled && this.#observers.size === 0) console.error(`eddy: shape stream stopped`, err)
  }
}

function driverOptions(o: ShapeStreamOptions, url: string): Record<string, unknown> {
  const p = o.params ?? ({} as ShapeParams)
  if (!p.table) throw new InvalidShapeOptionsError(`params.table is required`, `EDDY_WEB_MISSING_TABLE`, `InvalidShapeOptionsError`)
  const positional: Record<string, string> = {}
  if (Array.isArray(p.params)) p.params.forEach((v, i) => (positional[String(i + 1)] = String(v)))
  else if (p.params) for (const [k, v] of Object.entries(p.params)) positional[k] = String(v)
  const extra: Record<string, string> = {}
  for (const [k, v] of Object.entries(p)) {
    if (DEFINITION_KEYS.has(k) || v === undefined) continue
    if (typeof v === `function`) {
      throw new InvalidShapeOptionsError(`param ${k}: function values are not supported yet`, `EDDY_WEB_FUNCTION_PARAM`, `InvalidShapeOptionsError`)
    }
    extra[k] = String(v)
  }
  const transport = o.transport ?? (o.liveSse ? `sse` : `long-poll`)
  return {
    url,
    table: p.table,
    where: p.where,
    params: positional,
    columns: p.columns,
    replica: p.replica,
    log: p.log ?? o.log,
    extra,
    offset: o.offset,
    handle: o.handle,
    live: o.subscribe !== false,
    transport,
    backoff: o.backoffOptions,
    liveRequestTimeoutMs: o.liveRequestTimeoutMs === false ? 0 : o.liveRequestTimeoutMs,
  }
}

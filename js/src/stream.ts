// ShapeStream: the @electric-sql/client API over the Rust driver. This file holds no protocol
// logic: it normalises options, starts the driver on the first subscriber, fans the driver's
// notes out to subscribers and maps errors to typed classes.

import { workerFetch } from './worker-fetch.js'
import { newDriver, type Driver, type Note } from './wasm.js'
import {
  EddyError,
  InvalidShapeOptionsError,
  InvalidSignalError,
  MissingShapeUrlError,
  toEddyError,
} from './errors.js'
import { rowMapper } from './parser.js'
import { encodeWhere, type ColumnMapper } from './column-mapper.js'
import type { ChangeMessage, Message, Parser, Row, Status, SyncProgress } from './types.js'

/** A value, or a (possibly async) function evaluated before every request. */
export type MaybeFn<V> = V | (() => V | Promise<V>)

/**
 * Shape definition params (`params` of the official client). Every value except `log` may be an
 * (async) function, evaluated before every request; a definition that changes between requests
 * is a different shape: the server answers 409 and the stream re-syncs it from scratch.
 */
export interface ShapeParams {
  table: MaybeFn<string>
  where?: MaybeFn<string | undefined>
  params?: MaybeFn<string[] | Record<string, string> | undefined>
  columns?: MaybeFn<string[] | undefined>
  replica?: MaybeFn<`default` | `full` | undefined>
  log?: `full` | `changes_only`
  [custom: string]: unknown
}

/** What `onError` may return to keep going: merged into the next requests. */
export interface RetryOpts {
  params?: Partial<ShapeParams> & Record<string, unknown>
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
  /**
   * Per Postgres type name (`timestamptz`, `numeric`, `int8`, ...; for arrays the element
   * type), a function from the value's text to the JS value; replaces the default typing of that
   * type. Called with the column's schema info as second argument; never called for NULL.
   */
  parser?: Parser
  /** Maps every row (`value` and `old_value` of messages, `Shape` rows) after parsing. */
  transformer?: (row: Row) => Row
  /**
   * Renames columns: rows are decoded (db → app names) after parsing, before `transformer`;
   * app names in `where` and `columns` are encoded for the request (see `snakeCamelMapper`).
   */
  columnMapper?: ColumnMapper
  /**
   * Live transport. Default `long-poll`. `websocket`: all such streams of the page to one server
   * share one WebSocket (`/v1/ws` next to the shape URL); where it cannot open, long-polling.
   */
  transport?: `auto` | `long-poll` | `sse` | `websocket`
  /** Official alias of `transport: 'sse'`. */
  liveSse?: boolean
  /** `fetch` for every HTTP request (as in the official client), e.g. to add auth or tracing. */
  fetchClient?: (input: string, init: RequestInit) => Promise<Response>
  /**
   * Receive the bodies of catch-up requests (an initial sync, a resume) in a dedicated worker
   * (default `false`; ignored with `fetchClient`): the page's main thread then spends its time on
   * rows, not on receiving bytes (Chromium: ~10 ms of the receiving thread per MB), so it is
   * blocked less during a big sync. On a 2-core machine the sync as a whole was not faster
   * (bench/ingest). Live requests go direct. Falls back to the global `fetch` by itself where a
   * worker cannot start.
   */
  fetchInWorker?: boolean
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

/** Placeholder table for the construction-time check when `table` is a function (never sent). */
const DEFERRED_TABLE = `__eddy_deferred_table__`

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
  #holds = 0
  #startWanted = false
  #closed = false
  #lastSyncedAt: number | undefined
  #progress = { rows: 0, batches: 0, bytes: 0 }
  #params: ShapeParams
  #progressListeners = new Set<(p: SyncProgress) => void>()
  #statusListeners = new Set<(s: Status) => void>()
  /** Row mapping (parser functions, transformer) for the current schema, if any. */
  #mapRow: ((row: Row) => Row) | undefined
  #mapSchema: string | undefined
  #mapBuilt = false

  constructor(options: ShapeStreamOptions) {
    if (!options || !options.url) throw new MissingShapeUrlError(`Invalid shape options: missing required url parameter`, `EDDY_REQUEST_EMPTY_URL`, `MissingShapeUrlError`)
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidSignalError(`Invalid signal option: it must be an AbortSignal`, `EDDY_WEB_INVALID_SIGNAL`, `InvalidSignalError`)
    }
    this.options = options
    this.#headers = { ...(options.headers ?? {}) }
    this.#params = { ...(options.params ?? ({} as ShapeParams)) }
    const url = new URL(options.url, globalThis.location?.href)
    try {
      this.#driver = newDriver(JSON.stringify(driverOptions(options, url.toString())), this.#onNotes)
      // The user's fetch for every request; or, when asked, the worker for catch-up requests (big
      // bodies; live answers are small and go direct, with no extra hop in their latency).
      if (options.fetchClient) this.#driver.setFetch(options.fetchClient, false)
      else if (options.fetchInWorker === true) this.#driver.setFetch(workerFetch, true)
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

  /**
   * Call `callback` with the sync progress after every batch received (and after a
   * must-refetch reset it); returns the unsubscribe function.
   */
  onProgress(callback: (progress: SyncProgress) => void): () => void {
    this.#progressListeners.add(callback)
    return () => this.#progressListeners.delete(callback)
  }

  /** Call `callback` with every new `status`; returns the unsubscribe function. */
  onStatus(callback: (status: Status) => void): () => void {
    this.#statusListeners.add(callback)
    return () => this.#statusListeners.delete(callback)
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

  /** @internal `Shape`'s hook: apply `parser` functions and `transformer` to rows read from the driver. */
  _mapRows<R>(rows: R[]): R[] {
    const map = this.#rowMapper()
    if (map) for (let i = 0; i < rows.length; i++) if (rows[i] !== undefined) rows[i] = map(rows[i] as Row) as R
    return rows
  }

  /** @internal `Shape`'s hook: {@link _mapRows} for a key → row map, in place. */
  _mapValue<R>(value: Map<string, R>): Map<string, R> {
    const map = this.#rowMapper()
    if (map) for (const [k, row] of value) value.set(k, map(row as Row) as R)
    return value
  }

  /** The row mapping for the driver's current schema (rebuilt when the schema changes). */
  #rowMapper(): ((row: Row) => Row) | undefined {
    const { parser, transformer, columnMapper } = this.options
    if (!parser && !transformer && !columnMapper) return undefined
    const schema = parser ? this.#driver.schema : undefined
    if (this.#mapBuilt && schema === this.#mapSchema) return this.#mapRow
    this.#mapBuilt = true
    this.#mapSchema = schema
    this.#mapRow = rowMapper(parser, schema, columnMapper?.decode, transformer)
    return this.#mapRow
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
  get progress(): SyncProgress {
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

  /**
   * @internal The persister's hold: the stream does not start (it remembers that it should)
   * until every hold is released. Returns the release function (idempotent).
   */
  _hold(): () => void {
    this.#holds++
    let held = true
    return () => {
      if (!held) return
      held = false
      if (--this.#holds === 0 && this.#startWanted) this.#start()
    }
  }

  #start(): void {
    if (this.#started || this.#closed) return
    if (this.#holds > 0) {
      this.#startWanted = true
      return
    }
    this.#started = true
    this.#applyHeaders()
    this.#applyParams()
    this.#driver.start()
  }

  /**
   * Params with (async) function values: the driver asks for the definition before every
   * request (as the official client resolves them per request). Static params after `onError`
   * changed them: set once. Throws the typed error of a bad static definition.
   */
  #applyParams(changed = false): void {
    const params = this.#params
    if (Object.values(params).some((v) => typeof v === `function`)) {
      this.#driver.setShapeProvider(async () => {
        const entries = await Promise.all(
          Object.entries(params).map(async ([k, v]) => [k, typeof v === `function` ? await v() : v])
        )
        return JSON.stringify(definition(Object.fromEntries(entries) as ShapeParams, this.options))
      })
    } else if (changed) {
      this.#driver.setShape(JSON.stringify(definition(params, this.options)))
    }
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
    this.#setStatus(`closed`)
  }

  #setStatus(status: Status): void {
    if (status === this.#status) return
    this.#status = status
    for (const cb of [...this.#statusListeners]) {
      try {
        cb(status)
      } catch (e) {
        rethrowLater(e)
      }
    }
  }

  /**
   * The driver's listener. Returns a promise while a subscriber is still busy with a batch
   * (the driver then holds the next request until it settles: backpressure).
   */
  #onNotes = (notes: Note[]): Promise<unknown> | undefined => {
    const busy: Promise<unknown>[] = []
    let progressed = false
    for (const note of notes) {
      switch (note.type) {
        case `batch`: {
          this.#progress.rows += note.received
          this.#progress.batches += 1
          this.#progress.bytes += note.bytes
          progressed = true
          if (note.batch) {
            let messages: Message<T>[] = []
            try {
              messages = note.batch.messages() as Message<T>[]
              const map = this.#rowMapper()
              if (map) {
                for (const m of messages) {
                  if (!(`key` in m)) continue
                  const c = m as ChangeMessage<T>
                  c.value = map(c.value) as T
                  if (c.old_value) c.old_value = map(c.old_value as Row) as Partial<T>
                }
              }
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
          this.#progress = { rows: 0, batches: 0, bytes: 0 }
          progressed = true
          this.#publish([note.message as Message<T>], busy)
          break
        case `status`:
          this.#setStatus(note.status as Status)
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
    if (progressed && this.#progressListeners.size > 0) {
      const p = this.progress
      for (const cb of [...this.#progressListeners]) {
        try {
          cb(p)
        } catch (e) {
          rethrowLater(e)
        }
      }
    }
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
        if (retry.params) {
          // Merged into the definition of the next requests (a changed definition is a new shape).
          this.#params = { ...this.#params, ...retry.params } as ShapeParams
          this.options.params = this.#params // visible in `stream.options`, as in the official client
          try {
            this.#applyParams(true)
          } catch (e) {
            return this.#handleError(toEddyError(e))
          }
        }
        if (retry.headers) {
          this.#headers = { ...this.#headers, ...retry.headers }
          this.options.headers = this.#headers
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

/**
 * The driver's definition document from resolved params (function values are left out: the
 * driver asks for them per request; a function `table` is checked later, per request).
 */
function definition(p: ShapeParams, o: ShapeStreamOptions): Record<string, unknown> {
  const value = <V>(v: MaybeFn<V>): V | undefined => (typeof v === `function` ? undefined : (v as V))
  const table = typeof p.table === `function` ? DEFERRED_TABLE : p.table
  if (!table) throw new InvalidShapeOptionsError(`params.table is required`, `EDDY_WEB_MISSING_TABLE`, `InvalidShapeOptionsError`)
  if (typeof p.log === `function`) {
    throw new InvalidShapeOptionsError(`params.log cannot be a function`, `EDDY_WEB_FUNCTION_PARAM`, `InvalidShapeOptionsError`)
  }
  const encode = o.columnMapper?.encode
  let where = value(p.where)
  let columns = value(p.columns)
  if (encode && where) where = encodeWhere(where, encode)
  if (encode && columns) columns = columns.map((c) => encode(String(c)))
  const positional: Record<string, string> = {}
  const pp = value(p.params)
  if (Array.isArray(pp)) pp.forEach((v, i) => (positional[String(i + 1)] = String(v)))
  else if (pp) for (const [k, v] of Object.entries(pp)) positional[k] = String(v)
  const extra: Record<string, string> = {}
  for (const [k, v] of Object.entries(p)) {
    if (DEFINITION_KEYS.has(k) || v === undefined || typeof v === `function`) continue
    extra[k] = Array.isArray(v) ? v.join(`,`) : String(v)
  }
  return {
    table,
    where,
    params: positional,
    columns,
    replica: value(p.replica),
    log: p.log ?? o.log,
    extra,
  }
}

function driverOptions(o: ShapeStreamOptions, url: string): Record<string, unknown> {
  const transport = o.transport ?? (o.liveSse ? `sse` : `long-poll`)
  return {
    url,
    shape: definition(o.params ?? ({} as ShapeParams), o),
    parsers: o.parser ? Object.keys(o.parser).filter((k) => typeof o.parser![k] === `function`) : [],
    offset: o.offset,
    handle: o.handle,
    live: o.subscribe !== false,
    transport,
    backoff: o.backoffOptions,
    liveRequestTimeoutMs: o.liveRequestTimeoutMs === false ? 0 : o.liveRequestTimeoutMs,
  }
}

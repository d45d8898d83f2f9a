// Shape: the in-memory materialised view of a ShapeStream, with @electric-sql/client's
// notification contract: silent while syncing, one notification at the first up-to-date, then
// one per committed change; a must-refetch is silent and subscribers next see the re-synced
// state (no empty flash). Rows live in the Rust materializer and become JS objects only when read.

import { rowsFromBulk } from './bulk.js'
import type { Note } from './wasm.js'
import type { EddyError } from './errors.js'
import type { ShapeStream } from './stream.js'
import type { ShapeStreamPersister } from './persister.js'
import type { Row, Status } from './types.js'

/** What `Shape.subscribe` callbacks receive. */
export interface ShapeChange<T extends Row = Row> {
  value: Map<string, T>
  rows: T[]
}

/**
 * An initial sync's rows, built batch by batch while the rest downloads: the JS objects of
 * the pending inserts of segments `first..=last` (`Materializer::pending_inserts`), used at the
 * commit only if it made exactly those rows (`plainCommit`), and dropped otherwise.
 */
interface Early<T> {
  first: number
  last: number
  rows: T[][]
  keys: string[]
  count: number
}

interface Waiter<T> {
  resolve: (rows: T[]) => void
  reject: (e: EddyError) => void
}

/** The rows of a shape, kept current. */
export class Shape<T extends Row = Row> {
  readonly stream: ShapeStream<T> | ShapeStreamPersister<T>
  #subscribers = new Map<object, (change: ShapeChange<T>) => void>()
  #waiters: Waiter<T>[] = []
  /**
   * Rows as JS objects, built on first read, then patched per commit (unchanged rows keep their
   * identity). A first read of `rows` builds only the array: its keys wait in `#keys` (JSON
   * arrays whose concatenation is in row order) until the map is wanted — by `currentValue`, a
   * subscriber or the first patch.
   */
  #value: Map<string, T> | undefined
  #rows: T[] | undefined
  #keys: string[] | undefined
  /** `null`: building early failed (a value the parser rejects); not tried again this sync. */
  #early: Early<T> | undefined | null
  #notified = false
  #pending = false
  /** The pending change is the first part of a restore: subscribers see it, waiters do not. */
  #restoring = false
  #error: EddyError | false = false

  constructor(stream: ShapeStream<T> | ShapeStreamPersister<T>) {
    this.stream = stream
    stream._observe({ onNote: (n) => this.#onNote(n), onFlush: () => this.#onFlush() })
  }

  /** Resolves with the rows once the shape is up to date. */
  get rows(): Promise<T[]> {
    if (this.stream.isUpToDate) return Promise.resolve(this.currentRows)
    if (this.#error) return Promise.reject(this.#error)
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  /** Resolves with the key → row map once the shape is up to date. */
  get value(): Promise<Map<string, T>> {
    return this.rows.then(() => this.currentValue)
  }

  /** The committed rows now (typed; int8 as BigInt). */
  get currentRows(): T[] {
    if (!this.#rows) {
      if (this.#value) this.#rows = [...this.#value.values()]
      else this.#load()
    }
    return this.#rows!
  }

  /** The committed rows now, by key. */
  get currentValue(): Map<string, T> {
    if (!this.#value) {
      if (this.#keys === undefined || !this.#rows) this.#load()
      const rows = this.#rows!
      const map = new Map<string, T>()
      let i = 0
      for (const doc of this.#keys!) for (const key of JSON.parse(doc) as string[]) map.set(key, rows[i++])
      this.#value = map
      this.#keys = undefined
    }
    return this.#value
  }

  /** Every committed row from the driver in one call (array and keys, no map yet). */
  #load(): void {
    const bulk = this.stream._driver.rowsBulk(true)
    this.#rows = this.stream._mapRows(rowsFromBulk<T>(bulk))
    this.#keys = [bulk.keys ?? `[]`]
    this.#value = undefined
    this.stream._driver.setWantKeys(true) // from now on, patch instead of rebuilding
  }

  /**
   * A batch of an initial sync arrived (not committed yet): if someone will read the rows at
   * the commit (a waiter or a subscriber), build the JS objects of its inserts now, while the
   * next batch downloads.
   */
  #prebuild(): void {
    if (this.#early === null || this.#rows || this.#value) return
    if (this.#waiters.length === 0 && this.#subscribers.size === 0) return
    const driver = this.stream._driver
    let e = this.#early
    let b
    try {
      b = driver.pendingBulk(e?.last)
    } catch {
      this.#early = null
      return
    }
    if (b && e && b.first !== e.last + 1) {
      this.#early = null // not a continuation (cannot normally happen): read at the commit
      return
    }
    if (!b) return
    let rows: T[]
    try {
      rows = this.stream._mapRows(rowsFromBulk<T>(b))
    } catch {
      this.#early = null // the error surfaces where the rows are read
      return
    }
    if (!e) e = this.#early = { first: b.first, last: b.last, rows: [], keys: [], count: 0 }
    e.rows.push(rows)
    e.keys.push(b.keys ?? `[]`)
    e.count += rows.length
    e.last = b.last
  }

  /**
   * The first commit: when it made exactly the rows built early (plus those of batches that
   * came with it, read now), they are the rows. False when it is not that commit.
   */
  #takeEarly(): boolean {
    const e = this.#early
    this.#early = undefined
    if (!e || this.#rows || this.#value) return false
    const driver = this.stream._driver
    const c = driver.plainCommit()
    if (!c || c.first !== e.first || c.last < e.last || c.rows < e.count) return false
    const parts = e.rows
    const keys = e.keys
    if (c.rows > e.count) {
      try {
        const rest = driver.rowsBulkFrom(e.count, true)
        parts.push(this.stream._mapRows(rowsFromBulk<T>(rest)))
        keys.push(rest.keys ?? `[]`)
      } catch {
        return false // read (and its error surfaced) the usual way
      }
    }
    let rows = parts[0]
    if (parts.length > 1) {
      // (not `concat(...parts)`: a sync in thousands of small chunks would pass as many arguments)
      rows = new Array<T>(parts.reduce((n, part) => n + part.length, 0))
      let i = 0
      for (const part of parts) for (const row of part) rows[i++] = row
    }
    this.#rows = rows
    this.#keys = keys
    driver.setWantKeys(true)
    return true
  }

  /** Apply one commit's change set to the JS copy, if there is one (one call for all changed rows). */
  #patch(deleted: string[], changed: string[]): void {
    if (!this.#value && this.#keys === undefined) return // nothing built: read fresh when wanted
    const map = this.currentValue // the map of the rows built so far (before this commit)
    this.#rows = undefined
    for (const k of deleted) map.delete(k)
    if (changed.length > 0) {
      const rows = this.stream._mapRows(this.stream._driver.getMany(changed) as (T | undefined)[])
      changed.forEach((k, i) => {
        const row = rows[i]
        if (row === undefined) map.delete(k)
        else map.set(k, row)
      })
    }
  }

  #drop(): void {
    this.#value = undefined
    this.#rows = undefined
    this.#keys = undefined
    this.#early = undefined
  }

  /** Called with `{value, rows}` at the first up-to-date and after every visible change. */
  subscribe(callback: (change: ShapeChange<T>) => void): () => void {
    const token = {}
    this.#subscribers.set(token, callback)
    return () => this.#subscribers.delete(token)
  }

  unsubscribeAll(): void {
    this.#subscribers.clear()
  }

  get numSubscribers(): number {
    return this.#subscribers.size
  }
  get isUpToDate(): boolean {
    return this.stream.isUpToDate
  }
  get lastOffset(): string {
    return this.stream.lastOffset
  }
  get handle(): string | undefined {
    return this.stream.shapeHandle
  }
  get error(): EddyError | false {
    return this.#error
  }
  get status(): Status {
    return this.stream.status
  }
  lastSyncedAt(): number | undefined {
    return this.stream.lastSyncedAt()
  }
  lastSynced(): number {
    return this.stream.lastSynced()
  }
  isLoading(): boolean {
    return this.stream.isLoading()
  }
  isConnected(): boolean {
    return this.stream.isConnected()
  }

  #onNote(note: Note): void {
    if (note.type === `batch` && !note.committed) {
      this.#prebuild()
    } else if (note.type === `batch` && note.committed) {
      if (note.changed && this.#takeEarly()) {
        // the rows built while syncing are the committed rows
      } else if (note.changed) {
        try {
          if (note.inserted && note.updated && note.deleted) {
            this.#patch(note.deleted, [...note.inserted, ...note.updated])
          } else {
            this.#drop() // no keys listed: rebuilt on the next read
          }
        } catch {
          this.#drop() // rebuilt (and its error surfaced) on the next read
        }
      }
      if (note.changed || note.reset || !this.#notified) this.#pending = true
      this.#restoring = note.restoring === true
    } else if (note.type === `up-to-date`) {
      this.#error = false
      if (!this.#notified) this.#pending = true
    } else if (note.type === `error`) {
      this.#error = note.error as EddyError
      for (const w of this.#waiters.splice(0)) w.reject(this.#error)
    }
  }

  #onFlush(): void {
    // The first rows of a restore in parts go to subscribers (status `stale`); `rows` waits
    // for all of them.
    const restoring = this.#restoring
    this.#restoring = false
    if (!this.#pending || !(this.stream.isUpToDate || restoring)) return
    this.#pending = false
    if (!restoring) this.#notified = true
    // Rows become JS objects only for someone who wants them (a waiter or a subscriber).
    if (this.#subscribers.size === 0 && (restoring || this.#waiters.length === 0)) return
    const rows = this.currentRows
    if (!restoring) for (const w of this.#waiters.splice(0)) w.resolve(rows)
    if (this.#subscribers.size === 0) return
    const change = { value: this.currentValue, rows }
    for (const cb of [...this.#subscribers.values()]) {
      try {
        cb(change)
      } catch (e) {
        setTimeout(() => {
          throw e
        })
      }
    }
  }
}

// Public types: messages as @electric-sql/client delivers them, rows with typed values.

/** A typed column value: int8 is a BigInt, json/jsonb plain data, arrays JS arrays. */
export type Value =
  | string
  | number
  | bigint
  | boolean
  | null
  | Value[]
  | { [key: string]: Value }

/** A row: column name → typed value. */
export type Row = Record<string, Value>

/** Headers of a change message. */
export interface ChangeHeaders {
  operation: `insert` | `update` | `delete`
  relation?: [string, string]
  lsn?: string
  op_position?: number
  txids?: number[]
  last?: boolean
  key_change_to?: string
  key_change_from?: string
  tags?: string[]
  removed_tags?: string[]
  snapshot_mark?: number
}

/** An insert, update or delete of one row. */
export interface ChangeMessage<T extends Row = Row> {
  key: string
  value: T
  old_value?: Partial<T>
  headers: ChangeHeaders
}

/** `up-to-date`, `must-refetch` or `snapshot-end`. */
export interface ControlMessage {
  headers: {
    control: `up-to-date` | `must-refetch` | `snapshot-end`
    global_last_seen_lsn?: string
    [k: string]: unknown
  }
}

/** A move-in / move-out event of a subquery shape. */
export interface EventMessage {
  headers: { event: `move-in` | `move-out`; patterns: { pos: number; value: string }[] }
}

/** Anything delivered to `ShapeStream.subscribe` callbacks. */
export type Message<T extends Row = Row> = ChangeMessage<T> | ControlMessage | EventMessage

/** True for insert/update/delete messages. */
export function isChangeMessage<T extends Row = Row>(m: Message<T>): m is ChangeMessage<T> {
  return `key` in m
}

/** True for control messages. */
export function isControlMessage<T extends Row = Row>(m: Message<T>): m is ControlMessage {
  return !(`key` in m) && `control` in m.headers
}

/** The connection status. */
export type Status = `connecting` | `syncing` | `live` | `paused` | `offline` | `error` | `closed` | `stale`

/** One column of the shape's schema (the `electric-schema` header's entry). */
export interface ColumnInfo {
  /** Postgres type name; for arrays the element type. */
  type: string
  /** Array dimensions (absent for scalars). */
  dims?: number
  not_null?: boolean
  pk_index?: number
  max_length?: number
  length?: number
  precision?: number
  scale?: number
  fields?: string
  type_mod?: number
}

/**
 * Custom value parsers by Postgres type name, as in @electric-sql/client: the value's text
 * (never NULL; array elements one by one) and the column's info → the JS value.
 */
export type Parser = Record<string, (value: string, additionalInfo?: ColumnInfo) => unknown>

/** Sync progress since the start or the last must-refetch (`stream.progress`, `stream.onProgress`). */
export interface SyncProgress {
  /** Change messages received (snapshot rows count as they arrive, before they are visible). */
  rows: number
  /** Batches delivered. */
  batches: number
  /** Response body bytes received (HTTP long-poll and SSE; not counted on the WebSocket transport). */
  bytes: number
  /** An up-to-date was reached. */
  upToDate: boolean
}

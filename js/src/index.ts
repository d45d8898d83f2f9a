// eddy-sync: Postgres rows that stay live in the browser. The wasm core is loaded by this
// import (top-level await), so `import { ShapeStream, Shape } from 'eddy-sync'` just works.

export { ShapeStream } from './stream.js'
export type { ShapeStreamOptions, ShapeParams, BackoffOptions, RetryOpts, MaybeFn } from './stream.js'
export { Shape } from './shape.js'
export type { ShapeChange } from './shape.js'
export { ShapeStreamPersister, StorageError, StorageQuotaError } from './persister.js'
export type { PersisterOptions, PersisterStats, CustomStorage, StorageCommit } from './persister.js'
export {
  EddyError,
  FetchError,
  FetchBackoffAbortError,
  MissingHeadersError,
  ParserNullValueError,
  ParserError,
  ProtocolError,
  InvalidShapeOptionsError,
  MissingShapeHandleError,
  ReservedParamError,
  MissingShapeUrlError,
  InvalidSignalError,
} from './errors.js'
export { isChangeMessage, isControlMessage } from './types.js'
export { createColumnMapper, snakeCamelMapper, snakeToCamel, camelToSnake } from './column-mapper.js'
export type { ColumnMapper } from './column-mapper.js'
export type {
  Value,
  Row,
  Message,
  ChangeMessage,
  ControlMessage,
  EventMessage,
  ChangeHeaders,
  Status,
  ColumnInfo,
  Parser,
  SyncProgress,
} from './types.js'

/** Defaults of `backoffOptions` (as in @electric-sql/client). */
export const BackoffDefaults = { initialDelay: 1000, maxDelay: 32000, multiplier: 2, maxRetries: Infinity }

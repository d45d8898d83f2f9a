// Typed errors of eddy-sync. Every error the Rust core raises arrives as a JS Error whose `name`
// is its family and which carries a stable `code` (EDDY_<AREA>_<WHAT>); `toEddyError` turns it
// into an instance of the matching class below, so `instanceof FetchError` works as with
// @electric-sql/client.

/** Base class of every eddy-sync error: a stable machine-readable `code`. */
export class EddyError extends Error {
  /** Stable code, e.g. `EDDY_FETCH_HTTP`. */
  code: string
  constructor(message: string, code = `EDDY_UNKNOWN`, name = `EddyError`) {
    super(message)
    this.name = name
    this.code = code
  }
}

/** A non-retryable HTTP answer (4xx), or retries that ran out. */
export class FetchError extends EddyError {
  status: number
  text?: string
  json?: object
  headers: Record<string, string>
  url: string
  constructor(
    status: number,
    text: string | undefined,
    json: object | undefined,
    headers: Record<string, string>,
    url: string,
    message?: string,
    code = `EDDY_FETCH_HTTP`
  ) {
    super(message || `HTTP Error ${status} at ${url}: ${text ?? `(no body)`}`, code, `FetchError`)
    this.status = status
    this.text = text
    this.json = json
    this.headers = headers
    this.url = url
  }
}

/** The stream was aborted while waiting to retry. */
export class FetchBackoffAbortError extends EddyError {
  constructor() {
    super(`Fetch with backoff aborted`, `EDDY_FETCH_BACKOFF_ABORTED`, `FetchBackoffAbortError`)
  }
}

/** A 2xx lacked the protocol's headers (often a proxy or CORS `expose-headers` problem). */
export class MissingHeadersError extends EddyError {}
/** A NULL in a non-nullable column. */
export class ParserNullValueError extends EddyError {}
/** A value that does not parse as its column type. */
export class ParserError extends EddyError {}
/** A malformed body, event, schema or offset from the server. */
export class ProtocolError extends EddyError {}
/** Options that cannot work. */
export class InvalidShapeOptionsError extends EddyError {}
/** A stored offset without its handle. */
export class MissingShapeHandleError extends EddyError {}
/** A custom param uses a protocol name. */
export class ReservedParamError extends EddyError {}
/** No `url`. */
export class MissingShapeUrlError extends EddyError {}
/** `signal` is not an AbortSignal. */
export class InvalidSignalError extends EddyError {}

const families: Record<string, new (m: string, c: string, n: string) => EddyError> = {
  MissingHeadersError,
  ParserNullValueError,
  ParserError,
  ProtocolError,
  InvalidShapeOptionsError,
  MissingShapeHandleError,
  ReservedParamError,
  MissingShapeUrlError,
  InvalidSignalError,
}

type RawError = Error & {
  code?: string
  status?: number
  text?: string
  url?: string
  headers?: [string, string][]
}

/** Turn an error thrown or reported by the wasm core into its typed class (idempotent). */
export function toEddyError(e: unknown): EddyError {
  if (e instanceof EddyError) return e
  if (!(e instanceof Error)) return new EddyError(String(e))
  const raw = e as RawError
  const code = raw.code ?? `EDDY_UNKNOWN`
  if (raw.name === `FetchError`) {
    const headers: Record<string, string> = {}
    for (const [k, v] of raw.headers ?? []) headers[k] = v
    let json: object | undefined
    if (raw.text) {
      try {
        json = JSON.parse(raw.text)
      } catch {
        json = undefined
      }
    }
    return new FetchError(raw.status ?? 0, raw.text, json, headers, raw.url ?? ``, raw.message, code)
  }
  const Cls = families[raw.name]
  const out = Cls ? new Cls(raw.message, code, raw.name) : new EddyError(raw.message, code, raw.name)
  return out
}

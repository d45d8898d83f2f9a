// The JS half of the bulk read path (src/web/bulk.rs): one JSON document from Rust, parsed by
// the native JSON.parse, then only the columns Rust listed are converted: int8 cells arrive as
// decimal strings (→ BigInt), non-finite floats as "NaN"/"Infinity"/"-Infinity" (→ number).

/** What `rowsBulk` returns. */
export interface Bulk {
  json: string
  bigint: string[]
  float: string[]
}

function deep(v: unknown, f: (s: string) => unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => deep(x, f))
  return typeof v === `string` ? f(v) : v
}

function fix(row: Record<string, unknown>, bulk: Bulk): void {
  for (const c of bulk.bigint) if (row[c] != null) row[c] = deep(row[c], BigInt)
  for (const c of bulk.float) if (row[c] != null) row[c] = deep(row[c], Number)
}

/** `[key, row]` pairs from `rowsBulk(true)`. */
export function entriesFromBulk<T>(bulk: Bulk): [string, T][] {
  const entries = JSON.parse(bulk.json) as [string, Record<string, unknown>][]
  if (bulk.bigint.length > 0 || bulk.float.length > 0) for (const [, row] of entries) fix(row, bulk)
  return entries as [string, T][]
}

/** Rows from `rowsBulk(false)`. */
export function rowsFromBulk<T>(bulk: Bulk): T[] {
  const rows = JSON.parse(bulk.json) as Record<string, unknown>[]
  if (bulk.bigint.length > 0 || bulk.float.length > 0) for (const row of rows) fix(row, bulk)
  return rows as T[]
}

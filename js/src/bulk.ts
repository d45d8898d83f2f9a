// The JS half of the bulk read path (src/web/bulk.rs): one JSON document of rows from Rust (and
// one of their keys), parsed by the native JSON.parse, then only the columns Rust listed are
// converted: int8 cells arrive as decimal strings (→ BigInt), non-finite floats as
// "NaN"/"Infinity"/"-Infinity" (→ number).

/** What `rowsBulk` returns. */
export interface Bulk {
  json: string
  keys?: string
  bigint: string[]
  float: string[]
}

function deep(v: unknown, f: (s: string) => unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => deep(x, f))
  return typeof v === `string` ? f(v) : v
}

function convert(rows: Record<string, unknown>[], columns: string[], f: (s: string) => unknown): void {
  for (const c of columns) {
    for (const row of rows) {
      const v = row[c]
      if (typeof v === `string`) row[c] = f(v)
      else if (v != null) row[c] = deep(v, f)
    }
  }
}

/** Rows from `rowsBulk(…)`. */
export function rowsFromBulk<T>(bulk: Bulk): T[] {
  const rows = JSON.parse(bulk.json) as Record<string, unknown>[]
  if (bulk.bigint.length > 0) convert(rows, bulk.bigint, BigInt)
  if (bulk.float.length > 0) convert(rows, bulk.float, Number)
  return rows as T[]
}

/** Key → row from `rowsBulk(true)`. */
export function mapFromBulk<T>(bulk: Bulk): Map<string, T> {
  const rows = rowsFromBulk<T>(bulk)
  const keys = JSON.parse(bulk.keys ?? `[]`) as string[]
  const map = new Map<string, T>()
  for (let i = 0; i < rows.length; i++) map.set(keys[i], rows[i])
  return map
}

/** `[key, row]` pairs from `rowsBulk(true)`. */
export function entriesFromBulk<T>(bulk: Bulk): [string, T][] {
  return [...mapFromBulk<T>(bulk)]
}

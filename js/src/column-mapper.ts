// Column renaming between the database and the app (`columnMapper` of @electric-sql/client):
// rows are decoded (db → app names) after parsing and before `transformer`; app names in `where`
// and `columns` are encoded back (app → db) before the request. Same helpers, same rules, so
// `snakeCamelMapper()` from eddy-sync names columns exactly as the official one does.

import type { ColumnInfo, Row } from './types.js'

/** Renames columns: `decode` db → app (rows), `encode` app → db (`where`, `columns`). */
export interface ColumnMapper {
  decode: (dbColumnName: string) => string
  encode: (appColumnName: string) => string
}

/**
 * `user_id` → `userId`. Leading and trailing underscores stay; a run of n underscores before a
 * letter keeps n - 1 of them, so distinct names never collide.
 */
export function snakeToCamel(name: string): string {
  const lead = /^_*/.exec(name)![0]
  const rest = name.slice(lead.length)
  const trail = /_*$/.exec(rest)![0]
  const core = rest.slice(0, rest.length - trail.length).toLowerCase()
  const camel = core.replace(/_+([a-z])/g, (run: string, letter: string) => `_`.repeat(run.length - 2) + letter.toUpperCase())
  return lead + camel + trail
}

/** `userId` → `user_id`; acronyms split before their last capital (`parseHTMLString` → `parse_html_string`). */
export function camelToSnake(name: string): string {
  return name
    .replace(/([a-z_])([A-Z])/g, `$1_$2`)
    .replace(/([A-Z]+)([A-Z][a-z])/g, `$1_$2`)
    .toLowerCase()
}

/** A mapper from an explicit `{ dbName: appName }` table (unlisted names pass unchanged). */
export function createColumnMapper(mapping: Record<string, string>): ColumnMapper {
  const back = new Map<string, string>()
  const forth = new Map<string, string>()
  for (const [db, app] of Object.entries(mapping)) {
    forth.set(db, app)
    back.set(app, db)
  }
  return { decode: (db) => forth.get(db) ?? db, encode: (app) => back.get(app) ?? app }
}

/** snake_case in the database, camelCase in the app; with a schema, only its columns are mapped. */
export function snakeCamelMapper(schema?: Record<string, ColumnInfo>): ColumnMapper {
  if (schema) {
    const mapping: Record<string, string> = {}
    for (const db of Object.keys(schema)) mapping[db] = snakeToCamel(db)
    return createColumnMapper(mapping)
  }
  return { decode: snakeToCamel, encode: camelToSnake }
}

const SQL_WORDS = new Set(
  (`SELECT FROM WHERE AND OR NOT IN IS NULL NULLS FIRST LAST TRUE FALSE LIKE ILIKE BETWEEN ASC DESC ` +
    `LIMIT OFFSET ORDER BY GROUP HAVING DISTINCT AS ON JOIN LEFT RIGHT INNER OUTER CROSS CASE WHEN ` +
    `THEN ELSE END CAST LOWER UPPER COALESCE NULLIF`).split(` `)
)

/**
 * Encode the bare identifiers of a `where` clause (not SQL keywords, not inside '…' strings or
 * "…" quoted identifiers) with `encode`.
 */
export function encodeWhere(where: string, encode: (app: string) => string): string {
  // Spans of quoted text ('' and "" escapes included), skipped by the rewrite.
  const quoted: [number, number][] = []
  for (let i = 0; i < where.length; ) {
    const q = where[i]
    if (q !== `'` && q !== `"`) {
      i++
      continue
    }
    const start = i++
    while (i < where.length) {
      if (where[i] !== q) i++
      else if (where[i + 1] === q) i += 2
      else {
        i++
        break
      }
    }
    quoted.push([start, i])
  }
  const inQuotes = (at: number) => quoted.some(([s, e]) => at >= s && at < e)
  return where.replace(/(?<![a-zA-Z0-9_])[a-zA-Z_][a-zA-Z0-9_]*(?![a-zA-Z0-9_])/g, (word: string, at: number) =>
    inQuotes(at) || SQL_WORDS.has(word.toUpperCase()) ? word : encode(word)
  )
}

/** A row with its column names decoded (a `__proto__` column stays an own property). */
export function decodeRow(row: Row, decode: (db: string) => string): Row {
  const out: Row = {}
  for (const [k, v] of Object.entries(row)) {
    const name = decode(k)
    if (name === `__proto__`) Object.defineProperty(out, name, { value: v, writable: true, enumerable: true, configurable: true })
    else out[name] = v
  }
  return out
}

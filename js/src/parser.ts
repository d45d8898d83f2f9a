// Custom `parser` functions and `transformer` of the official client, applied in JS: the driver
// leaves cells of the types that have a parser function as their text (arrays split into
// elements), and one mapping per row applies the functions by the schema's column types.

import { decodeRow } from './column-mapper.js'
import type { ColumnInfo, Parser, Row } from './types.js'

type ParseFn = (value: string, info?: ColumnInfo) => unknown

/**
 * Apply `parser` functions (by the schema's column types), then the column mapper's `decode`,
 * then `transformer` to a row (the official client's order).
 */
export function rowMapper(
  parser: Parser | undefined,
  schemaJson: string | undefined,
  decode: ((db: string) => string) | undefined,
  transformer: ((row: Row) => Row) | undefined
): ((row: Row) => Row) | undefined {
  const cols: [string, ParseFn, ColumnInfo][] = []
  if (parser && schemaJson) {
    const schema = JSON.parse(schemaJson) as Record<string, ColumnInfo>
    for (const [name, info] of Object.entries(schema)) {
      const fn = Object.hasOwn(parser, info.type) ? parser[info.type] : undefined
      if (typeof fn === `function`) cols.push([name, fn, info])
    }
  }
  if (cols.length === 0 && !transformer && !decode) return undefined
  const deep = (v: unknown, fn: ParseFn, info: ColumnInfo): unknown =>
    Array.isArray(v) ? v.map((x) => deep(x, fn, info)) : typeof v === `string` ? fn(v, info) : v
  return (row) => {
    for (const [name, fn, info] of cols) {
      const v = row[name]
      if (v === null || v === undefined) continue
      row[name] = (info.dims ? deep(v, fn, info) : typeof v === `string` ? fn(v, info) : v) as Row[string]
    }
    const named = decode ? decodeRow(row, decode) : row
    return transformer ? transformer(named) : named
  }
}

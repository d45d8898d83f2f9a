// Replay for `ShapeStreamPersister.subscribe`: a subscriber that joins while the persister shows
// restored rows gets them first, as the log they stand for — one insert per stored row, then an
// `up-to-date` (a checkpoint is only ever written at an up-to-date point) — and after that the
// stream's own batches, which continue from the stored offset. A consumer written for the
// official ShapeStream (it builds its state from messages) thereby works offline as well.

import { rowsFromBulk } from './bulk.js'
import type { ShapeStream } from './stream.js'
import type { Message, Row } from './types.js'

/** The committed rows of `stream`'s driver as insert messages, then `up-to-date` (one bulk read). */
export function storedMessages<T extends Row>(stream: ShapeStream<T>): Message<T>[] {
  const bulk = stream._driver.rowsBulk(true)
  const rows = stream._mapRows(rowsFromBulk<T>(bulk))
  const keys = JSON.parse(bulk.keys ?? `[]`) as string[]
  const out = new Array<Message<T>>(rows.length + 1)
  for (let i = 0; i < rows.length; i++) out[i] = { key: keys[i], value: rows[i], headers: { operation: `insert` } }
  out[rows.length] = { headers: { control: `up-to-date` } }
  return out
}

/**
 * Deliver `first` to `callback` in a microtask (never inside `subscribe` itself), and return a
 * callback for the stream that delivers each later batch only after the previous one settled
 * (batches that arrive meanwhile wait: nothing is lost or reordered).
 */
export function afterReplay<T extends Row>(
  first: Message<T>[],
  callback: (messages: Message<T>[]) => unknown,
  isCancelled: () => boolean,
  onThrow: (e: unknown) => void
): (messages: Message<T>[]) => unknown {
  let gate: Promise<unknown> = new Promise<void>((resolve) =>
    queueMicrotask(() => {
      if (isCancelled()) return resolve()
      try {
        Promise.resolve(callback(first)).then(
          () => resolve(),
          (e) => {
            onThrow(e)
            resolve()
          }
        )
      } catch (e) {
        onThrow(e)
        resolve()
      }
    })
  )
  let settled = false
  void gate.then(() => (settled = true))
  return (messages) => {
    if (settled) return callback(messages)
    gate = gate.then(() => callback(messages))
    return gate
  }
}

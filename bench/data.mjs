// The benchmark data, shared by bench/ingest and bench/persist: `todos` rows with six typed
// columns (int8, text, bool, float8, jsonb, timestamptz), written through eddy-server's POST /v1/tx.

/** The server's default --max-ops: rows per transaction. */
export const BATCH = 10_000

/** Columns of the benchmark shape. */
export const COLUMNS = ['id', 'title', 'done', 'score', 'meta', 'created_at']

const base = Date.UTC(2026, 0, 1)

/** Row `i` of the data. */
export const todoRow = (i) => ({
  id: i,
  title: `todo number ${i}`,
  done: i % 2 === 0,
  score: i / 3,
  meta: { n: i, tag: `t${i % 10}`, ok: i % 3 === 0 },
  created_at: new Date(base + i * 1000).toISOString(),
})

/** POST one transaction to the server at `url`. */
export async function tx(url, ops) {
  const r = await fetch(`${url}/v1/tx`, { method: 'POST', body: JSON.stringify({ ops }) })
  if (!r.ok) throw new Error(`tx failed: ${r.status} ${await r.text()}`)
}

/** Insert rows 1..n into `todos`, BATCH rows per transaction. */
export async function loadTodos(url, n) {
  for (let from = 1; from <= n; from += BATCH) {
    const ops = []
    for (let i = from; i < Math.min(from + BATCH, n + 1); i++) ops.push({ op: 'insert', table: 'todos', row: todoRow(i) })
    await tx(url, ops)
  }
}

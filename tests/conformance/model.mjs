// A model of the writes, independent of the server: a seeded PRNG, random transactions over a
// small id space (inserts, partial updates, deletes, PK changes) applied to a JS Map, and the
// rows a shape should hold. Shared by the stress and fault-injection suites.

import { itemKey } from './harness.mjs';

/** Small deterministic PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random transaction over ids 1..24, applied to `model` (Map id -> {id, title, n}). */
export function randomTx(rand, model, seq) {
  const ops = [];
  const nOps = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < nOps; i++) {
    const id = 1 + Math.floor(rand() * 24);
    const row = model.get(id);
    const roll = rand();
    if (!row) {
      const r = { id, title: `i${seq}.${i}`, n: Math.floor(rand() * 100) };
      model.set(id, r);
      ops.push({ op: 'insert', table: 'items', row: r });
    } else if (roll < 0.5) {
      const patch = rand() < 0.5 ? { n: Math.floor(rand() * 100) } : { title: `u${seq}.${i}` };
      model.set(id, { ...row, ...patch });
      ops.push({ op: 'update', table: 'items', row: { id, ...patch } });
    } else if (roll < 0.8) {
      model.delete(id);
      ops.push({ op: 'delete', table: 'items', row: { id } });
    } else {
      const to = 100 + Math.floor(rand() * 24);
      if (model.has(to)) continue;
      model.delete(id);
      model.set(to, { ...row, id: to });
      ops.push({ op: 'update', table: 'items', row: { id: to }, old_key: { id } });
    }
  }
  return ops;
}

export function expected(model, filter) {
  const out = new Map();
  for (const r of model.values()) {
    if (filter(r)) out.set(itemKey(r.id), { id: BigInt(r.id), title: r.title, n: r.n });
  }
  return out;
}


/**
 * `write(n)`: `n` more random transactions (numbered on from the last call) POSTed to the
 * server at `url` and applied to `model`; a rejected transaction throws.
 */
export function modelWriter(url, rand, model) {
  let seq = 0;
  return async (n) => {
    for (let i = 0; i < n; i++, seq++) {
      const ops = randomTx(rand, model, seq);
      if (!ops.length) continue;
      const r = await fetch(`${url}/v1/tx`, { method: 'POST', body: JSON.stringify({ ops }) });
      if (!r.ok) throw new Error(`tx: ${r.status} ${await r.text()}`);
    }
  };
}

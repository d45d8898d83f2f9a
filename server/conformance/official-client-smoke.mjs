// Smoke test of eddy-server with the official @electric-sql/client (long-poll and SSE modes):
// initial sync with where/columns, typed values, a live insert, a row leaving the shape, and a
// 409 after DELETE /v1/shape (the client refetches on its own). Not run by cargo; the lead wires
// it into npm/CI. Run:
//   npm install @electric-sql/client@1.5.28
//   eddy-server --schema server/examples/todo.sql --listen 127.0.0.1:3000 &
//   node server/conformance/official-client-smoke.mjs http://127.0.0.1:3000
// Exits non-zero on any failure.
import { ShapeStream, Shape } from '@electric-sql/client';
const base = process.argv[2] ?? "http://127.0.0.1:3000";
const tx = (ops) => fetch(`${base}/v1/tx`, {method:'POST', headers:{'content-type':'application/json'}, body: JSON.stringify({ops})}).then(r=>r.json());
const sleep = (ms) => new Promise(r => setTimeout(r, ms));
async function waitFor(shape, pred, label) {
  for (let i = 0; i < 100; i++) { const rows = shape.currentRows; if (pred(rows)) return rows; await sleep(100); }
  throw new Error('timeout: ' + label + ' rows=' + JSON.stringify(shape.currentRows, (k,v)=> typeof v === 'bigint' ? v.toString() : v));
}
async function run(liveSse) {
  await tx([{op:'insert',table:'todos',row:{id:1,title:'a',done:false,tags:[1,2],meta:{x:1},created_at:'2024-01-01T00:00:00Z'}}]).catch(()=>{});
  const errors = [];
  const stream = new ShapeStream({ url: `${base}/v1/shape`, params: { table: 'todos', where: 'done = false', columns: ['id','title','done','tags','meta','created_at'] }, liveSse, onError: (e) => { errors.push(String(e)); } });
  const shape = new Shape(stream);
  const rows0 = await shape.rows;
  console.log(liveSse ? 'SSE' : 'LP', 'initial', rows0.length, typeof rows0[0]?.id, rows0[0]?.tags, rows0[0]?.meta, rows0[0]?.done);
  await tx([{op:'insert',table:'todos',row:{id: liveSse ? 20 : 10,title:'live-'+liveSse,done:false}}]);
  await waitFor(shape, r => r.some(x => x.title === 'live-'+liveSse), 'live insert');
  await tx([{op:'update',table:'todos',row:{id: liveSse ? 20 : 10,done:true}}]);
  await waitFor(shape, r => !r.some(x => x.title === 'live-'+liveSse), 'leave');
  // rotate -> 409 -> refetch
  await fetch(`${base}/v1/shape?table=todos&where=${encodeURIComponent('done = false')}&columns=${encodeURIComponent('"id","title","done","tags","meta","created_at"')}`, {method:'DELETE'}).then(r => console.log('delete', r.status));
  await tx([{op:'insert',table:'todos',row:{id: liveSse ? 21 : 11,title:'after-rotate-'+liveSse,done:false}}]);
  await waitFor(shape, r => r.some(x => x.title === 'after-rotate-'+liveSse), 'after rotate');
  console.log(liveSse ? 'SSE' : 'LP', 'final', shape.currentRows.map(r => `${r.id}:${r.title}`).join(','), 'errors', errors, 'handle', stream.shapeHandle);
  if (errors.length) throw new Error('stream errors: ' + errors.join('; '));
  const one = rows0.find(r => r.id === 1n);
  if (!one || one.done !== false || one.meta?.x !== 1 || one.tags?.[1] !== 2) throw new Error('typed values not parsed as expected');
  stream.unsubscribeAll();
}
await run(false);
await run(true);
process.exit(0);

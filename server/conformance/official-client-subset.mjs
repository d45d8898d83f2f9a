// Subset snapshots with the official @electric-sql/client (`requestSnapshot`, GET and POST):
// a changes_only stream, a subset page (where + params + orderBy + limit), then a live insert.
// Not run by cargo; run like official-client-smoke.mjs. Exits non-zero on failure.
import { ShapeStream, Shape } from '@electric-sql/client';
const base = process.argv[2] ?? "http://127.0.0.1:3000";
const tx = (ops) => fetch(`${base}/v1/tx`, {method:'POST', headers:{'content-type':'application/json'}, body: JSON.stringify({ops})}).then(r=>r.json());
const sleep = (ms) => new Promise(r => setTimeout(r, ms));
await tx([1,2,3,4,5].map(i => ({op:'insert',table:'todos',row:{id:i,title:'t'+i,done:i%2==0}})));
for (const method of ['GET', 'POST']) {
  const errors = [];
  const stream = new ShapeStream({ url: `${base}/v1/shape`, params: { table: 'todos' }, log: 'changes_only', subsetMethod: method, onError: e => { errors.push(String(e)); } });
  const seen = [];
  stream.subscribe(msgs => { for (const m of msgs) seen.push(m.headers.control ?? m.headers.operation + ':' + m.value?.id); });
  await sleep(300);
  const res = await stream.requestSnapshot({ where: 'done = $1', params: { '1': 'false' }, orderBy: 'id desc', limit: 2 });
  await sleep(300);
  await tx([{op:'insert',table:'todos',row:{id: method === 'GET' ? 100 : 101,title:'new',done:false}}]);
  await sleep(2500);
  console.log(method, 'snapshot rows', res?.data?.length ?? res, 'seen', seen.join(' '), 'errors', errors);
  if (errors.length || res?.data?.length !== 2 || !seen.includes('snapshot-end') || !seen.includes('insert:' + (method === 'GET' ? 100 : 101))) {
    throw new Error(method + ' subset run failed');
  }
  stream.unsubscribeAll();
}
process.exit(0);

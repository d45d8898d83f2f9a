// A plain Vite app using the packed eddy-sync exactly as a user would: no plugin, no config.
// The eddy-server URL comes from `?server=` (the test passes it); rows are rendered and exposed
// on `window.app` for the test to read.
import { ShapeStream, ShapeStreamPersister, Shape } from 'eddy-sync'

const query = new URLSearchParams(location.search)
const server = query.get('server') ?? 'http://127.0.0.1:3000'
// `?storage=opfs` (or indexeddb): the stream goes through a ShapeStreamPersister (the OPFS one
// runs in the package's module worker, which the bundler must have picked up).
const storage = query.get('storage')
const status = document.getElementById('status')
const list = document.getElementById('rows')
window.app = { rows: [], updates: 0, error: undefined }

try {
  const stream = new ShapeStream({ url: `${server}/v1/shape`, params: { table: 'todos' } })
  const persister = storage ? new ShapeStreamPersister(stream, { storage, namespace: 'vite-app' }) : undefined
  const shape = new Shape(persister ?? stream)
  shape.subscribe(({ rows }) => {
    window.app.rows = rows.map((r) => ({ id: String(r.id), title: r.title, done: r.done }))
    window.app.updates += 1
    list.replaceChildren(...rows.map((r) => Object.assign(document.createElement('li'), { textContent: r.title })))
    status.textContent = `${rows.length} rows`
  })
  await shape.rows
  if (persister) {
    await persister.flush()
    window.app.stored = (await persister.stats()).rows
  }
  window.app.ready = true
} catch (e) {
  window.app.error = String((e && e.stack) || e)
  status.textContent = `error: ${e}`
}

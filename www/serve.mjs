// Serves the demo page and the built package (js/dist, pkg/web) on http://127.0.0.1:8080
// (EDDY_WWW_PORT to change). Run after `bash scripts/build-wasm.sh`, next to an eddy-server:
//   node www/serve.mjs   →  open http://127.0.0.1:8080/www/?server=http://127.0.0.1:3000
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm' }
const served = ['www/', 'js/dist/', 'pkg/web/']
const port = Number(process.env.EDDY_WWW_PORT ?? 8080)

createServer(async (req, res) => {
  let path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+/, '')
  if (path === '' || path === 'www') path = 'www/index.html'
  if (path.endsWith('/')) path += 'index.html'
  if (!served.some((p) => path.startsWith(p))) return res.writeHead(404).end()
  try {
    const body = await readFile(join(root, path))
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body)
  } catch {
    res.writeHead(404).end()
  }
}).listen(port, '127.0.0.1', () => console.log(`eddy demo page on http://127.0.0.1:${port}/www/`))

// Issue #4 packaging: `npm pack` yields a clean, publishable tarball that holds what an app needs
// (the facade js/dist, the wasm package pkg/web, package.json, README) and nothing else, and the
// installed package loads from its own files.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, mkdir, readFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname, normalize } from 'node:path'
import { promisify } from 'node:util'
import { pack, ROOT } from './pack.mjs'

const run = promisify(execFile)
let dir
let report
let files

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eddy-pack-'))
  report = await pack(dir)
  files = report.files.map((f) => f.path).sort()
  console.log(`# ${report.filename}: ${report.size} B packed, ${report.unpackedSize} B unpacked, ${files.length} files`)
})
test.after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

test('the tarball holds the facade, the wasm package, package.json, README and LICENSE', () => {
  for (const f of [
    'package.json',
    'README.md',
    'LICENSE',
    'js/dist/index.js',
    'js/dist/index.d.ts',
    'js/dist/wasm.js',
    'pkg/web/eddy.js',
    'pkg/web/eddy.d.ts',
    'pkg/web/eddy_bg.wasm',
    'pkg/web/package.json',
  ]) {
    assert.ok(files.includes(f), `${f} missing from the tarball: ${files.join(', ')}`)
  }
  const wasm = report.files.find((f) => f.path === 'pkg/web/eddy_bg.wasm')
  assert.ok(wasm.size > 10_000, `eddy_bg.wasm is only ${wasm.size} B`)
})

test('the tarball holds nothing else: no sources, tests, build trees or node_modules', () => {
  const allowed = (f) =>
    ['package.json', 'README.md', 'LICENSE'].includes(f) || f.startsWith('js/dist/') || f.startsWith('pkg/web/')
  assert.deepEqual(files.filter((f) => !allowed(f)), [])
  for (const bad of ['target/', 'src/', 'tests/', 'node_modules/', 'js/src/', 'pkg/bundler/', 'server/', 'www/']) {
    assert.deepEqual(files.filter((f) => f.startsWith(bad)), [], `${bad} leaked into the tarball`)
  }
  assert.deepEqual(files.filter((f) => f.endsWith('.tgz') || f.includes('.gitignore')), [])
})

test('the packed package.json is publishable and its entry points are in the tarball', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
  assert.equal(pkg.name, 'eddy-sync')
  assert.notEqual(pkg.private, true, '"private": true makes `npm publish` refuse the package')
  assert.deepEqual(pkg.dependencies ?? {}, {}, 'the package has no runtime dependencies')
  const entries = [pkg.types, pkg.exports['.'].types, pkg.exports['.'].import, pkg.exports['.'].default]
  for (const e of entries) assert.ok(files.includes(normalize(e)), `${e} (an entry point) is not in the tarball`)
})

test('every relative import and the wasm URL of js/dist resolve inside the tarball', async () => {
  const extract = join(dir, 'x')
  await mkdir(extract)
  await run('tar', ['-xzf', report.tarball, '-C', extract], { timeout: 30_000 })
  const root = join(extract, 'package')
  const dist = await readdir(join(root, 'js/dist'))
  let checked = 0
  for (const f of dist.filter((n) => n.endsWith('.js'))) {
    const src = await readFile(join(root, 'js/dist', f), 'utf8')
    const specs = [...src.matchAll(/(?:from\s*|import\(\s*|new URL\(\s*)[`'"](\.{1,2}\/[^`'"]+)[`'"]/g)].map((m) => m[1])
    for (const s of specs) {
      const target = normalize(join('js/dist', dirname(f) === '.' ? '' : dirname(f), s))
      assert.ok(files.includes(target), `js/dist/${f} refers to ${s} (${target}), not in the tarball`)
      checked++
    }
  }
  assert.ok(checked >= 5, `only ${checked} relative references found`)
})

test('the installed tarball loads in Node: `import { ShapeStream, Shape } from "eddy-sync"`', async () => {
  const app = join(dir, 'app')
  await mkdir(join(app, 'node_modules'), { recursive: true })
  await run('tar', ['-xzf', report.tarball, '-C', join(app, 'node_modules')], { timeout: 30_000 })
  await run('mv', [join(app, 'node_modules/package'), join(app, 'node_modules/eddy-sync')])
  const script =
    "const m = await import('eddy-sync'); console.log(JSON.stringify([typeof m.ShapeStream, typeof m.Shape, typeof m.FetchError]))"
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, timeout: 30_000 })
  assert.deepEqual(JSON.parse(stdout.trim()), ['function', 'function', 'function'])
})

import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

// Instructions per unmasking call, counted by valgrind (callgrind): the deterministic A/B of
// gatewire's two unmasking paths on a loaded machine. One process runs under callgrind, warms
// every case up (JIT and WebAssembly tier-up), then for each case zeroes the counters, runs N
// calls, dumps, runs 3N calls, dumps; (I(3N) - I(N)) / 2N is the cost of one call without the
// fixed cost of the zero and dump around it.
//
//   npm run -s build && node dist/bench/mask-instructions.js [--calls 2000] [--sizes 16,1024] [--dist DIR]
//   (--calls: the least N; small sizes run more, up to 500 KB per run)
//
// `--dist` measures another build (e.g. /work/baseline2/dist) for the JS loop rows.

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`)
  return at === -1 ? fallback : args[at + 1]
}
const DIST = resolve(option('dist', join(__dirname, '..')))
/** Calls of the first measured run of a case of `size` bytes (the second runs 3×). */
const calls = (size: number): number => Math.max(Number(option('calls', '2000')), Math.ceil(500_000 / size))
const SIZES = option('sizes', '8,16,24,32,64,125,1024,16384,65536').split(',').map(Number)

interface Codec {
  applyMaskWord(data: Uint8Array, key: number, phase: number, start: number, end: number): void
  unmaskAscii(data: Uint8Array, key: number, phase: number, start: number, end: number): boolean
}

/** The cases, as [label, one call]. Views start 6 bytes in, like a payload after a header. */
function cases(): Array<[string, () => unknown, number]> {
  const codec = require(join(DIST, 'src', 'protocol', 'mask.js')) as Codec
  let maskable: Buffer | null = null
  try {
    const module = require(join(DIST, 'src', 'protocol', 'maskable-buffer.js')) as { maskableBuffer(size: number): Buffer | null }
    maskable = module.maskableBuffer(64 * 1024 + 64)
  } catch {
    maskable = null // a build without maskableBuffer: JS rows only
  }
  const key = 0x37fa213d
  const list: Array<[string, () => unknown, number]> = []
  for (const size of SIZES) {
    const ordinary = randomBytes(size + 64).subarray(6, 6 + size)
    list.push([`${size} B applyMaskWord, JS loop`, () => codec.applyMaskWord(ordinary, key, 1, 0, size), size])
    list.push([`${size} B unmaskAscii, JS loop`, () => codec.unmaskAscii(ordinary, key, 1, 0, size), size])
    if (maskable !== null) {
      const view = maskable.subarray(6, 6 + size)
      randomBytes(size).copy(view)
      list.push([`${size} B applyMaskWord, SIMD in place`, () => codec.applyMaskWord(view, key, 1, 0, size), size])
      list.push([`${size} B unmaskAscii, SIMD in place`, () => codec.unmaskAscii(view, key, 1, 0, size), size])
    }
  }
  return list
}

function child(): void {
  const list = cases()
  // Warm-up: enough calls for TurboFan and WebAssembly's top tier, bounded by bytes for big sizes.
  for (const [, call, size] of list) for (let i = Math.min(200_000, 2e8 / size); i > 0; i--) call()
  const control = (flag: string): void => void execFileSync('callgrind_control', [flag, String(process.pid)], { stdio: 'ignore' })
  for (const [label, call, size] of list) {
    for (const [run, n] of [['low', calls(size)], ['high', 3 * calls(size)]] as const) {
      control('--zero')
      for (let i = 0; i < n; i++) call()
      control(`--dump=${label.replace(/\W+/g, '_')}__${run}`)
    }
  }
}

function parent(): void {
  const dir = mkdtempSync(join(tmpdir(), 'gatewire-mask-instructions-'))
  try {
    const run = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.out')}`, '--smc-check=all-non-file', process.execPath, __filename, '--child', ...args], {
      encoding: 'utf8',
      timeout: 1_200_000,
    })
    if (run.status !== 0) throw new Error(`valgrind exited ${String(run.status ?? run.signal)}: ${run.stderr.slice(-2000)}`)
    const totals = new Map<string, number>()
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), 'utf8')
      const label = /^desc: Trigger: dump (\S+)$/m.exec(text)
      const total = /^summary:\s*(\d+)/m.exec(text)
      if (label !== null && total !== null) totals.set(label[1], Number(total[1]))
    }
    process.stdout.write(`instructions per call (callgrind; (I(3N) - I(N)) / 2N, N = ${calls(16)} at 16 B), ${DIST}\n`)
    for (const size of SIZES) {
      const row: string[] = []
      for (const path of ['applyMaskWord, JS loop', 'applyMaskWord, SIMD in place', 'unmaskAscii, JS loop', 'unmaskAscii, SIMD in place']) {
        const label = `${size} B ${path}`.replace(/\W+/g, '_')
        const low = totals.get(`${label}__low`)
        const high = totals.get(`${label}__high`)
        row.push(`${path}: ${low === undefined || high === undefined ? '—' : ((high - low) / (2 * calls(size))).toFixed(1)}`)
      }
      process.stdout.write(`  ${String(size).padStart(6)} B  ${row.join('  ')}\n`)
    }
    if (totals.size === 0) process.stdout.write(`no dumps parsed in ${dir}: ${readdirSync(dir).join(', ')}\n`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (args.includes('--child')) child()
else parent()

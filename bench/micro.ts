import { isUtf8 } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { useBenchDeps } from './lib/bench-deps'
import { MALLOC_ENV } from './lib/proc'
import { maskedFrame, OP_BINARY, OP_TEXT } from './lib/wire'

// Codec micro-benchmarks (`npm run bench:micro`, or `npm run bench -- --micro`): gatewire's
// frame parser, frame header builder, masking and UTF-8 validator next to what `ws` uses for
// the same job (its Receiver and Sender.frame, bufferutil's native mask/unmask or ws's JS
// byte loop, buffer.isUtf8). gatewire's codec is loaded from dist/src/protocol at run time, so
// this file builds even while the codec's API is still moving; anything missing is reported as
// "not available" instead of failing the run.

const ROOT = resolve(__dirname, '..', '..')
const quick = process.argv.includes('--quick')
const SAMPLE_MS = quick ? 60 : 300
const SAMPLES = quick ? 3 : 7
const onlyArg = process.argv.find((a) => a.startsWith('--only='))
/** `--only=mask,utf8,parse,build` runs a subset. */
const only = new Set((onlyArg?.slice('--only='.length) ?? 'mask,utf8,parse,build').split(','))

// ---------------------------------------------------------------------------------------------
// What is compared, as loaded at run time.

interface GwFrameHandler {
  onText(text: string): void
  onBinary(data: Buffer): void
  onBinaryStart(): void
  onBinaryChunk(chunk: Buffer): void
  onBinaryEnd(): void
  onPing(payload: Buffer): void
  onPong(payload: Buffer): void
  onClose(code: number, reason: string): void
  onError(error: Error): void
}
interface GwFrameParser {
  push(chunk: Buffer): void
}
type GwFrameParserClass = new (handler: GwFrameHandler, options: { expectMasked: boolean; maxMessageSize: number }) => GwFrameParser
type GwApplyMask = (data: Uint8Array, key: Uint8Array, phase?: number, start?: number, end?: number) => void
type GwMaskWord = (data: Uint8Array, key: number, phase: number, start: number, end: number) => unknown
type GwWriteFrameHeader = (target: Uint8Array, offset: number, opcode: number, fin: boolean, payloadLength: number, maskKey: Uint8Array | null) => number
interface GwUtf8Validator {
  push(data: Uint8Array, start?: number, end?: number): boolean
  end(): boolean
  reset(): void
}
type GwUtf8ValidatorClass = new () => GwUtf8Validator

interface Gatewire {
  FrameParser?: GwFrameParserClass
  applyMask?: GwApplyMask
  applyMaskWord?: GwMaskWord
  unmaskAscii?: GwMaskWord
  keyWord?: (key: Uint8Array) => number
  maskableBuffer?: (size: number) => Buffer | null
  writeFrameHeader?: GwWriteFrameHeader
  Utf8Validator?: GwUtf8ValidatorClass
  problems: string[]
}

function loadModule(relative: string, problems: string[]): Record<string, unknown> {
  const file = join(ROOT, 'dist', 'src', 'protocol', `${relative}.js`)
  if (!existsSync(file)) {
    problems.push(`dist/src/protocol/${relative}.js missing (codec not built yet)`)
    return {}
  }
  try {
    return require(file) as Record<string, unknown>
  } catch (error) {
    problems.push(`dist/src/protocol/${relative}.js failed to load: ${(error as Error).message}`)
    return {}
  }
}

function loadGatewire(): Gatewire {
  const problems: string[] = []
  const pick = <T>(module: Record<string, unknown>, name: string, file: string): T | undefined => {
    const value = module[name]
    if (typeof value === 'function') return value as T
    if (Object.keys(module).length > 0) problems.push(`${file} has no export ${name}`)
    return undefined
  }
  const parser = loadModule('frame-parser', problems)
  const mask = loadModule('mask', problems)
  const maskable = loadModule('maskable-buffer', problems)
  const builder = loadModule('frame-builder', problems)
  const utf8 = loadModule('utf8-validator', problems)
  return {
    FrameParser: pick<GwFrameParserClass>(parser, 'FrameParser', 'frame-parser'),
    applyMask: pick<GwApplyMask>(mask, 'applyMask', 'mask'),
    applyMaskWord: pick<GwMaskWord>(mask, 'applyMaskWord', 'mask'),
    unmaskAscii: pick<GwMaskWord>(mask, 'unmaskAscii', 'mask'),
    keyWord: pick<(key: Uint8Array) => number>(mask, 'keyWord', 'mask'),
    maskableBuffer: pick<(size: number) => Buffer | null>(maskable, 'maskableBuffer', 'maskable-buffer'),
    writeFrameHeader: pick<GwWriteFrameHeader>(builder, 'writeFrameHeader', 'frame-builder'),
    Utf8Validator: pick<GwUtf8ValidatorClass>(utf8, 'Utf8Validator', 'utf8-validator'),
    problems,
  }
}

interface BufferUtil {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void
  unmask(buffer: Buffer, mask: Buffer): void
}
interface WsReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this
  on(event: 'error', listener: (error: Error) => void): this
  write(chunk: Buffer): boolean
}
type WsReceiverClass = new (options: { isServer: boolean; maxPayload: number; binaryType: string }) => WsReceiver
interface WsSenderClass {
  frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[]
}

// ws's internals are not in its package exports; load them by file path.
const WS_LIB = join(dirname(require.resolve('ws/package.json')), 'lib')

/** ws's buffer-util as ws itself would pick it: with bufferutil, or (env set) its JS loops. */
function loadWsBufferUtil(native: boolean): BufferUtil {
  const id = join(WS_LIB, 'buffer-util.js')
  const saved = process.env.WS_NO_BUFFER_UTIL
  delete require.cache[id]
  if (native) delete process.env.WS_NO_BUFFER_UTIL
  else process.env.WS_NO_BUFFER_UTIL = '1'
  try {
    return require(id) as BufferUtil
  } finally {
    delete require.cache[id]
    if (saved === undefined) delete process.env.WS_NO_BUFFER_UTIL
    else process.env.WS_NO_BUFFER_UTIL = saved
  }
}

// ---------------------------------------------------------------------------------------------
// Timing

let sink = 0

interface Measurement {
  nsPerOp: number
  gbPerSecond?: number
}

/** Median over samples of ns per call of `op` (each sample runs ~SAMPLE_MS). */
function measure(op: () => number, bytesPerOp?: number): Measurement {
  // Calibrate: how many calls fit into one sample.
  let calls = 1
  for (;;) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) sink ^= op()
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    if (ms >= SAMPLE_MS / 4) {
      calls = Math.max(1, Math.round((calls * SAMPLE_MS) / ms))
      break
    }
    calls *= 4
  }
  const results: number[] = []
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) sink ^= op()
    results.push(Number(process.hrtime.bigint() - t0) / calls)
  }
  results.sort((a, b) => a - b)
  const nsPerOp = results[results.length >> 1]
  return bytesPerOp === undefined ? { nsPerOp } : { nsPerOp, gbPerSecond: bytesPerOp / nsPerOp }
}

interface Row {
  group: string
  input: string
  impl: string
  result: Measurement | string
  unit: 'ns/op' | 'ns/frame' | 'GB/s'
}
const rows: Row[] = []

function add(group: string, input: string, impl: string, unit: Row['unit'], run: (() => Measurement) | string): void {
  let result: Measurement | string
  try {
    result = typeof run === 'string' ? run : run()
  } catch (error) {
    result = `failed: ${(error as Error).message}`
  }
  rows.push({ group, input, impl, result, unit })
  const shown = typeof result === 'string' ? result : unit === 'GB/s' ? `${result.gbPerSecond?.toFixed(2)} GB/s (${result.nsPerOp.toFixed(1)} ns/op)` : `${result.nsPerOp.toFixed(1)} ${unit}`
  process.stderr.write(`  ${group.padEnd(12)} ${input.padEnd(24)} ${impl.padEnd(34)} ${shown}\n`)
}

function fmtSize(n: number): string {
  return n >= 1024 * 1024 ? `${n / 1024 / 1024} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`
}

// ---------------------------------------------------------------------------------------------

function masking(gw: Gatewire, bufferutil: BufferUtil | undefined, wsJs: BufferUtil, wsNative: BufferUtil): void {
  const key = randomBytes(4)
  for (const size of [16, 125, 1024, 64 * 1024, 1024 * 1024]) {
    // Offset by one byte inside a larger buffer, like a payload after a header in a socket chunk.
    const backing = randomBytes(size + 8)
    const data = backing.subarray(6, 6 + size)
    const input = `${fmtSize(size)} (unaligned)`
    add('mask', input, 'gatewire applyMask', 'GB/s', gw.applyMask === undefined ? 'not available' : () => {
      const applyMask = gw.applyMask as GwApplyMask
      return measure(() => (applyMask(data, key, 0, 0, size), data[0]), size)
    })
    add('mask', input, 'bufferutil.unmask (native)', 'GB/s', bufferutil === undefined ? 'not available' : () =>
      measure(() => (bufferutil.unmask(data, key), data[0]), size))
    add('mask', input, 'ws unmask with bufferutil', 'GB/s', () => measure(() => (wsNative.unmask(data, key), data[0]), size))
    add('mask', input, 'ws unmask, JS byte loop', 'GB/s', () => measure(() => (wsJs.unmask(data, key), data[0]), size))
  }
  maskingInPlace(gw, key)
}

/**
 * gatewire's two unmasking paths on the same sizes, as the parser calls them (a key word, a
 * range): the JavaScript word loop on an ordinary Buffer, and the WebAssembly SIMD function on
 * a view of maskableBuffer() memory. The sizes around 32 B show where the call starts to pay.
 */
function maskingInPlace(gw: Gatewire, key: Buffer): void {
  const { applyMaskWord, unmaskAscii, keyWord, maskableBuffer } = gw
  if (applyMaskWord === undefined || unmaskAscii === undefined || keyWord === undefined) return
  const word = keyWord(key)
  const sizes = [16, 32, 64, 125, 1024, 16 * 1024, 64 * 1024]
  const maskable = maskableBuffer?.(64 * 1024 + 8) ?? null
  for (const size of sizes) {
    const ordinary = randomBytes(size + 8).subarray(6, 6 + size)
    const inMemory = maskable === null ? null : maskable.subarray(6, 6 + size)
    if (inMemory !== null) randomBytes(size).copy(inMemory)
    const input = `${fmtSize(size)} (unaligned)`
    for (const [name, op] of [
      ['applyMaskWord', applyMaskWord],
      ['unmaskAscii', unmaskAscii],
    ] as const) {
      add('mask', input, `gatewire ${name}, JS loop`, 'GB/s', () => measure(() => (op(ordinary, word, 0, 0, size), ordinary[0]), size))
      add('mask', input, `gatewire ${name}, SIMD in place`, 'GB/s', inMemory === null ? 'not available (no WebAssembly SIMD, or not built)' : () =>
        measure(() => (op(inMemory, word, 0, 0, size), inMemory[0]), size))
    }
  }
}

function utf8(gw: Gatewire, wsIsValidUtf8: (buf: Buffer) => boolean): void {
  const mixed = 'héllo wörld — 日本語のテキスト 😀 '
  for (const [label, unit] of [
    ['ASCII', 'a'],
    ['mixed', mixed],
  ] as const) {
    for (const size of [16, 1024, 64 * 1024, 1024 * 1024]) {
      // Whole characters only, so every input is valid UTF-8 of about `size` bytes.
      const units = [...unit]
      let text = unit.repeat(Math.ceil(size / Buffer.byteLength(unit)) + 1)
      let data = Buffer.from(text)
      // Trim whole characters (code points) until it fits.
      let chars = [...text]
      while (data.length > size) {
        const excess = data.length - size
        chars = chars.slice(0, Math.max(0, chars.length - Math.max(1, Math.floor(excess / 4))))
        text = chars.join('')
        data = Buffer.from(text)
      }
      if (units.length === 0) throw new Error('empty unit')
      if (!isUtf8(data)) throw new Error('test input is not UTF-8')
      const input = `${label} ${fmtSize(size)}`
      const n = data.length
      add('utf8', input, 'gatewire Utf8Validator push+end', 'GB/s', gw.Utf8Validator === undefined ? 'not available' : () => {
        const validator = new (gw.Utf8Validator as GwUtf8ValidatorClass)()
        if (!(validator.push(data) && validator.end())) throw new Error('gatewire rejected valid UTF-8')
        return measure(() => {
          validator.reset()
          return validator.push(data) && validator.end() ? 1 : 0
        }, n)
      })
      add('utf8', input, 'buffer.isUtf8 (what ws uses ≥ 24 B)', 'GB/s', () => measure(() => (isUtf8(data) ? 1 : 0), n))
      add('utf8', input, 'ws isValidUTF8', 'GB/s', () => measure(() => (wsIsValidUtf8(data) ? 1 : 0), n))
    }
  }
}

function parsing(gw: Gatewire | undefined, Receiver: WsReceiverClass, wsLabel: string): void {
  const cases = [
    { label: '16 B text', opcode: OP_TEXT, size: 16, frames: 4000 },
    { label: '1 KiB text', opcode: OP_TEXT, size: 1024, frames: 1000 },
    { label: '64 KiB binary', opcode: OP_BINARY, size: 64 * 1024, frames: 32 },
  ]
  for (const c of cases) {
    const payload = Buffer.alloc(c.size, 'abcdefghijklmnopqrstuvwxyz')
    const stream = Buffer.concat(Array.from({ length: c.frames }, () => maskedFrame(c.opcode, payload)))
    // Parsers unmask in place, so each round parses a fresh copy; the copy is measured on its own.
    const work = Buffer.allocUnsafe(stream.length)
    // Socket-sized reads: 64 KiB chunks, as the kernel hands them to Node on loopback.
    const chunks: Buffer[] = []
    for (let offset = 0; offset < work.length; offset += 65536) chunks.push(work.subarray(offset, Math.min(work.length, offset + 65536)))
    const input = `${c.label}, ${c.frames} masked frames`
    const perFrame = (m: Measurement): Measurement => ({ nsPerOp: m.nsPerOp / c.frames, gbPerSecond: (stream.length / m.nsPerOp) })
    if (gw !== undefined) add('parse', input, 'copy of the input alone (baseline)', 'ns/frame', () => perFrame(measure(() => stream.copy(work))))
    if (gw !== undefined) add('parse', input, 'gatewire FrameParser', 'ns/frame', gw.FrameParser === undefined ? 'not available' : () => {
      let messages = 0
      const handler: GwFrameHandler = {
        onText: () => void messages++,
        onBinary: () => void messages++,
        onBinaryStart: () => undefined,
        onBinaryChunk: () => undefined,
        onBinaryEnd: () => void messages++,
        onPing: () => undefined,
        onPong: () => undefined,
        onClose: () => undefined,
        onError: (error) => {
          throw error
        },
      }
      const parser = new (gw.FrameParser as GwFrameParserClass)(handler, { expectMasked: true, maxMessageSize: 64 * 1024 * 1024 })
      const result = perFrame(
        measure(() => {
          stream.copy(work)
          for (const chunk of chunks) parser.push(chunk)
          return messages
        }),
      )
      if (messages === 0 || messages % c.frames !== 0) throw new Error(`parsed ${messages} messages, not a multiple of ${c.frames}`)
      return result
    })
    add('parse', input, wsLabel, 'ns/frame', () => {
      let messages = 0
      let failure: Error | undefined
      const receiver = new Receiver({ isServer: true, maxPayload: 64 * 1024 * 1024, binaryType: 'nodebuffer' })
      receiver.on('message', () => void messages++)
      receiver.on('error', (error) => (failure = error))
      const result = perFrame(
        measure(() => {
          stream.copy(work)
          for (const chunk of chunks) receiver.write(chunk)
          return messages
        }),
      )
      if (failure !== undefined) throw failure
      if (messages === 0 || messages % c.frames !== 0) throw new Error(`parsed ${messages} messages, not a multiple of ${c.frames}`)
      return result
    })
  }
}

function building(gw: Gatewire, Sender: WsSenderClass): void {
  for (const size of [16, 1024, 64 * 1024]) {
    const payload = Buffer.alloc(size, 0x61)
    const target = Buffer.allocUnsafe(14)
    const input = `server header, ${fmtSize(size)} payload`
    add('build', input, 'gatewire writeFrameHeader (reused buffer)', 'ns/op', gw.writeFrameHeader === undefined ? 'not available' : () => {
      const write = gw.writeFrameHeader as GwWriteFrameHeader
      return measure(() => write(target, 0, OP_BINARY, true, size, null))
    })
    add('build', input, 'gatewire writeFrameHeader + new 14 B buffer', 'ns/op', gw.writeFrameHeader === undefined ? 'not available' : () => {
      const write = gw.writeFrameHeader as GwWriteFrameHeader
      return measure(() => write(Buffer.allocUnsafe(14), 0, OP_BINARY, true, size, null))
    })
    add('build', input, 'ws Sender.frame (unmasked)', 'ns/op', () =>
      measure(() => Sender.frame(payload, { fin: true, opcode: OP_BINARY, mask: false, readOnly: false, rsv1: false }).length))
  }
}

type Group = 'mask' | 'utf8' | 'parse' | 'build'
const GROUPS: readonly Group[] = ['mask', 'utf8', 'parse', 'build']
/** Child runs: a group, and the environment it runs with. */
const RUNS: readonly { group: Group; id: string; env: Record<string, string> }[] = [
  { group: 'mask', id: 'mask', env: {} },
  { group: 'utf8', id: 'utf8', env: {} },
  { group: 'parse', id: 'parse', env: {} },
  // ws's Receiver again, with ws told to ignore bufferutil (its pure-JS unmask loop).
  { group: 'parse', id: 'parse-ws-js', env: { WS_NO_BUFFER_UTIL: '1' } },
  { group: 'build', id: 'build', env: {} },
]

/** Runs one group in this process and prints its rows (the child side). */
function runGroup(id: string): void {
  const gw = loadGatewire()
  const group = RUNS.find((r) => r.id === id)?.group
  if (group === undefined) throw new Error(`unknown group ${id}`)
  if (group === 'mask') {
    let bufferutil: BufferUtil | undefined
    try {
      bufferutil = require('bufferutil') as BufferUtil
    } catch {
      bufferutil = undefined
    }
    masking(gw, bufferutil, loadWsBufferUtil(false), loadWsBufferUtil(true))
  } else if (group === 'utf8') {
    utf8(gw, (require(join(WS_LIB, 'validation.js')) as { isValidUTF8: (buf: Buffer) => boolean }).isValidUTF8)
  } else if (group === 'parse') {
    const Receiver = require(join(WS_LIB, 'receiver.js')) as WsReceiverClass
    if (id === 'parse-ws-js') parsing(undefined, Receiver, 'ws Receiver, JS unmask (WS_NO_BUFFER_UTIL=1)')
    else parsing(gw, Receiver, 'ws Receiver with bufferutil')
  } else {
    building(gw, require(join(WS_LIB, 'sender.js')) as WsSenderClass)
  }
  process.stdout.write(`ROWS ${JSON.stringify({ rows, problems: gw.problems })}\n`)
  if (sink === 0.5) process.stderr.write('')
}

/**
 * The parent: each group runs in a fresh process, so JIT state and heap left by one group
 * (a 1 MiB masking loop, say) do not skew the next.
 */
function main(): void {
  const groupArg = process.argv.find((a) => a.startsWith('--group='))
  if (groupArg !== undefined) {
    runGroup(groupArg.slice('--group='.length))
    return
  }
  useBenchDeps() // bufferutil, for the groups (they inherit NODE_PATH)
  process.stderr.write(`micro-benchmarks (${quick ? 'quick' : 'full'}): ${SAMPLES} samples of ~${SAMPLE_MS} ms each, median; one process per group\n`)
  const problems = new Set<string>()
  for (const { group, id, env } of RUNS.filter((r) => only.has(r.group))) {
    const child = spawnSync(process.execPath, [__filename, `--group=${id}`, ...(quick ? ['--quick'] : [])], {
      // The same allocator setting as the benchmarked servers (see MALLOC_ENV).
      env: { ...process.env, ...MALLOC_ENV, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      timeout: 600_000,
    })
    const line = child.stdout.split('\n').find((l) => l.startsWith('ROWS '))
    if (line === undefined) {
      rows.push({ group, input: '—', impl: '—', result: `group failed (exit ${String(child.status ?? child.signal)})`, unit: 'ns/op' })
      continue
    }
    const parsed = JSON.parse(line.slice('ROWS '.length)) as { rows: Row[]; problems: string[] }
    rows.push(...parsed.rows)
    for (const problem of parsed.problems) problems.add(problem)
  }

  const lines: string[] = []
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  lines.push(`# gatewire codec micro-benchmarks — ${new Date().toISOString()}${quick ? ' (quick)' : ''}`)
  lines.push('')
  lines.push(
    `${cpu}, Linux ${release()}, Node ${process.version}; median of ${SAMPLES} samples of ~${SAMPLE_MS} ms, each group in its own process (with \`GLIBC_TUNABLES=${MALLOC_ENV.GLIBC_TUNABLES}\`). ` +
      'Reproduce: `npm run bench:micro` (or `npm run bench -- --micro`).',
  )
  if (problems.size > 0) lines.push('', `gatewire codec: ${[...problems].join('; ')}.`)
  lines.push('')
  const titles: Record<Group, string> = {
    mask: 'Masking / unmasking in place (GB/s, higher is better)',
    utf8: 'UTF-8 validation of a whole valid message (GB/s, higher is better)',
    parse:
      'Frame parsing, server side (ns per frame, lower is better). Masked client frames fed in 64 KiB chunks, as a socket ' +
      'delivers them; each round first copies the pristine input (parsers unmask in place): that copy is the baseline row and is included in the others',
    build: 'Frame header building (ns per header, lower is better)',
  }
  for (const group of GROUPS.filter((g) => only.has(g))) {
    lines.push(`## ${titles[group]}`, '', '| input | implementation | result |', '|---|---|---|')
    for (const row of rows.filter((r) => r.group === group)) {
      const r = row.result
      const shown =
        typeof r === 'string'
          ? r
          : row.unit === 'GB/s'
            ? `${(r.gbPerSecond ?? Number.NaN).toFixed(2)} GB/s (${r.nsPerOp.toFixed(1)} ns/op)`
            : row.unit === 'ns/frame'
              ? `${r.nsPerOp.toFixed(1)} ns/frame (${(r.gbPerSecond ?? Number.NaN).toFixed(2)} GB/s)`
              : `${r.nsPerOp.toFixed(1)} ns/op`
      lines.push(`| ${row.input} | ${row.impl} | ${shown} |`)
    }
    lines.push('')
  }
  const markdown = lines.join('\n')
  process.stdout.write(`\n${markdown}\n`)
  if (!process.argv.includes('--no-save')) {
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')
    writeFileSync(join(dir, `${stamp}-micro${quick ? '-quick' : ''}.md`), `${markdown}\n`)
    writeFileSync(join(dir, 'latest-micro.md'), `${markdown}\n`)
  }
}

main()

import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { applyMask, applyMaskWord, keyWord, unmaskAscii, useSimdMask } from '../../src/protocol/mask'
import { MASKABLE_MEMORY_SIZE, maskableBuffer, maskSimdActive, maskSimdFunctions, setMaskSimdEnabled } from '../../src/protocol/maskable-buffer'
import { FrameParser } from '../../src/protocol/frame-parser'
import { CloseCode } from '../../src/protocol/constants'
import { FrameRecorder } from './frame-recorder'

/** The texts and binary messages a recorder saw, in order. */
function messages(recorder: FrameRecorder): Array<string | Buffer> {
  return recorder.events.flatMap((event): Array<string | Buffer> => (event.type === 'text' ? [event.text] : event.type === 'binary' ? [event.data] : []))
}

const ROOT = join(__dirname, '..', '..')

/** Byte-by-byte masking straight from RFC 6455 §5.3: j = i MOD 4, octet ^ key[j]. */
function referenceMask(data: Uint8Array, key: Uint8Array, phase: number, start: number, end: number): Buffer {
  const out = Buffer.from(data)
  for (let i = start; i < end; i++) out[i] = data[i] ^ key[(phase + i - start) % 4]
  return out
}

/** Both masking paths, run on the same vectors: the SIMD function, and the JS loop it replaces. */
const PATHS = [
  { name: 'WebAssembly SIMD', simd: true },
  { name: 'JavaScript fallback', simd: false },
] as const

/** Runs `body` with the SIMD dispatch switched on or off, and switches it back on after. */
function withSimd<T>(on: boolean, body: () => T): T {
  setMaskSimdEnabled(on)
  try {
    return body()
  } finally {
    setMaskSimdEnabled(true)
  }
}

/** Counts the calls into the SIMD functions while `body` runs (the functions still do the work). */
function simdCalls(body: () => void): number {
  const simd = maskSimdFunctions()
  if (simd === null) throw new Error('the SIMD module is not started')
  const active = maskSimdActive()
  let calls = 0
  useSimdMask(
    active ? simd.memory : null,
    (p, n, key) => (calls++, simd.mask(p, n, key)),
    (p, n, key) => (calls++, simd.maskAscii(p, n, key)),
  )
  try {
    body()
  } finally {
    setMaskSimdEnabled(active) // the real functions again
  }
  return calls
}

/** Runs a script in a fresh Node (with `flags` and `env`) that loads the codec from source; returns its JSON output. */
function child(script: string, flags: string[] = [], env: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...flags, '-r', 'ts-node/register/transpile-only', '-e', script],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => (error === null ? resolve(JSON.parse(stdout)) : reject(new Error(`${error.message}\n${stderr}`))),
    )
  })
}

// One scratch area for the whole file: the memory is process-wide and never given back.
const SCRATCH = 256 * 1024
let scratch: Buffer

describe('maskableBuffer', () => {
  before(() => {
    const buffer = maskableBuffer(SCRATCH)
    expect(buffer, 'Node 20 has WebAssembly SIMD: maskableBuffer must not be null here').to.not.equal(null)
    scratch = buffer as Buffer
  })

  it('hands out Buffers inside the WebAssembly memory that the SIMD masking works in', () => {
    expect(maskSimdActive()).to.equal(true)
    expect(scratch.length).to.equal(SCRATCH)
    expect(scratch.buffer).to.equal(maskSimdFunctions()?.memory)
    expect(scratch.buffer.byteLength).to.equal(MASKABLE_MEMORY_SIZE)
  })

  it('hands out buffers that start 64-byte aligned and never overlap', () => {
    const a = maskableBuffer(3) as Buffer
    const b = maskableBuffer(100) as Buffer
    for (const buffer of [a, b]) expect(buffer.byteOffset % 64, 'byteOffset').to.equal(0)
    expect(b.byteOffset).to.be.at.least(a.byteOffset + a.length)
    expect(a.byteOffset).to.be.at.least(scratch.byteOffset + scratch.length)
    b.fill(0x55)
    a.fill(0xaa)
    expect(b.every((byte) => byte === 0x55)).to.equal(true)
  })

  it('rejects a size that is not a positive integer with a RangeError', () => {
    for (const size of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => maskableBuffer(size), String(size)).to.throw(RangeError, /positive integer/)
    }
  })

  it('returns null for more than the memory holds, and keeps serving what still fits', () => {
    expect(maskableBuffer(MASKABLE_MEMORY_SIZE + 1)).to.equal(null)
    expect(maskableBuffer(MASKABLE_MEMORY_SIZE)).to.equal(null)
    expect(maskableBuffer(16)).to.not.equal(null)
  })

  it('returns null once the memory is used up, never a buffer over memory handed out before', async () => {
    const result = await child(`
      const { maskableBuffer, MASKABLE_MEMORY_SIZE } = require('./src/protocol/maskable-buffer')
      const sizes = []
      for (let buffer; (buffer = maskableBuffer(100 * 1024)) !== null; ) sizes.push(buffer.byteOffset + buffer.length)
      const rest = maskableBuffer(MASKABLE_MEMORY_SIZE - sizes[sizes.length - 1])
      console.log(JSON.stringify({ count: sizes.length, last: sizes[sizes.length - 1], rest: rest && rest.byteOffset + rest.length, after: maskableBuffer(1) }))`)
    // 10 × 100 KiB (multiples of 64 B) fit in 1 MiB; the 11th does not, the rest does, then nothing.
    expect(result).to.deep.equal({ count: 10, last: 10 * 100 * 1024, rest: MASKABLE_MEMORY_SIZE, after: null })
  })

  it('returns null and masks with the JavaScript loop where WebAssembly is missing (node --jitless)', async () => {
    const result = await child(
      `
      const { maskableBuffer } = require('./src/protocol/maskable-buffer')
      const { applyMask, unmaskAscii, keyWord } = require('./src/protocol/mask')
      const data = Buffer.alloc(1000, 0x61)
      applyMask(data, Buffer.from([1, 2, 3, 4]))
      const ascii = unmaskAscii(data, keyWord(Buffer.from([1, 2, 3, 4])), 0, 0, data.length)
      console.log(JSON.stringify({ wasm: typeof WebAssembly, buffer: maskableBuffer(64), ascii, restored: data.every((b) => b === 0x61) }))`,
      ['--jitless'],
    )
    expect(result).to.deep.equal({ wasm: 'undefined', buffer: null, ascii: true, restored: true })
  })

  it('returns null with GATEWIRE_WASM_SIMD=off', async () => {
    const result = await child(
      `const { maskableBuffer, maskSimdActive } = require('./src/protocol/maskable-buffer')
      console.log(JSON.stringify({ buffer: maskableBuffer(64), active: maskSimdActive() }))`,
      [],
      { GATEWIRE_WASM_SIMD: 'off' },
    )
    expect(result).to.deep.equal({ buffer: null, active: false })
  })
})

describe('masking inside maskableBuffer memory, both paths on the same vectors', () => {
  // Every length 0–300 at every alignment 0–15 and phase 0–3, with random keys: the SIMD code
  // has a 64-byte loop, a 16-byte loop, an 8-, a 4- and a byte tail, all met here.
  const vectors: Array<{ offset: number; length: number; phase: number; key: Buffer; plain: Buffer }> = []
  for (let offset = 0; offset < 16; offset++) {
    for (let phase = 0; phase < 4; phase++) {
      for (let length = 0; length <= 300; length++) vectors.push({ offset, length, phase, key: randomBytes(4), plain: randomBytes(length) })
    }
  }

  for (const path of PATHS) {
    it(`applyMaskWord matches the RFC 6455 reference (${path.name}), every length 0–300, alignment 0–15, phase 0–3`, () => {
      const calls = withSimd(path.simd, () =>
        simdCalls(() => {
          for (const { offset, length, phase, key, plain } of vectors) {
            // Guard bytes around the range: nothing outside [start, end) may change.
            const view = scratch.subarray(offset, offset + length + 32)
            view.fill(0xee)
            plain.copy(view, 16)
            const expected = referenceMask(view, key, phase, 16, 16 + length)
            applyMaskWord(view, keyWord(key), phase, 16, 16 + length)
            if (!view.equals(expected)) {
              expect(view.toString('hex'), `offset ${offset} phase ${phase} length ${length}`).to.equal(expected.toString('hex'))
            }
          }
        }),
      )
      // Ranges from 16 bytes go to the SIMD function (when it is on), shorter ones to the byte loop.
      expect(calls).to.equal(path.simd ? vectors.filter((v) => v.length >= 16).length : 0)
    })

    it(`unmaskAscii reports ASCII and unmasks (${path.name}), every length 0–300, alignment 0–15, phase 0–3`, () => {
      withSimd(path.simd, () => {
        for (const { offset, length, phase, key } of vectors) {
          const plain = Buffer.alloc(length)
          for (let i = 0; i < length; i++) plain[i] = (i * 37 + offset) & 0x7f
          const view = scratch.subarray(offset, offset + length)
          plain.copy(view)
          applyMask(view, key, phase)
          expect(unmaskAscii(view, keyWord(key), phase, 0, length), `offset ${offset} phase ${phase} length ${length}`).to.equal(true)
          if (!view.equals(plain)) expect(view.toString('hex'), `offset ${offset} phase ${phase} length ${length}`).to.equal(plain.toString('hex'))
        }
      })
    })

    it(`unmaskAscii reports a byte with its top bit set at every position (${path.name})`, () => {
      // Strictness: an ASCII verdict skips UTF-8 validation, so a missed high bit would let
      // invalid UTF-8 through. Every position of every length 1–300, every alignment 0–15.
      let checked = 0
      withSimd(path.simd, () => {
        for (let offset = 0; offset < 16; offset++) {
          for (let length = 1; length <= 300; length += length < 140 ? 1 : 9) {
            const key = randomBytes(4)
            const phase = (offset + length) & 3
            const plain = Buffer.alloc(length)
            for (let i = 0; i < length; i++) plain[i] = (i * 13 + length) & 0x7f
            for (let at = 0; at < length; at++) {
              const high = 0x80 | ((at * 7 + offset) & 0x7f)
              const view = scratch.subarray(offset, offset + length)
              plain.copy(view)
              view[at] = high
              applyMask(view, key, phase)
              if (unmaskAscii(view, keyWord(key), phase, 0, length) !== false) {
                expect.fail(`0x${high.toString(16)} at ${at} of ${length} (offset ${offset}, phase ${phase}) was reported ASCII`)
              }
              if (view[at] !== high || view[0] !== (at === 0 ? high : plain[0])) expect.fail(`not unmasked: at ${at} of ${length}`)
              checked++
            }
          }
        }
      })
      expect(checked).to.be.greaterThan(100_000)
    })

    it(`masks long ranges like the reference (${path.name}): 16 KiB, 64 KiB + 1, 200 KiB + 3`, () => {
      withSimd(path.simd, () => {
        for (const length of [16 * 1024, 64 * 1024 + 1, 200 * 1024 + 3]) {
          for (const [offset, phase] of [
            [0, 0],
            [5, 3],
            [13, 2],
          ]) {
            const key = randomBytes(4)
            const view = scratch.subarray(offset, offset + length)
            randomBytes(length).copy(view)
            const expected = referenceMask(view, key, phase, 0, length)
            applyMaskWord(view, keyWord(key), phase, 0, length)
            expect(view.equals(expected), `length ${length} offset ${offset} phase ${phase}`).to.equal(true)
            // A non-ASCII byte in the last 16 bytes of a long text is found too.
            view.fill(0x41)
            view[length - 1 - (offset % 16)] = 0xc3
            applyMaskWord(view, keyWord(key), phase, 0, length)
            expect(unmaskAscii(view, keyWord(key), phase, 0, length), `non-ASCII near the end, length ${length}`).to.equal(false)
            expect(view[length - 1 - (offset % 16)]).to.equal(0xc3)
          }
        }
      })
    })
  }

  it('gives the same bytes through SIMD and through the JavaScript loop, masked in pieces with a running phase', () => {
    const original = randomBytes(5000)
    const key = randomBytes(4)
    const results = PATHS.map((path) =>
      withSimd(path.simd, () => {
        const view = scratch.subarray(3, 3 + original.length)
        original.copy(view)
        let from = 0
        for (const to of [1, 33, 34, 100, 1027, 1028, 4096, 4999, 5000]) {
          applyMaskWord(view, keyWord(key), from, from, to)
          from = to
        }
        return Buffer.from(view)
      }),
    )
    expect(results[0].equals(referenceMask(original, key, 0, 0, original.length))).to.equal(true)
    expect(results[1].equals(results[0])).to.equal(true)
  })

  it('masks ordinary Buffers with the JavaScript loop, never the SIMD function', () => {
    const data = randomBytes(4096)
    const key = randomBytes(4)
    const expected = referenceMask(data, key, 1, 0, data.length)
    expect(simdCalls(() => applyMask(data, key, 1))).to.equal(0)
    expect(data.equals(expected)).to.equal(true)
  })
})

describe('a FrameParser reading chunks in maskableBuffer memory', () => {
  /** A masked client frame (FIN set) of `opcode` carrying `payload`. */
  function clientFrame(opcode: number, payload: Buffer, key: Buffer): Buffer {
    const header = payload.length < 126 ? Buffer.from([0x80 | opcode, 0x80 | payload.length]) : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
    return Buffer.concat([header, key, referenceMask(payload, key, 0, 0, payload.length)])
  }

  /** Parses `wire` copied into scratch memory at `offset`, in chunks of `chunk` bytes. */
  function parse(wire: Buffer, offset: number, chunk: number): FrameRecorder {
    const recorder = new FrameRecorder()
    const parser = new FrameParser(recorder, { expectMasked: true, maxMessageSize: 1 << 20 })
    const view = scratch.subarray(offset, offset + wire.length)
    wire.copy(view)
    for (let at = 0; at < view.length && recorder.errors.length === 0; at += chunk) parser.push(view.subarray(at, Math.min(at + chunk, view.length)))
    return recorder
  }

  it('decodes ASCII and multi-byte UTF-8 texts and binary messages unmasked by the SIMD code', () => {
    const key = randomBytes(4)
    const ascii = 'a'.repeat(1000)
    const text = 'héllo wörld — 日本語 😀 '.repeat(40)
    const binary = randomBytes(3000)
    const wire = Buffer.concat([clientFrame(0x1, Buffer.from(ascii), key), clientFrame(0x1, Buffer.from(text), key), clientFrame(0x2, binary, key)])
    for (const chunk of [wire.length, 4096, 777]) {
      let recorder!: FrameRecorder
      const calls = simdCalls(() => (recorder = parse(wire, 7, chunk)))
      expect(recorder.errors, `chunk ${chunk}`).to.deep.equal([])
      expect(messages(recorder), `chunk ${chunk}`).to.deep.equal([ascii, text, binary])
      expect(calls, `chunk ${chunk}: SIMD calls`).to.be.greaterThan(0)
    }
  })

  it('closes with 1007 when a text that is ASCII but for one invalid byte is unmasked by the SIMD code', () => {
    const key = randomBytes(4)
    for (const at of [0, 15, 16, 63, 64, 500, 999]) {
      const payload = Buffer.alloc(1000, 0x61)
      payload[at] = 0xff
      const recorder = parse(clientFrame(0x1, payload, key), at % 16, 4096)
      expect(messages(recorder), `0xff at ${at}`).to.deep.equal([])
      expect(recorder.errors.map((e) => e.closeCode), `0xff at ${at}`).to.deep.equal([CloseCode.InvalidPayload])
    }
  })
})

import { randomFillSync } from 'node:crypto'

// Below this many bytes the byte loop beats setting up a word view.
const WORD_THRESHOLD = 32

// From this many bytes, a range inside maskableBuffer() memory is masked by the WebAssembly SIMD
// function instead of the byte or word loop: the call costs about 13 ns, as much as the byte
// loop spends on 8-12 bytes (bench/micro.ts --only=mask, bench/mask-instructions.ts).
const SIMD_THRESHOLD = 16

// A typed array reads words in the platform's byte order; the key word must match it.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

// The 64-bit word view of the last buffer masked (see maskRange). TurboFan keeps BigInt64Array
// elements XORed with a BigInt64 as plain 64-bit integers: half the loads and stores of a
// 32-bit loop, 1.6-2x its throughput from 125 bytes up (Node 20, bench/micro.ts).
let viewBuffer: ArrayBufferLike | null = null
let wordView: BigInt64Array<ArrayBufferLike> = new BigInt64Array(0)
// The last array masked and its byteOffset: the parser masks every frame of a socket read in
// the same chunk, and reading `.buffer` and `.byteOffset` costs more than a small frame's words.
let lastData: Uint8Array | null = null
let lastByteOffset = 0
let lastBuffer: ArrayBufferLike | null = null
/** Whether lastData is in the WebAssembly memory of the SIMD functions (see useSimdMask). */
let lastInSimd = false
// The SIMD functions and their memory, as maskable-buffer.ts started them (module variables:
// one load on the hot path, where a property of another module's object costs map checks).
let simdMemory: ArrayBufferLike | null = null
let simdMask: SimdMask = () => undefined
let simdMaskAscii: SimdMaskAscii = () => 0

/** WebAssembly SIMD masking of memory[p, p + n) with the rotated key word in memory (little-endian) order. */
export type SimdMask = (p: number, n: number, key: number) => void
/** SimdMask that returns non-zero when a resulting byte is not ASCII. */
export type SimdMaskAscii = (p: number, n: number, key: number) => number

/**
 * Internal (maskable-buffer.ts): arrays whose `buffer` is `memory` are masked by these functions
 * from SIMD_THRESHOLD bytes; null memory switches that off.
 */
export function useSimdMask(memory: ArrayBufferLike | null, mask: SimdMask, maskAscii: SimdMaskAscii): void {
  simdMemory = memory
  simdMask = mask
  simdMaskAscii = maskAscii
  // Forget the last array: whether it is in that memory is decided again.
  lastData = null
}
/** Views of larger buffers are not kept: they would keep a big message alive after it is sent. */
const MAX_CACHED_WORDS = (1024 * 1024) >>> 3
const NO_VIEW = new BigInt64Array(0)
// The key as a 64-bit word: its 32-bit word written twice and read back as one, which spares
// converting numbers to BigInts on every call.
const keyHalves = new Int32Array(2)
const keyWord64 = new BigInt64Array(keyHalves.buffer)
// 0x8080808080808080 (the top bit of every byte) as a signed 64-bit value, and zero, read from
// a BigInt64Array before the loop: TurboFan then holds them as plain 64-bit integers. Written
// as BigInt literals in the loop, each is loaded from its heap object and converted again on
// every iteration (no loop-invariant code motion): 1 KiB unmasked 20% slower.
const WORD_CONSTANTS = new BigInt64Array([-0x7f7f7f7f7f7f7f80n, 0n])

/**
 * XORs data[start, end) in place with the 4-byte masking key (RFC 6455 §5.3), starting at
 * key position `phase` (the number of payload bytes already masked, mod 4). Masking and
 * unmasking are the same operation. Works 8 bytes at a time on the aligned middle.
 */
export function applyMask(
  data: Uint8Array,
  key: Uint8Array,
  phase = 0,
  start = 0,
  end = data.length,
): void {
  maskRange(data, keyWord(key), phase, start, end, false)
}

/** The 4 key bytes as one 32-bit integer, key[0] in the top byte: how the parser keeps a key. */
export function keyWord(key: Uint8Array): number {
  return (key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]
}

/** applyMask with the key given as keyWord(key). */
export function applyMaskWord(data: Uint8Array, key: number, phase: number, start: number, end: number): void {
  maskRange(data, key, phase, start, end, false)
}

/**
 * applyMaskWord that also reports whether every unmasked byte is ASCII (below 0x80), in the
 * same pass: an ASCII payload is valid UTF-8 without a separate validation pass.
 */
export function unmaskAscii(data: Uint8Array, key: number, phase: number, start: number, end: number): boolean {
  return (maskRange(data, key, phase, start, end, true) & 0x80) === 0
}

/**
 * Masks data[start, end); with `collect`, returns a value whose 0x80 bits show whether any
 * resulting byte has its top bit set (the OR of the bytes, folded).
 */
function maskRange(data: Uint8Array, key: number, phase: number, start: number, end: number, collect: boolean): number {
  let i = start
  // Key rotated so that its top byte is the one for data[i].
  let rotated = rotate(key, phase & 3)
  let seen = 0
  if (end - start >= SIMD_THRESHOLD) {
    if (data !== lastData) {
      lastData = data
      lastByteOffset = data.byteOffset
      lastBuffer = data.buffer
      lastInSimd = lastBuffer === simdMemory
    }
    if (lastInSimd) {
      // In WebAssembly memory (maskableBuffer): 16 bytes per SIMD instruction, in place. The
      // key goes in memory order, which WebAssembly defines as little-endian.
      const simdKey = byteSwap(rotated)
      if (collect) return simdMaskAscii(lastByteOffset + start, end - start, simdKey) === 0 ? 0 : 0x80
      simdMask(lastByteOffset + start, end - start, simdKey)
      return 0
    }
    if (end - start >= WORD_THRESHOLD) {
      const byteOffset = lastByteOffset
      if (lastBuffer !== viewBuffer) {
        // One word view per ArrayBuffer, reused while the parser walks the frames of a chunk:
        // creating a typed array per frame costs more than masking a small payload.
        const buffer = lastBuffer as ArrayBufferLike
        viewBuffer = buffer
        wordView = new BigInt64Array(buffer, 0, buffer.byteLength >>> 3)
      }
      // Bytes until the address is 8-aligned, so a BigInt64Array can view the middle.
      const misalign = (byteOffset + i) & 7
      if (misalign !== 0) {
        for (let n = 8 - misalign; n > 0; n--) {
          seen |= data[i] ^= rotated >>> 24
          i++
          rotated = (rotated << 8) | (rotated >>> 24)
        }
      }
      const words = (end - i) >>> 3
      // The rotated key in the byte order the view reads, twice: 8 bytes are two key periods.
      const half = LITTLE_ENDIAN ? byteSwap(rotated) : rotated
      keyHalves[0] = half
      keyHalves[1] = half
      const word = keyWord64[0]
      const view = wordView
      let w = (byteOffset + i) >>> 3
      const last = w + words
      // Unrolled by 4 (32 bytes per iteration).
      const unrolledEnd = last - 3
      if (collect) {
        // No BigInt carried from one iteration to the next: TurboFan would box it (a heap
        // BigInt per iteration). Each group of four is tested on its own instead.
        let high = false
        const highBits = WORD_CONSTANTS[0]
        const zero = WORD_CONSTANTS[1]
        for (; w < unrolledEnd; w += 4) {
          const a = view[w] ^ word
          const b = view[w + 1] ^ word
          const c = view[w + 2] ^ word
          const d = view[w + 3] ^ word
          view[w] = a
          view[w + 1] = b
          view[w + 2] = c
          view[w + 3] = d
          if (((a | b | c | d) & highBits) !== zero) high = true
        }
        for (; w < last; w++) {
          const a = view[w] ^ word
          view[w] = a
          if ((a & highBits) !== zero) high = true
        }
        if (high) seen |= 0x80
      } else {
        for (; w < unrolledEnd; w += 4) {
          view[w] ^= word
          view[w + 1] ^= word
          view[w + 2] ^= word
          view[w + 3] ^= word
        }
        for (; w < last; w++) view[w] ^= word
      }
      i += words << 3
      if (view.length > MAX_CACHED_WORDS) {
        viewBuffer = null
        wordView = NO_VIEW
        lastData = null
        lastBuffer = null
      }
    }
  }
  for (; i < end; i++) {
    seen |= data[i] ^= rotated >>> 24
    rotated = (rotated << 8) | (rotated >>> 24)
  }
  return seen
}

/** The key word rotated left by `bytes` bytes (0-3). */
function rotate(key: number, bytes: number): number {
  return bytes === 0 ? key : (key << (bytes * 8)) | (key >>> (32 - bytes * 8))
}

function byteSwap(word: number): number {
  return ((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24)
}

const POOL_SIZE = 8192

/**
 * Masking keys from a pooled buffer of cryptographically random bytes (RFC 6455 §5.3 and
 * §10.3: keys must be unpredictable), refilled with `randomFillSync` when used up.
 */
export class MaskKeyPool {
  private pool = Buffer.allocUnsafe(0)
  private offset = POOL_SIZE

  /** A fresh 4-byte key. The returned view is never handed out again. */
  next(): Buffer {
    if (this.offset === POOL_SIZE) {
      // A new pool rather than a refill: keys handed out earlier stay valid.
      this.pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE))
      this.offset = 0
    }
    const key = this.pool.subarray(this.offset, this.offset + 4)
    this.offset += 4
    return key
  }
}

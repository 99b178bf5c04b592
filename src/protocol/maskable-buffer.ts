import { maskSimdBinary } from './mask-simd-binary'
import { useSimdMask, type SimdMask, type SimdMaskAscii } from './mask'

// The little of the WebAssembly JS API used here (the project's lib is ES2022, without DOM).
declare const WebAssembly:
  | undefined
  | {
      validate(bytes: Uint8Array): boolean
      Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer }
      Module: new (bytes: Uint8Array) => object
      Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> }
    }

/**
 * Bytes of the one WebAssembly memory maskableBuffer() hands out, for the life of the process:
 * 1 MiB. It is allocated once, with its maximum equal to its size, because growing a memory
 * detaches every view of it (every Buffer handed out). Pages never written stay unbacked.
 */
export const MASKABLE_MEMORY_SIZE = 16 * 64 * 1024

/** Buffers start at multiples of this, so that SIMD loads of a buffer's words never split a line. */
const ALIGNMENT = 64

/** The started module: its memory and its two exports (see mask-simd.wat). */
interface Started {
  readonly memory: ArrayBuffer
  /** data[p, p + n) ^= key, where key is the rotated key word in memory (little-endian) order. */
  readonly mask: SimdMask
  /** mask(), returning non-zero when a resulting byte is not ASCII. */
  readonly maskAscii: SimdMaskAscii
}

/** The started module: undefined before the first maskableBuffer(), null where it cannot run. */
let started: Started | null | undefined
let enabled = process.env.GATEWIRE_WASM_SIMD !== 'off'
let allocated = 0

/**
 * A Buffer of `size` bytes inside the WebAssembly memory that the SIMD unmasking works in
 * (applyMaskWord and unmaskAscii on a view of it run 128-bit SIMD code in place instead of the
 * JavaScript loop), or null when there is no such memory (WebAssembly SIMD is missing, or
 * `GATEWIRE_WASM_SIMD=off`) or it has fewer than `size` bytes left: callers then allocate an
 * ordinary Buffer.
 *
 * The memory is MASKABLE_MEMORY_SIZE (1 MiB) for the whole process and nothing is ever given
 * back: this is for a few long-lived process-wide buffers, such as a shared socket read buffer,
 * never per connection or per message. The contents start zeroed.
 *
 * @example
 * const readBuffer = maskableBuffer(64 * 1024) ?? Buffer.allocUnsafeSlow(64 * 1024)
 */
export function maskableBuffer(size: number): Buffer | null {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`maskableBuffer: size must be a positive integer, got ${String(size)}`)
  if (!enabled) return null
  const simd = start()
  if (simd === null) return null
  const at = Math.ceil(allocated / ALIGNMENT) * ALIGNMENT
  if (at + size > MASKABLE_MEMORY_SIZE) return null
  allocated = at + size
  return Buffer.from(simd.memory, at, size)
}

/**
 * Internal switch for tests and A/B measurements, like `GATEWIRE_WASM_SIMD=off` at start-up:
 * false makes mask.ts use its JavaScript loop on every buffer, those maskableBuffer() gave out
 * before included (they keep working as ordinary memory), and maskableBuffer() return null.
 */
export function setMaskSimdEnabled(on: boolean): void {
  enabled = on
  publish()
}

/** Whether masking of maskableBuffer() views runs the SIMD code (started and switched on). */
export function maskSimdActive(): boolean {
  return enabled && started != null
}

/** The started SIMD functions (for tests and benchmarks that call or count them), or null. */
export function maskSimdFunctions(): Started | null {
  return started ?? null
}

function publish(): void {
  if (started != null) useSimdMask(enabled ? started.memory : null, started.mask, started.maskAscii)
}

function start(): Started | null {
  if (started !== undefined) return started
  started = instantiate()
  publish()
  return started
}

/**
 * Validates the module first: WebAssembly.validate() is false where SIMD is missing (and
 * `WebAssembly` itself is undefined under `--jitless`). A memory that cannot be reserved
 * (address space limits) means no SIMD either, not a failure.
 */
function instantiate(): Started | null {
  if (typeof WebAssembly !== 'object' || WebAssembly === undefined) return null
  const bytes = Buffer.from(maskSimdBinary, 'base64')
  if (!WebAssembly.validate(bytes)) return null
  const pages = MASKABLE_MEMORY_SIZE / (64 * 1024)
  let memory: { readonly buffer: ArrayBuffer }
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages })
  } catch {
    return null
  }
  // A module that validated and fails to instantiate is a bug here: that throws.
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } })
  return {
    memory: memory.buffer,
    mask: instance.exports.mask as SimdMask,
    maskAscii: instance.exports.maskAscii as SimdMaskAscii,
  }
}

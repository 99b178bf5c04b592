import { isUtf8 } from 'node:buffer'

// Below this size a JS loop beats the native call's fixed cost.
const NATIVE_THRESHOLD = 64

/**
 * Incremental UTF-8 validator (RFC 3629): fed a message in pieces, it rejects the first piece
 * that makes the byte sequence invalid — it does not wait for the message to end — and
 * accepts characters split across pieces (and so across fragments).
 */
export class Utf8Validator {
  /** Continuation bytes still expected for the current character. */
  private need = 0
  /** Allowed range of the next continuation byte (narrower after E0, ED, F0, F4). */
  private lo = 0x80
  private hi = 0xbf

  /** Validates `data[start, end)`; false as soon as the bytes seen so far cannot be UTF-8. */
  push(data: Uint8Array, start = 0, end = data.length): boolean {
    let i = start
    // Finish a character left open by the previous piece.
    while (this.need !== 0 && i < end) {
      const b = data[i++]
      if (b < this.lo || b > this.hi) return false
      this.need--
      this.lo = 0x80
      this.hi = 0xbf
    }
    if (i >= end) return true
    if (end - i >= NATIVE_THRESHOLD) {
      // Hand the complete characters to the native validator, keep an open tail for the JS path.
      const tail = openTailStart(data, i, end)
      if (tail > i && !isUtf8(data.subarray(i, tail))) return false
      i = tail
    }
    return this.scan(data, i, end)
  }

  /** True when the bytes pushed so far end on a character boundary. */
  end(): boolean {
    return this.need === 0
  }

  reset(): void {
    this.need = 0
    this.lo = 0x80
    this.hi = 0xbf
  }

  private scan(data: Uint8Array, i: number, end: number): boolean {
    let need = this.need
    let lo = this.lo
    let hi = this.hi
    for (; i < end; i++) {
      const b = data[i]
      if (need === 0) {
        if (b < 0x80) continue
        if (b >= 0xc2 && b <= 0xdf) {
          need = 1
        } else if (b >= 0xe0 && b <= 0xef) {
          need = 2
          if (b === 0xe0) lo = 0xa0 // overlong
          else if (b === 0xed) hi = 0x9f // UTF-16 surrogates
        } else if (b >= 0xf0 && b <= 0xf4) {
          need = 3
          if (b === 0xf0) lo = 0x90 // overlong
          else if (b === 0xf4) hi = 0x8f // above U+10FFFF
        } else {
          return false
        }
      } else {
        if (b < lo || b > hi) return false
        need--
        lo = 0x80
        hi = 0xbf
      }
    }
    this.need = need
    this.lo = lo
    this.hi = hi
    return true
  }
}

/**
 * Index where an incomplete trailing character starts in data[start, end), or `end` when the
 * range ends on a boundary (or is invalid anyway, which the native check then reports).
 */
function openTailStart(data: Uint8Array, start: number, end: number): number {
  let i = end - 1
  const stop = Math.max(start, end - 4)
  while (i >= stop && (data[i] & 0xc0) === 0x80) i--
  if (i < stop) return end
  const b = data[i]
  const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
  return i + length > end ? i : end
}

/** Whole-buffer UTF-8 check. */
export function isValidUtf8(data: Uint8Array): boolean {
  return isUtf8(data)
}

import { expect } from 'chai'
import { isUtf8 } from 'node:buffer'
import { Utf8Validator, isValidUtf8 } from '../../src/protocol/utf8-validator'

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const COMPLETIONS: Buffer[] = (() => {
  // Any open character that is valid so far can be completed from these continuation bytes.
  const bytes = [0x80, 0x90, 0xa0]
  const out: Buffer[] = []
  for (const a of bytes) {
    out.push(Buffer.from([a]))
    for (const b of bytes) {
      out.push(Buffer.from([a, b]))
      for (const c of bytes) out.push(Buffer.from([a, b, c]))
    }
  }
  return out
})()

/** Reference: whether `prefix` can still become valid UTF-8 (is valid, or a valid text cut mid-character). */
function isValidPrefix(prefix: Buffer): boolean {
  if (isUtf8(prefix)) return true
  // Otherwise only an open character of 1–3 bytes at the end can save it.
  for (let open = 1; open <= 3 && open <= prefix.length; open++) {
    const tail = prefix.subarray(prefix.length - open)
    if (tail[0] < 0xc2 || tail[0] > 0xf4) continue
    if (!isUtf8(prefix.subarray(0, prefix.length - open))) continue
    if (COMPLETIONS.some((rest) => open + rest.length <= 4 && isUtf8(Buffer.concat([tail, rest])))) return true
  }
  return false
}

/**
 * Pushes `data` in the given pieces and checks, after each piece, that the validator says
 * "invalid" exactly when the bytes so far cannot be a UTF-8 prefix (fail fast, never early),
 * and at the end that it agrees with buffer.isUtf8.
 */
function checkPieces(data: Buffer, cuts: number[], label: string): void {
  const validator = new Utf8Validator()
  let from = 0
  for (const to of [...cuts, data.length]) {
    const ok = validator.push(data, from, to)
    const expected = isValidPrefix(data.subarray(0, to))
    if (ok !== expected) {
      expect(ok, `${label}: push of [${from}, ${to}) of ${data.toString('hex')}`).to.equal(expected)
    }
    if (!ok) return
    from = to
  }
  expect(validator.end(), `${label}: end() for ${data.toString('hex')}`).to.equal(isUtf8(data))
}

/** Whole, at every two-piece split, and byte by byte. */
function checkEverySplit(data: Buffer, label: string): void {
  checkPieces(data, [], `${label} whole`)
  for (let at = 0; at <= data.length; at++) checkPieces(data, [at], `${label} split at ${at}`)
  checkPieces(
    data,
    Array.from({ length: data.length }, (_, i) => i),
    `${label} byte by byte`,
  )
}

/** Mostly-UTF-8 text with occasional damage: the inputs where validators go wrong. */
function nearUtf8(next: () => number, maxChars: number): Buffer {
  const parts: Buffer[] = []
  const chars = Math.floor(next() * maxChars)
  for (let i = 0; i < chars; i++) {
    const r = next()
    let cp: number
    if (r < 0.4) cp = Math.floor(next() * 0x80)
    else if (r < 0.6) cp = 0x80 + Math.floor(next() * 0x780)
    else if (r < 0.8) cp = 0x800 + Math.floor(next() * 0xf800)
    else cp = 0x10000 + Math.floor(next() * 0x100000)
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd
    parts.push(Buffer.from(String.fromCodePoint(cp)))
  }
  const data = Buffer.concat(parts)
  const damage = next()
  if (data.length > 0 && damage < 0.3) {
    const edge = [0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90]
    data[Math.floor(next() * data.length)] = edge[Math.floor(next() * edge.length)]
  } else if (data.length > 0 && damage < 0.4) {
    return data.subarray(0, Math.floor(next() * data.length))
  }
  return data
}

describe('Utf8Validator', () => {
  it('accepts valid text in any pieces and agrees with buffer.isUtf8', () => {
    const value = Buffer.from('aé€😀\u0000\u{10ffff}\ud7ff\ue000')
    expect(isUtf8(value)).to.equal(true)
    checkEverySplit(value, 'mixed text')
  })

  const invalid: Record<string, string> = {
    'overlong 2-byte (C0 80)': 'c0 80',
    'overlong 2-byte (C1 BF)': 'c1 bf',
    'overlong 3-byte (E0 80 80)': 'e0 80 80',
    'overlong 3-byte (E0 9F BF)': 'e0 9f bf',
    'overlong 4-byte (F0 80 80 80)': 'f0 80 80 80',
    'overlong 4-byte (F0 8F BF BF)': 'f0 8f bf bf',
    'surrogate U+D800 (ED A0 80)': 'ed a0 80',
    'surrogate U+DFFF (ED BF BF)': 'ed bf bf',
    'U+110000 (F4 90 80 80)': 'f4 90 80 80',
    'lead F5': 'f5 80 80 80',
    'lead FF': 'ff',
    'lone continuation': '80',
    'missing continuation': 'c3 41',
    'truncated at the end': 'e2 82',
  }
  for (const [name, hex] of Object.entries(invalid)) {
    it(`rejects ${name} at the byte that makes it invalid, however it is split`, () => {
      const bad = Buffer.from(hex.replace(/ /g, ''), 'hex')
      checkEverySplit(Buffer.concat([Buffer.from('ab'), bad, Buffer.from('cd')]), name)
      // Long enough to take the native path for the complete characters.
      checkEverySplit(Buffer.concat([Buffer.alloc(70, 0x41), bad, Buffer.alloc(70, 0x42)]), `${name} (long)`)
      checkEverySplit(Buffer.concat([Buffer.from('é'.repeat(40)), bad]), `${name} (long, at the end)`)
    })
  }

  it('agrees with buffer.isUtf8 on every 1- and 2-byte sequence', () => {
    for (let a = 0; a < 256; a++) {
      checkPieces(Buffer.from([a]), [], `${a}`)
      for (let b = 0; b < 256; b++) {
        const data = Buffer.from([a, b])
        checkPieces(data, [], data.toString('hex'))
        checkPieces(data, [1], data.toString('hex'))
      }
    }
  })

  it('agrees with buffer.isUtf8 on 3- and 4-byte sequences around every boundary', () => {
    const second = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff]
    const rest = [0x41, 0x80, 0xbf, 0xc0]
    let checked = 0
    for (let lead = 0xc0; lead <= 0xff; lead++) {
      for (const b of second) {
        for (const c of rest) {
          checkPieces(Buffer.from([lead, b, c]), [], 'three')
          checkPieces(Buffer.from([lead, b, c]), [2], 'three split')
          for (const d of rest) {
            const data = Buffer.from([lead, b, c, d])
            checkPieces(data, [1, 3], data.toString('hex'))
            const long = Buffer.concat([Buffer.alloc(66, 0x61), data])
            checkPieces(long, [67], `long ${data.toString('hex')}`)
            checkPieces(long, [], `long ${data.toString('hex')}`)
            checked++
          }
        }
      }
    }
    expect(checked).to.equal(64 * second.length * rest.length * rest.length)
  })

  it('agrees with buffer.isUtf8 on random bytes split at every point', () => {
    const next = random(1)
    for (let n = 0; n < 150; n++) {
      const length = Math.floor(next() * 100)
      const data = Buffer.alloc(length)
      for (let i = 0; i < length; i++) data[i] = next() < 0.5 ? Math.floor(next() * 128) : Math.floor(next() * 256)
      checkEverySplit(data, `random #${n}`)
    }
  })

  it('agrees with buffer.isUtf8 on random damaged text split at every point', () => {
    const next = random(2)
    for (let n = 0; n < 150; n++) {
      checkEverySplit(nearUtf8(next, n < 100 ? 20 : 120), `near-UTF-8 #${n}`)
    }
  })

  it('agrees with buffer.isUtf8 on random damaged text in random pieces', () => {
    const next = random(3)
    for (let n = 0; n < 300; n++) {
      const data = nearUtf8(next, 300)
      const cuts: number[] = []
      let at = 0
      while (true) {
        at += 1 + Math.floor(next() * 100)
        if (at >= data.length) break
        cuts.push(at)
      }
      checkPieces(data, cuts, `random pieces #${n}`)
    }
  })

  it('validates only data[start, end)', () => {
    const data = Buffer.from('ff41c3a9ff', 'hex')
    const validator = new Utf8Validator()
    expect(validator.push(data, 1, 4)).to.equal(true)
    expect(validator.end()).to.equal(true)
    expect(validator.push(data, 4, 5)).to.equal(false)
  })

  it('reports an open character at end() and forgets it after reset()', () => {
    const validator = new Utf8Validator()
    expect(validator.push(Buffer.from('f09f', 'hex'))).to.equal(true)
    expect(validator.end()).to.equal(false)
    validator.reset()
    expect(validator.end()).to.equal(true)
    // The narrowed range of F0's second byte is gone too: 80 is a lone continuation now.
    expect(validator.push(Buffer.from('41', 'hex'))).to.equal(true)
    const again = new Utf8Validator()
    expect(again.push(Buffer.from('f0', 'hex'))).to.equal(true)
    again.reset()
    expect(again.push(Buffer.from('c3a9', 'hex'))).to.equal(true)
    expect(again.end()).to.equal(true)
  })

  it('accepts an empty piece in any state', () => {
    const validator = new Utf8Validator()
    expect(validator.push(Buffer.alloc(0))).to.equal(true)
    expect(validator.push(Buffer.from('e2', 'hex'))).to.equal(true)
    expect(validator.push(Buffer.alloc(0))).to.equal(true)
    expect(validator.push(Buffer.from('82ac', 'hex'))).to.equal(true)
    expect(validator.end()).to.equal(true)
  })
})

describe('isValidUtf8', () => {
  it('checks a whole buffer', () => {
    expect(isValidUtf8(Buffer.from('héllo €'))).to.equal(true)
    expect(isValidUtf8(Buffer.alloc(0))).to.equal(true)
    expect(isValidUtf8(Buffer.from('e282', 'hex'))).to.equal(false)
    expect(isValidUtf8(Buffer.from('eda080', 'hex'))).to.equal(false)
  })
})

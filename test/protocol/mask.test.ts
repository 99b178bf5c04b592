import { expect } from 'chai'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { MaskKeyPool, applyMask, applyMaskWord, keyWord, unmaskAscii } from '../../src/protocol/mask'

/** Byte-by-byte masking straight from RFC 6455 §5.3: j = i MOD 4, octet ^ key[j]. */
function referenceMask(data: Uint8Array, key: Uint8Array, phase: number, start: number, end: number): Uint8Array {
  const out = Uint8Array.from(data)
  for (let i = start; i < end; i++) out[i] = data[i] ^ key[(phase + i - start) % 4]
  return out
}

/** `length` pseudo-random bytes in a fresh ArrayBuffer, starting `offset` bytes into it. */
function dataAt(offset: number, length: number, seed: number): Uint8Array {
  const data = new Uint8Array(new ArrayBuffer(offset + length + 8), offset, length)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    data[i] = x >>> 24
  }
  return data
}

const KEYS = [
  Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]),
  Uint8Array.from([0xff, 0x00, 0x80, 0x01]),
  Uint8Array.from([0x00, 0x00, 0x00, 0x00]),
]

describe('applyMask', () => {
  it('masks "Hello" with key 37 fa 21 3d as in RFC 6455 §5.7', () => {
    const data = Buffer.from('Hello')
    applyMask(data, KEYS[0])
    expect(data.toString('hex')).to.equal('7f9f4d5158')
  })

  it('matches the byte-by-byte reference for every phase, alignment (mod 8) and length 0–200', () => {
    let checked = 0
    for (const key of KEYS) {
      for (let offset = 0; offset < 8; offset++) {
        for (let phase = 0; phase < 4; phase++) {
          for (let length = 0; length <= 200; length++) {
            const data = dataAt(offset, length, length + offset)
            const expected = referenceMask(data, key, phase, 0, length)
            applyMask(data, key, phase)
            if (!Buffer.from(data).equals(Buffer.from(expected))) {
              expect(Buffer.from(data).toString('hex'), `key ${key} offset ${offset} phase ${phase} length ${length}`).to.equal(
                Buffer.from(expected).toString('hex'),
              )
            }
            checked++
          }
        }
      }
    }
    expect(checked).to.equal(3 * 8 * 4 * 201)
  })

  it('matches the reference on large payloads (4 KiB, 64 KiB + 1, 1 MiB + 3)', () => {
    for (const length of [4096, 65537, (1 << 20) + 3]) {
      for (const offset of [0, 1, 3]) {
        const data = dataAt(offset, length, length)
        const expected = referenceMask(data, KEYS[1], offset, 0, length)
        applyMask(data, KEYS[1], offset)
        expect(Buffer.from(data).equals(Buffer.from(expected)), `length ${length} offset ${offset}`).to.equal(true)
      }
    }
  })

  it('masks only data[start, end) and leaves the rest untouched', () => {
    for (const [start, end] of [
      [0, 0],
      [3, 3],
      [1, 40],
      [5, 101],
      [7, 8],
      [13, 200],
    ]) {
      for (let phase = 0; phase < 4; phase++) {
        const data = dataAt(2, 200, start * 7 + end)
        const expected = referenceMask(data, KEYS[0], phase, start, end)
        applyMask(data, KEYS[0], phase, start, end)
        expect(Buffer.from(data).equals(Buffer.from(expected)), `[${start}, ${end}) phase ${phase}`).to.equal(true)
      }
    }
  })

  it('masks a Buffer view that sits at any offset of a pooled buffer', () => {
    const whole = Buffer.from(dataAt(0, 300, 99))
    for (let offset = 0; offset < 4; offset++) {
      const view = Buffer.from(whole).subarray(offset, offset + 150)
      const expected = referenceMask(view, KEYS[0], 0, 0, view.length)
      applyMask(view, KEYS[0])
      expect(Buffer.from(view).equals(Buffer.from(expected)), `offset ${offset}`).to.equal(true)
    }
  })

  it('gives the same result masked in pieces with a running phase as masked at once', () => {
    const original = dataAt(1, 1000, 5)
    const once = Uint8Array.from(original)
    applyMask(once, KEYS[0])
    for (const cuts of [
      [1, 2, 3],
      [7, 40, 41, 333],
      [31, 32, 64, 999],
    ]) {
      const pieces = Uint8Array.from(original)
      let from = 0
      for (const to of [...cuts, pieces.length]) {
        applyMask(pieces, KEYS[0], from, from, to)
        from = to
      }
      expect(Buffer.from(pieces).equals(Buffer.from(once)), `cuts ${cuts}`).to.equal(true)
    }
  })

  it('unmasks what it masked (masking is its own inverse)', () => {
    const original = Buffer.from(dataAt(3, 777, 11))
    const data = Buffer.from(original)
    applyMask(data, KEYS[1], 2)
    expect(data.equals(original)).to.equal(false)
    applyMask(data, KEYS[1], 2)
    expect(data.equals(original)).to.equal(true)
  })

  it('masks views of one buffer at different offsets, alternating, each at its own offset', () => {
    const backing = dataAt(0, 4096, 9)
    const views = [1, 2, 3, 4, 5].map((offset) => new Uint8Array(backing.buffer, backing.byteOffset + offset * 600, 500))
    for (let round = 0; round < 3; round++) {
      for (const [index, view] of views.entries()) {
        const expected = referenceMask(view, KEYS[index % 2], round, 10, 480)
        applyMask(view, KEYS[index % 2], round, 10, 480)
        expect(Buffer.from(view).equals(Buffer.from(expected)), `view ${index}, round ${round}`).to.equal(true)
      }
    }
  })

  it('does not keep a large buffer alive after masking it', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const masked = (): WeakRef<ArrayBuffer> => {
      const big = new Uint8Array(4 * 1024 * 1024)
      applyMask(big, KEYS[0], 0)
      return new WeakRef(big.buffer)
    }
    const ref = masked()
    // A WeakRef keeps its target for the rest of the job that created it.
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    expect(ref.deref()).to.equal(undefined)
  })

  it('does not modify the key', () => {
    const key = Uint8Array.from(KEYS[0])
    applyMask(dataAt(1, 100, 1), key, 3)
    expect(Array.from(key)).to.deep.equal(Array.from(KEYS[0]))
  })
})

describe('applyMaskWord', () => {
  it('masks like applyMask with the key given as keyWord(key)', () => {
    for (const key of KEYS) {
      for (let phase = 0; phase < 4; phase++) {
        for (const [offset, length] of [[0, 7], [1, 100], [3, 1000]]) {
          const a = dataAt(offset, length, phase + offset)
          const b = Uint8Array.from(a)
          applyMask(a, key, phase, 0, length)
          applyMaskWord(b, keyWord(key), phase, 0, length)
          expect(Buffer.from(b).equals(Buffer.from(a))).to.equal(true)
        }
      }
    }
  })
})

describe('unmaskAscii', () => {
  /** Masks `plain` with `key` (at `phase`), in a buffer placed `offset` bytes into its ArrayBuffer. */
  function masked(plain: Uint8Array, key: Uint8Array, phase: number, offset: number): Uint8Array {
    const data = new Uint8Array(new ArrayBuffer(offset + plain.length + 4), offset, plain.length)
    data.set(plain)
    applyMask(data, key, phase)
    return data
  }

  it('unmasks like applyMask and reports ASCII, for every alignment (mod 8), phase and length 0–300', () => {
    let checked = 0
    for (let offset = 0; offset < 8; offset++) {
      for (let phase = 0; phase < 4; phase++) {
        for (let length = 0; length <= 300; length += length < 80 ? 1 : 7) {
          const plain = Uint8Array.from({ length }, (_, i) => 0x20 + ((i * 7) % 0x5f))
          const data = masked(plain, KEYS[1], phase, offset)
          expect(unmaskAscii(data, keyWord(KEYS[1]), phase, 0, length)).to.equal(true)
          expect(Buffer.from(data).equals(Buffer.from(plain))).to.equal(true)
          checked++
        }
      }
    }
    expect(checked).to.be.greaterThan(1000)
  })

  it('reports a single non-ASCII byte wherever it is: head, unrolled words, word tail or byte tail', () => {
    for (let offset = 0; offset < 8; offset++) {
      for (const length of [1, 5, 31, 32, 33, 64, 100, 257]) {
        for (let at = 0; at < length; at++) {
          const plain = new Uint8Array(length).fill(0x61)
          plain[at] = 0x80 + (at % 0x80)
          const data = masked(plain, KEYS[0], at & 3, offset)
          expect(unmaskAscii(data, keyWord(KEYS[0]), at & 3, 0, length), `offset ${offset} length ${length} at ${at}`).to.equal(false)
          expect(Buffer.from(data).equals(Buffer.from(plain))).to.equal(true)
        }
      }
    }
  })

  it('only unmasks and judges the range given', () => {
    const plain = Uint8Array.from([0xff, 0x61, 0x62, 0x63, 0xff])
    const data = masked(plain, KEYS[0], 0, 0)
    const before = Uint8Array.from(data)
    expect(unmaskAscii(data, keyWord(KEYS[0]), 1, 1, 4)).to.equal(true)
    expect(Array.from(data.subarray(1, 4))).to.deep.equal([0x61, 0x62, 0x63])
    expect([data[0], data[4]]).to.deep.equal([before[0], before[4]])
  })
})

describe('MaskKeyPool', () => {
  it('returns 4-byte keys', () => {
    const pool = new MaskKeyPool()
    for (let i = 0; i < 10; i++) {
      const key = pool.next()
      expect(Buffer.isBuffer(key)).to.equal(true)
      expect(key.length).to.equal(4)
    }
  })

  it('returns keys that differ from one another', () => {
    const pool = new MaskKeyPool()
    const keys = new Set<string>()
    let previous = ''
    for (let i = 0; i < 5000; i++) {
      const key = pool.next().toString('hex')
      // Two equal consecutive random 32-bit keys: probability 2^-32 per pair.
      expect(key).to.not.equal(previous)
      previous = key
      keys.add(key)
    }
    // A few birthday collisions among 5000 random 32-bit keys are possible, many are not.
    expect(keys.size).to.be.greaterThan(4990)
  })

  it('keeps keys handed out earlier intact when the pool renews (more than 2048 keys)', () => {
    const pool = new MaskKeyPool()
    const keys: Buffer[] = []
    const copies: Buffer[] = []
    for (let i = 0; i < 5000; i++) {
      const key = pool.next()
      keys.push(key)
      copies.push(Buffer.from(key))
    }
    for (let i = 0; i < keys.length; i++) expect(keys[i].equals(copies[i]), `key ${i}`).to.equal(true)
  })

  it('hands out views that never overlap', () => {
    const pool = new MaskKeyPool()
    const first = pool.next()
    const second = pool.next()
    first.fill(0)
    const before = Buffer.from(second)
    first.fill(0xff)
    expect(second.equals(before)).to.equal(true)
  })

  it('draws keys from node:crypto, not Math.random', () => {
    const random = Math.random
    Math.random = () => 0
    try {
      const pool = new MaskKeyPool()
      const keys = new Set(Array.from({ length: 100 }, () => pool.next().toString('hex')))
      expect(keys.size).to.be.greaterThan(95)
    } finally {
      Math.random = random
    }
  })

  it('gives independent pools different keys', () => {
    const a = Buffer.concat(Array.from({ length: 8 }, () => new MaskKeyPool().next()))
    const b = Buffer.concat(Array.from({ length: 8 }, () => new MaskKeyPool().next()))
    expect(a.equals(b)).to.equal(false)
  })
})

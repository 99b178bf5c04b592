import { randomBytes } from 'node:crypto'
import { RawMessageCounter, WsMessageCounter, rawMessage, xorMask } from './lib/wire'

// The load generator's own codec checked before every run (a few milliseconds): if it
// miscounted echoes, every figure would be wrong in the same quiet way. Run alone with
// `node dist/bench/selftest.js`.

function serverFrame(opcode: number, length: number, fin = true): Buffer {
  const extended = length < 126 ? 0 : length <= 0xffff ? 2 : 8
  const frame = Buffer.alloc(2 + extended + length, 0x61)
  frame[0] = (fin ? 0x80 : 0) | opcode
  if (extended === 0) frame[1] = length
  else if (extended === 2) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  return frame
}

/** Returns the problems found; empty when the generator's codec is sound. */
export function selfTest(): string[] {
  const problems: string[] = []
  // Text, binary, a ping, a 64-bit length, an empty message, a fragmented message, 125 bytes.
  const stream = Buffer.concat([
    serverFrame(0x1, 16),
    serverFrame(0x2, 300),
    serverFrame(0x9, 3),
    serverFrame(0x2, 70_000),
    serverFrame(0x1, 0),
    serverFrame(0x2, 5, false),
    serverFrame(0x0, 7, true),
    serverFrame(0x1, 125),
  ])
  for (let step = 1; step <= 64; step++) {
    let pings = 0
    const counter = new WsMessageCounter({ expectOpcode: 0, expectLength: -1, onPing: () => pings++ })
    let messages = 0
    for (let i = 0; i < stream.length; i += step) messages += counter.push(stream.subarray(i, i + step))
    if (messages !== 6 || pings !== 1 || counter.unexpected !== 0) {
      problems.push(`ws counter, chunks of ${step} B: ${messages} messages, ${pings} pings, ${counter.unexpected} unexpected`)
    }
  }
  const raw = Buffer.concat([rawMessage(Buffer.alloc(16)), rawMessage(Buffer.alloc(0)), rawMessage(Buffer.alloc(70_000))])
  for (let step = 1; step <= 64; step++) {
    const counter = new RawMessageCounter(-1)
    let messages = 0
    for (let i = 0; i < raw.length; i += step) messages += counter.push(raw.subarray(i, i + step))
    if (messages !== 3) problems.push(`raw counter, chunks of ${step} B: ${messages} messages`)
  }
  const key = randomBytes(4)
  for (const [offset, length] of [
    [0, 3],
    [1, 64],
    [3, 1000],
    [2, 65_537],
  ]) {
    const data = randomBytes(offset + length).subarray(offset)
    const expected = Buffer.from(data)
    for (let i = 0; i < expected.length; i++) expected[i] ^= key[i & 3]
    xorMask(data, key)
    if (!data.equals(expected)) problems.push(`xorMask wrong at offset ${offset}, length ${length}`)
  }
  return problems
}

if (require.main === module) {
  const problems = selfTest()
  process.stdout.write(problems.length === 0 ? 'load generator codec: ok\n' : `${problems.join('\n')}\n`)
  process.exitCode = problems.length === 0 ? 0 : 1
}

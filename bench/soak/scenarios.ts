// The soak test's client behaviours. Each scenario runs one connection (or one HTTP exchange)
// against the soak server and says what it expected and what it observed.
import { randomBytes } from 'node:crypto'
import { connect, type Connection } from '../../src'
import { encodeFrame } from '../../src/protocol'
import { Deadline, httpExchange, maskKey, OP, RawPeer, sleep, upgradeRequest, type Ending } from './raw-peer'
import { SOAK_SERVER_OPTIONS as LIMITS } from './limits'

export interface Outcome {
  kind: string
  /** What RFC 6455 / the hardening issue requires, e.g. 'close 1002'; '|' separates accepted alternatives. */
  expected: string
  observed: string
  ok: boolean
  detail?: string
  /** Messages echoed back and verified byte for byte. */
  verified: number
  /** Milliseconds from the offending bytes to the server closing the connection (invalid traffic). */
  closeLatency?: number
  /** A figure worth reporting for the kind (flood-no-read: MiB the server took in). */
  metric?: number
  /** The client could not even connect (local port exhaustion, backlog overflow): not a server verdict. */
  infra?: boolean
}

export interface Context {
  port: number
}

export type Scenario = (ctx: Context) => Promise<Outcome>

const MiB = 1024 * 1024
/** A failed connection must be closed by the server within this many ms of the offending bytes. */
export const PROMPT_CLOSE_MS = LIMITS.closeTimeout + 1500
/** A slowloris client must be dropped within this many ms of connecting. */
export const SLOWLORIS_DROP_MS = LIMITS.handshakeTimeout + 1000 /* Node's check interval */ + 2500
/** A peer that never answers pings must be terminated within this many ms. */
export const SILENT_DROP_MS = 2 * LIMITS.heartbeatInterval + 1500

// ---------------------------------------------------------------- payloads

const BYTE_POOL = randomBytes(2 * MiB)
const TEXT_POOL = (() => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789 éßøñ€中文字ªº𝄞😀🚀'
  const chars = Array.from(alphabet)
  let out = ''
  while (out.length < 256 * 1024) out += chars[(Math.random() * chars.length) | 0]
  return Buffer.from(out)
})()

const random = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1))
const pick = <T>(items: readonly T[]): T => items[(Math.random() * items.length) | 0]

/** Message sizes: mostly small, some medium, a few large (all under the 1 MiB limit). */
function messageSize(): number {
  const r = Math.random()
  if (r < 0.6) return random(0, 256)
  if (r < 0.9) return random(257, 16 * 1024)
  if (r < 0.995) return random(16 * 1024, 128 * 1024)
  return random(128 * 1024, 900 * 1024)
}

function binaryPayload(size: number): Buffer {
  const at = random(0, BYTE_POOL.length - size)
  return BYTE_POOL.subarray(at, at + size)
}

/** Valid UTF-8 of about `size` bytes (cut on a character boundary). */
function textPayload(size: number): Buffer {
  const chunks: Buffer[] = []
  let length = 0
  while (length < size) {
    let at = random(0, TEXT_POOL.length - 1)
    while (at > 0 && (TEXT_POOL[at] & 0xc0) === 0x80) at--
    let end = Math.min(TEXT_POOL.length, at + (size - length))
    while (end < TEXT_POOL.length && (TEXT_POOL[end] & 0xc0) === 0x80) end++
    chunks.push(TEXT_POOL.subarray(at, end))
    length += end - at
  }
  return Buffer.concat(chunks, length)
}

/** Splits bytes at random points (even inside a UTF-8 character) into `count` pieces. */
function split(data: Buffer, count: number): Buffer[] {
  const cuts = new Set<number>()
  for (let i = 1; i < count && data.length > 0; i++) cuts.add(random(0, data.length))
  const points = [0, ...[...cuts].sort((a, b) => a - b), data.length]
  const pieces: Buffer[] = []
  for (let i = 0; i + 1 < points.length; i++) pieces.push(data.subarray(points[i], points[i + 1]))
  return pieces
}

// ---------------------------------------------------------------- helpers

function outcome(kind: string, expected: string, observed: string, extra: Partial<Outcome> = {}): Outcome {
  const ok = expected.split('|').includes(observed)
  return { kind, expected, observed, ok, verified: 0, ...extra }
}

function describe(ending: Ending | null): string {
  if (ending === null) return 'still open (no close)'
  if (ending.code !== null) return `close ${ending.code}`
  return ending.reset ? 'reset without close frame' : 'TCP close without close frame'
}

/** Errors before the WebSocket exists (connect / handshake): infra when the OS refused, else a finding. */
function setupFailure(kind: string, expected: string, error: unknown): Outcome {
  const code = (error as NodeJS.ErrnoException).code
  const message = error instanceof Error ? error.message : String(error)
  // The OS (not the server under test) refused: local ports, descriptors, a SYN that timed out.
  const infra =
    code === 'EADDRNOTAVAIL' || code === 'EMFILE' || code === 'ETIMEDOUT' || (error instanceof Deadline && message.startsWith('TCP connect'))
  return outcome(kind, expected, infra ? `connect failed (${code ?? message})` : `setup failed: ${message}`, {
    ok: false,
    infra,
    detail: message,
  })
}

async function open(kind: string, expected: string, port: number, path = '/'): Promise<RawPeer | Outcome> {
  try {
    return await RawPeer.open(port, path)
  } catch (error) {
    return setupFailure(kind, expected, error)
  }
}

/** Sends `data` as one message (or fragments) and checks the echo byte for byte. */
async function echo(peer: RawPeer, opcode: number, data: Buffer, fragments = 1, pingBetween = false): Promise<string | null> {
  if (fragments <= 1) {
    peer.frame(opcode, data)
  } else {
    const pieces = split(data, fragments)
    pieces.forEach((piece, i) => {
      peer.frame(i === 0 ? opcode : OP.cont, piece, { fin: i === pieces.length - 1 })
      if (pingBetween && i === 0) peer.frame(OP.ping, 'between fragments')
    })
  }
  const reply = await peer.next(10_000)
  if (reply.opcode !== opcode) return `echo has opcode ${reply.opcode}, sent ${opcode}`
  if (!reply.data.equals(data)) return `echo of ${data.length} bytes differs (got ${reply.data.length} bytes)`
  return null
}

/** Client-initiated clean close; the server must echo the code and close TCP. */
async function closeCleanly(peer: RawPeer, code = 1000, reason = ''): Promise<Ending | null> {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  peer.frame(OP.close, payload)
  peer.markFailure()
  return peer.ending(PROMPT_CLOSE_MS)
}

/** A valid session: run `body`, then close with `code`; any error is a mismatch. */
async function session(
  kind: string,
  port: number,
  path: string,
  body: (peer: RawPeer) => Promise<number>,
  code = 1000,
): Promise<Outcome> {
  const expected = `close ${code}`
  const peer = await open(kind, expected, port, path)
  if (!(peer instanceof RawPeer)) return peer
  let verified = 0
  try {
    verified = await body(peer)
    const ending = await closeCleanly(peer, code, code === 1000 ? '' : 'soak bye')
    const violations = peer.serverViolations.length > 0 ? peer.serverViolations.join('; ') : undefined
    const result = outcome(kind, expected, describe(ending), { verified, detail: violations })
    if (violations !== undefined) result.ok = false
    return result
  } catch (error) {
    return outcome(kind, expected, `error: ${(error as Error).message}`, { verified, ok: false })
  } finally {
    peer.destroy()
  }
}

/** Pause between a session's messages: most connections sit idle most of the time. */
const think = (): Promise<void> => sleep(random(100, 1500))

// ---------------------------------------------------------------- valid traffic

export const echoText: Scenario = ({ port }) =>
  session('echo-text', port, '/', async (peer) => {
    const count = random(1, 8)
    let verified = 0
    for (let i = 0; i < count; i++) {
      const failure = await echo(peer, OP.text, textPayload(messageSize()))
      if (failure !== null) throw new Error(failure)
      verified++
      await think()
    }
    return verified
  })

export const echoBinary: Scenario = ({ port }) =>
  session('echo-binary', port, Math.random() < 0.5 ? '/?stream=1' : '/', async (peer) => {
    const count = random(1, 8)
    let verified = 0
    // Half the time: pipeline every message, then read every echo.
    if (Math.random() < 0.5) {
      const sent = Array.from({ length: count }, () => binaryPayload(messageSize()))
      for (const data of sent) peer.frame(OP.binary, data)
      for (const data of sent) {
        const reply = await peer.next(10_000)
        if (reply.opcode !== OP.binary || !reply.data.equals(data)) throw new Error('pipelined echo differs')
        verified++
      }
      return verified
    }
    for (let i = 0; i < count; i++) {
      const failure = await echo(peer, OP.binary, binaryPayload(messageSize()))
      if (failure !== null) throw new Error(failure)
      verified++
      await think()
    }
    return verified
  })

export const fragmented: Scenario = ({ port }) =>
  session('fragmented', port, Math.random() < 0.3 ? '/?stream=1' : '/', async (peer) => {
    const count = random(1, 4)
    let verified = 0
    for (let i = 0; i < count; i++) {
      const text = Math.random() < 0.5
      const data = text ? textPayload(messageSize()) : binaryPayload(messageSize())
      const withPing = Math.random() < 0.5
      const failure = await echo(peer, text ? OP.text : OP.binary, data, random(2, 40), withPing)
      if (failure !== null) throw new Error(failure)
      if (withPing && !(await peer.pong(5000)).equals(Buffer.from('between fragments'))) {
        throw new Error('pong payload differs from the ping between fragments')
      }
      verified++
      await think()
    }
    return verified
  })

export const pings: Scenario = ({ port }) =>
  session(
    'ping',
    port,
    '/',
    async (peer) => {
      const count = random(1, 5)
      for (let i = 0; i < count; i++) {
        const payload = randomBytes(random(0, 125))
        peer.frame(OP.ping, payload)
        const pong = await peer.pong(5000)
        if (!pong.equals(payload)) throw new Error('pong payload differs from the ping')
        await think()
      }
      return 0
    },
    pick([1000, 1001, 3000, 4000, 4999]),
  )

export const serverClose: Scenario = async ({ port }) => {
  const kind = 'server-close'
  const code = pick([1000, 1001, 4000, 4321])
  const after = random(1, 4)
  const expected = `close ${code}`
  const peer = await open(kind, expected, port, `/?close=${after}&code=${code}`)
  if (!(peer instanceof RawPeer)) return peer
  let verified = 0
  try {
    for (let i = 0; i < after; i++) {
      const failure = await echo(peer, OP.text, textPayload(random(0, 2000)))
      if (failure !== null) throw new Error(failure)
      verified++
    }
    peer.markFailure()
    return outcome(kind, expected, describe(await peer.ending(PROMPT_CLOSE_MS)), { verified })
  } catch (error) {
    return outcome(kind, expected, `error: ${(error as Error).message}`, { verified, ok: false })
  } finally {
    peer.destroy()
  }
}

export const serverTerminate: Scenario = async ({ port }) => {
  const kind = 'server-terminate'
  const expected = 'TCP close without close frame|reset without close frame'
  const after = random(1, 3)
  const peer = await open(kind, expected, port, `/?terminate=${after}`)
  if (!(peer instanceof RawPeer)) return peer
  try {
    for (let i = 0; i < after - 1; i++) {
      const failure = await echo(peer, OP.binary, binaryPayload(random(0, 2000)))
      if (failure !== null) throw new Error(failure)
    }
    peer.frame(OP.binary, binaryPayload(100))
    peer.markFailure()
    return outcome(kind, expected, describe(await peer.ending(PROMPT_CLOSE_MS)), { verified: after - 1 })
  } catch (error) {
    return outcome(kind, expected, `error: ${(error as Error).message}`, { ok: false })
  } finally {
    peer.destroy()
  }
}

export const handlerThrows: Scenario = async ({ port }) => {
  const kind = 'handler-throws'
  const expected = 'close 1011'
  const peer = await open(kind, expected, port, '/?throw=1')
  if (!(peer instanceof RawPeer)) return peer
  try {
    peer.frame(pick([OP.text, OP.binary]), textPayload(random(0, 500)))
    peer.markFailure()
    const ending = await peer.ending(PROMPT_CLOSE_MS)
    return outcome(kind, expected, describe(ending), { closeLatency: ending?.elapsed })
  } finally {
    peer.destroy()
  }
}

/** The library's own client (`connect()`), echoing and closing, or closed by the server. */
export const gatewireClient: Scenario = async ({ port }) => {
  const kind = 'gatewire-client'
  const serverCloses = Math.random() < 0.25
  const expected = serverCloses ? 'close 4000' : 'close 1000'
  const messages = random(1, 6)
  const path = serverCloses ? `/?close=${messages}&code=4000` : '/'
  let connection: Connection
  try {
    connection = connect(`ws://127.0.0.1:${port}${path}`, { binaryMode: 'buffer', handshakeTimeout: 8000 })
  } catch (error) {
    return setupFailure(kind, expected, error)
  }
  const inbox: Array<string | Buffer> = []
  let closed: number | null = null
  let handshakeError: Error | null = null
  let wake: (() => void) | null = null
  const notify = (): void => {
    const w = wake
    wake = null
    w?.()
  }
  const until = async (test: () => boolean, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms
    while (!test()) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return true
  }
  connection.on('message', (data) => {
    inbox.push(data)
    notify()
  })
  connection.on('error', (error) => {
    if (connection.readyState === 0 || connection.readyState === 3) handshakeError = error
  })
  connection.on('close', (code) => {
    closed = code
    notify()
  })
  connection.on('connect', notify)
  let verified = 0
  try {
    if (!(await until(() => connection.readyState !== 0, 10_000))) throw new Error('connect() never opened')
    if (handshakeError !== null || connection.readyState !== 1) {
      const error = handshakeError as Error | null
      return setupFailure(kind, expected, error ?? new Error('closed during the handshake'))
    }
    for (let i = 0; i < messages; i++) {
      const data = Math.random() < 0.5 ? textPayload(messageSize()).toString() : Buffer.from(binaryPayload(messageSize()))
      connection.send(data)
      if (!(await until(() => inbox.length > 0 || closed !== null, 10_000)) || inbox.length === 0) {
        throw new Error(`no echo (close ${closed})`)
      }
      const reply = inbox.shift()!
      const same = typeof data === 'string' ? reply === data : Buffer.isBuffer(reply) && reply.equals(data)
      if (!same) throw new Error('echo differs')
      verified++
      await think()
    }
    if (!serverCloses) connection.close(1000)
    if (!(await until(() => closed !== null, PROMPT_CLOSE_MS))) return outcome(kind, expected, 'still open (no close)', { verified })
    return outcome(kind, expected, `close ${closed}`, { verified })
  } catch (error) {
    return outcome(kind, expected, `error: ${(error as Error).message}`, { verified, ok: false })
  } finally {
    connection.terminate()
  }
}

/** A handshake sent in eight pieces over ~0.8 s (under the 2 s handshake timeout): must succeed. */
export const slowHandshake: Scenario = async ({ port }) => {
  const kind = 'slow-handshake'
  const expected = 'close 1000'
  let peer: RawPeer
  try {
    peer = await RawPeer.open(port, '/', { dribbleMs: 100 })
  } catch (error) {
    const result = setupFailure(kind, expected, error)
    const sentIn = (error as { headSentInMs?: number }).headSentInMs
    if (sentIn !== undefined && sentIn > 800 + 400) {
      // Planned: the last piece 700 ms after connecting. Much later means this client was stalled.
      result.infra = true
      result.detail = `${result.detail} [this client needed ${sentIn} ms to send its head]`
    }
    return result
  }
  try {
    const failure = await echo(peer, OP.text, textPayload(random(1, 1000)))
    if (failure !== null) throw new Error(failure)
    return outcome(kind, expected, describe(await closeCleanly(peer)), { verified: 1 })
  } catch (error) {
    return outcome(kind, expected, `error: ${(error as Error).message}`, { ok: false })
  } finally {
    peer.destroy()
  }
}

/** Vanishing peers: FIN or RST in the middle of a frame, a fragmented message, a stream, a handshake. */
export const abruptReset: Scenario = async ({ port }) => {
  const kind = 'abrupt-reset'
  const variant = random(0, 4)
  const expected = 'client vanished'
  if (variant === 0) {
    // Mid-handshake: half a request head, then gone.
    try {
      const peer = await httpExchange(port, [upgradeRequest('/', port).slice(0, random(5, 80)), random(0, 50)], 10)
      void peer
    } catch (error) {
      return setupFailure(kind, expected, error)
    }
    return outcome(kind, expected, expected)
  }
  const peer = await open(kind, expected, port, variant === 3 ? '/?stream=1' : '/')
  if (!(peer instanceof RawPeer)) return peer
  const frame = Buffer.from(
    encodeFrame(OP.binary, binaryPayload(random(200, 70_000)), { maskKey: maskKey() }),
  )
  if (variant === 1) {
    peer.write(frame.subarray(0, random(1, 13))) // inside the header
  } else if (variant === 2) {
    peer.write(frame.subarray(0, random(14, frame.length - 1))) // inside the payload
  } else {
    // Inside a fragmented (or, with ?stream=1, streamed) message.
    peer.frame(OP.binary, binaryPayload(random(1, 30_000)), { fin: false })
    peer.frame(OP.cont, binaryPayload(random(1, 30_000)), { fin: false })
  }
  await sleep(random(0, 100))
  if (Math.random() < 0.5) peer.resetAndDestroy()
  else peer.destroy()
  return outcome(kind, expected, expected)
}

/** Reads but never answers pings: the heartbeat must terminate it. */
export const silentPeer: Scenario = async ({ port }) => {
  const kind = 'silent-peer'
  const expected = 'TCP close without close frame|reset without close frame'
  const peer = await open(kind, expected, port)
  if (!(peer instanceof RawPeer)) return peer
  peer.autoPong = false
  try {
    const ending = await peer.ending(SILENT_DROP_MS)
    const result = outcome(kind, expected, describe(ending), {
      detail: `${peer.pingsReceived} pings unanswered`,
      closeLatency: ending?.elapsed,
    })
    if (ending !== null && ending.elapsed > SILENT_DROP_MS) result.ok = false
    return result
  } finally {
    peer.destroy()
  }
}

/** Floods binary messages and never reads: the server must stop reading (bounded intake) or drop it. */
export const floodNoRead: Scenario = async ({ port }) => {
  const kind = 'flood-no-read'
  const expected = 'bounded intake'
  const peer = await open(kind, expected, port)
  if (!(peer instanceof RawPeer)) return peer
  peer.socket.pause() // never read: the server's echoes pile up in its buffers and in TCP
  peer.autoPong = false
  const message = Buffer.from(
    encodeFrame(OP.binary, binaryPayload(16 * 1024), { maskKey: maskKey() }),
  )
  const limitBytes = 64 * MiB
  const until = Date.now() + 4000
  try {
    while (Date.now() < until && !peer.socket.destroyed && peer.socket.bytesWritten < limitBytes) {
      if (!peer.write(message)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer)
            peer.socket.off('drain', done)
            resolve()
          }
          const timer = setTimeout(done, 250)
          peer.socket.once('drain', done)
        })
      }
    }
    // Bytes that left this process (the kernel took them); what the server read is at most this.
    const delivered = peer.socket.bytesWritten - peer.socket.writableLength
    const dropped = peer.socket.destroyed || peer.tcpClosed
    const bounded = delivered < 32 * MiB
    return outcome(kind, expected, bounded ? expected : 'unbounded intake', {
      metric: delivered / MiB,
      detail: `${(delivered / MiB).toFixed(1)} MiB delivered before ${dropped ? 'the server dropped it' : 'backpressure stalled it'}`,
    })
  } finally {
    peer.destroy()
  }
}

// ---------------------------------------------------------------- invalid traffic

/** Opens a connection, optionally sends valid traffic first, then `bad`; expects the server to fail it with `code`. */
async function violation(
  kind: string,
  code: number,
  port: number,
  bad: (peer: RawPeer) => void | Promise<void>,
  path = '/',
): Promise<Outcome> {
  const expected = `close ${code}`
  const peer = await open(kind, expected, port, path)
  if (!(peer instanceof RawPeer)) return peer
  try {
    let verified = 0
    if (Math.random() < 0.3) {
      const failure = await echo(peer, OP.text, textPayload(random(0, 300)))
      if (failure !== null) throw new Error(failure)
      verified++
    }
    peer.markFailure()
    await bad(peer)
    const ending = await peer.ending(PROMPT_CLOSE_MS)
    const result = outcome(kind, expected, describe(ending), { verified, closeLatency: ending?.elapsed })
    if (ending !== null && ending.elapsed > PROMPT_CLOSE_MS) {
      result.ok = false
      result.detail = `closed only after ${ending.elapsed} ms`
    }
    return result
  } catch (error) {
    return outcome(kind, expected, `error: ${(error as Error).message}`, { ok: false })
  } finally {
    peer.destroy()
  }
}

const BAD_UTF8 = [
  Buffer.from([0xff]),
  Buffer.from([0xc0, 0x80]), // overlong NUL
  Buffer.from([0xed, 0xa0, 0x80]), // UTF-16 surrogate
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
  Buffer.from([0xe2, 0x82]), // truncated at the end of the message
  Buffer.from([0x80]), // lone continuation byte
]

export const badUtf8: Scenario = ({ port }) =>
  violation('bad-utf8', 1007, port, (peer) => {
    const bad = Buffer.concat([textPayload(random(0, 200)), pick(BAD_UTF8)])
    if (Math.random() < 0.5) peer.frame(OP.text, bad)
    else {
      // Fragmented: the invalid bytes arrive in a later fragment.
      peer.frame(OP.text, textPayload(random(1, 100)), { fin: false })
      // A character cut at the end of a fragment may continue in the next: only invalid at the end.
      const truncated = bad[bad.length - 1] === 0x82 && bad[bad.length - 2] === 0xe2
      peer.frame(OP.cont, bad, { fin: truncated || Math.random() < 0.5 })
    }
  })

export const unmasked: Scenario = ({ port }) =>
  violation('unmasked', 1002, port, (peer) => {
    peer.frame(pick([OP.text, OP.binary, OP.ping]), textPayload(random(0, 100)), { mask: false })
  })

export const reservedOpcode: Scenario = ({ port }) =>
  violation('reserved-opcode', 1002, port, (peer) => {
    peer.frame(pick([0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]), randomBytes(random(0, 50)))
  })

export const rsvBits: Scenario = ({ port }) =>
  violation('rsv-bits', 1002, port, (peer) => {
    peer.frame(pick([OP.text, OP.binary, OP.ping]), 'x', { rsv: pick([0x40, 0x20, 0x10, 0x70]) })
  })

export const badCloseCode: Scenario = ({ port }) =>
  violation('bad-close-code', 1002, port, (peer) => {
    const variant = random(0, 2)
    if (variant === 0) {
      peer.frame(OP.close, Buffer.from([0x03])) // 1-byte close payload
      return
    }
    const code = pick([0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    const payload = Buffer.alloc(2)
    payload.writeUInt16BE(variant === 1 ? code : 1000, 0)
    // variant 2: a valid code with a reason that is not UTF-8 (RFC 6455 §5.5.1 / §8.1).
    peer.frame(OP.close, variant === 1 ? payload : Buffer.concat([payload, Buffer.from([0x61, 0xff])]))
  })

export const badControl: Scenario = ({ port }) =>
  violation('bad-framing', 1002, port, (peer) => {
    switch (random(0, 4)) {
      case 0:
        return void peer.frame(OP.ping, randomBytes(126)) // control payload over 125 bytes
      case 1:
        return void peer.frame(OP.ping, 'x', { fin: false }) // fragmented control frame
      case 2:
        return void peer.frame(OP.cont, 'orphan') // continuation without a message
      case 3:
        peer.frame(OP.text, 'first', { fin: false }) // new data frame inside a fragmented message
        return void peer.frame(OP.binary, 'second')
      default: {
        // 64-bit length with the most significant bit set (RFC 6455 §5.2).
        const header = Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4])
        return void peer.write(header)
      }
    }
  })

export const oversize: Scenario = ({ port }) =>
  violation(
    'oversize',
    1009,
    port,
    async (peer) => {
      const variant = random(0, 2)
      if (variant === 0) {
        // One frame announcing more than maxMessageSize (only the header and a few bytes are sent).
        const length = LIMITS.maxMessageSize + random(1, 8 * MiB)
        const header = Buffer.alloc(14)
        header[0] = 0x80 | pick([OP.text, OP.binary])
        header[1] = 0x80 | 127
        header.writeUInt32BE(0, 2)
        header.writeUInt32BE(length, 6)
        maskKey().copy(header, 10)
        peer.write(Buffer.concat([header, randomBytes(random(0, 1000))]))
        return
      }
      // Fragments past a limit: 64 KiB ones pass maxMessageSize with their payload; a flood of
      // 1-byte fragments passes the fragment budget (64 per fragment after the first, against
      // maxMessageSize: 16k of them at 1 MiB).
      const size = variant === 1 ? 64 * 1024 : 1
      peer.frame(OP.binary, binaryPayload(size), { fin: false })
      // As the server counts: the offending bytes are those of the fragment that takes the
      // message past either limit.
      let payload = size
      let fragmentCost = 0
      let marked = false
      const batch: Buffer[] = []
      for (let sent = 0; sent < 20 * MiB && peer.closeFrame === null && !peer.tcpClosed; ) {
        batch.length = 0
        for (let i = 0; i < (size === 1 ? 2000 : 4); i++) {
          batch.push(encodeFrame(OP.cont, binaryPayload(size), { fin: false, maskKey: maskKey() }))
          sent += size
          payload += size
          fragmentCost += 64
        }
        if (!marked && (payload > LIMITS.maxMessageSize || fragmentCost > Math.max(LIMITS.maxMessageSize, 64 * 1024))) {
          marked = true
          peer.markFailure()
        }
        if (!peer.write(Buffer.concat(batch))) await new Promise((resolve) => setTimeout(resolve, 5))
        await new Promise((resolve) => setImmediate(resolve))
      }
    },
    Math.random() < 0.3 ? '/?stream=1' : '/',
  )

// ---------------------------------------------------------------- invalid handshakes

async function http(kind: string, expected: string, port: number, chunks: Array<string | Buffer | number>, timeoutMs = 5000): Promise<Outcome> {
  try {
    const result = await httpExchange(port, chunks, timeoutMs)
    const observed = result.status !== null ? `http ${result.status}` : result.closed ? 'closed without a response' : 'no response'
    return outcome(kind, expected, observed, { closeLatency: result.elapsed })
  } catch (error) {
    return setupFailure(kind, expected, error)
  }
}

export const garbageHttp: Scenario = ({ port }) => {
  const variants: Array<Array<string | Buffer>> = [
    [Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), randomBytes(random(10, 300)), Buffer.from('\r\n\r\n')])], // TLS-ish bytes
    ['GET / HTTP/1.1\r\nHost 127.0.0.1\r\nUpgrade: websocket\r\n\r\n'], // header without a colon
    ['GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n'], // no key
    ['POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'],
    ['GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n'],
  ]
  return http('garbage-http', 'http 400', port, pick(variants))
}

export const http10Upgrade: Scenario = ({ port }) =>
  http('http1.0-upgrade', 'http 400|http 426', port, [
    'GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  ])

export const badVersion: Scenario = ({ port }) =>
  http('bad-version', 'http 426', port, [
    `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${pick(['8', '12', '14', 'x'])}\r\n\r\n`,
  ])

export const hugeHeaders: Scenario = ({ port }) =>
  http('huge-headers', 'http 431', port, [
    `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Big: ${'a'.repeat(20_000 + random(0, 10_000))}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ])

/** Slowloris: a request head that never ends (a header line every 300 ms), or no bytes at all. */
export const slowloris: Scenario = async ({ port }) => {
  const kind = 'slowloris'
  const expected = 'dropped'
  const silent = Math.random() < 0.25
  const chunks: Array<string | number> = silent ? [] : ['GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n']
  if (!silent) for (let i = 0; i < 30; i++) chunks.push(300, `X-Slow-${i}: ${i}\r\n`)
  try {
    const result = await httpExchange(port, chunks, SLOWLORIS_DROP_MS + 2000)
    const dropped = result.closed && result.elapsed <= SLOWLORIS_DROP_MS
    return outcome(kind, expected, dropped ? 'dropped' : result.closed ? `dropped late (${result.elapsed} ms)` : 'never dropped', {
      closeLatency: result.elapsed,
      detail: `${silent ? 'silent' : 'dribbling'}; answer ${result.status ?? 'none'}`,
    })
  } catch (error) {
    return setupFailure(kind, expected, error)
  }
}
export { sleep as sleepFor } from './raw-peer'

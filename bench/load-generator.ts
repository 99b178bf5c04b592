import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { connectSharedRead } from './lib/shared-read'
import { clockTicks, cpuBusyTicks, ownCpuSeconds, processCpuSeconds, processIo, processMinorFaults, processStatusKiB, tcpCounters, type ProcessIo, type TcpCounters } from './lib/proc'
import {
  OP_BINARY,
  OP_PONG,
  OP_TEXT,
  RawMessageCounter,
  WsMessageCounter,
  maskedFrame,
  rawMessage,
  wsHandshake,
  type MessageCounter,
} from './lib/wire'

// The load generator: one process, the same for every server. It speaks just enough of
// RFC 6455 (or of the raw length-prefixed protocol) to drive an echo server, builds its
// masked frames once, and counts echoes by reading headers only. It reads the server's CPU
// time from /proc around the measurement window so results can be given per server
// CPU-second, and reports its own CPU next to it. The last stdout line is `RESULT <json>`.

export type Protocol = 'ws' | 'raw'
export type Mode = 'throughput' | 'latency' | 'large' | 'idle'

export interface ThroughputResult {
  mode: 'throughput' | 'latency'
  messages: number
  seconds: number
  messagesPerSecond: number
  serverCpuSeconds: number
  generatorCpuSeconds: number
  /** Kernel share of the generator's CPU (loopback TCP work is charged to the sending side). */
  generatorSystemSeconds: number
  messagesPerServerCpuSecond: number
  /**
   * CPU time other processes took during the window, in seconds: on the server's core (busy
   * time of that core minus the server's own) and on the generator's core, when pinned;
   * otherwise on the whole machine. The noise indicator of the run.
   */
  othersCpuSeconds: { serverCore?: number; generatorCore?: number; machine: number }
  unexpected: number
  /**
   * The server's and the generator's read/write syscalls and bytes over the window, from
   * /proc/<pid>/io (socket reads and writes go through read/write/writev): bytes per read
   * shows how large the batches each side gets are.
   */
  serverIo?: ProcessIo
  generatorIo?: ProcessIo
  /**
   * TCP events over the window, whole network namespace (other traffic included): zero-window
   * advertisements and retransmitted segments. Both should be ~0 on loopback; when a receive
   * buffer fills, the stalled data is later sent from inside the peer's read or ack processing,
   * so its cost is charged to the wrong process.
   */
  tcp?: TcpCounters
  /** The server's minor page faults over the window (a heap that keeps shrinking and growing back). */
  serverMinorFaults?: number
  latencyMs?: { p50: number; p90: number; p99: number; p999: number; max: number; samples: number }
}
export interface LargeResult {
  mode: 'large'
  bytes: number
  seconds: number
  serverCpuSeconds: number
  rssBeforeKiB: number | undefined
  peakRssKiB: number | undefined
  unexpected: number
}
/** The server's process.memoryUsage() in bytes, as its gc-hook wrote it. */
export interface MemoryUsage {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
}
export interface IdleResult {
  mode: 'idle'
  connections: number
  rssBeforeKiB: number
  rssAfterKiB: number
  kibPerConnection: number
  /** JS heap in use, per connection (KiB), when the server reported its memory usage. */
  heapKiBPerConnection?: number
  /** Memory outside the JS heap tracked by V8 (Buffers etc.), per connection (KiB). */
  externalKiBPerConnection?: number
  /**
   * The same, read again `settledMs` after the last connection opened (--settled): by then V8
   * has given back the young generation it grew while the connections were being opened.
   */
  settledMs?: number
  rssSettledKiB?: number
  kibPerConnectionSettled?: number
  heapKiBPerConnectionSettled?: number
  gc: boolean
  openAtEnd: number
}
export type GeneratorResult = ThroughputResult | LargeResult | IdleResult
export interface GeneratorFailure {
  mode: Mode
  error: string
}

const HOST = '127.0.0.1'

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'throughput' },
    protocol: { type: 'string', default: 'ws' },
    port: { type: 'string' },
    path: { type: 'string', default: '/' },
    'server-pid': { type: 'string' },
    connections: { type: 'string', default: '1' },
    size: { type: 'string', default: '16' },
    kind: { type: 'string', default: 'text' },
    window: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '1' },
    duration: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '60' },
    'gc-signal': { type: 'boolean', default: false },
    'open-concurrency': { type: 'string', default: '200' },
    interval: { type: 'string', default: '0' },
    settle: { type: 'string', default: '1000' },
    settled: { type: 'string', default: '0' },
    'memory-file': { type: 'string' },
    'server-core': { type: 'string' },
    'generator-core': { type: 'string' },
  },
  strict: true,
})

function num(name: keyof typeof values): number {
  const value = Number(values[name])
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number (got ${String(values[name])})`)
  return value
}

const mode = values.mode as Mode
const protocol = values.protocol as Protocol
const port = num('port')
const serverPid = num('server-pid')
const sockets = new Set<Socket>()

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function emit(result: GeneratorResult | GeneratorFailure): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
}

function closeAll(): void {
  for (const socket of sockets) socket.destroy()
  sockets.clear()
}

/**
 * Every socket reads into this one buffer (net's `onread` option) instead of the per-read
 * allocation of a plain 'data' listener. That allocation costs Node 20, per read, a 64 KiB
 * malloc, a zero-filled buffer of the bytes read plus a copy into it, and the page faults of
 * the heap growing and shrinking under ~1 GB/s of short-lived buffers; in the generator that
 * was a third of its CPU and varied from run to run. Reads are handled synchronously, one at a
 * time, and the counters keep no reference to a chunk, so one buffer serves every connection.
 * 1 MiB: a read takes whatever a connection has queued (the echo servers keep Node's default).
 */
const READ_BUFFER = Buffer.allocUnsafe(1024 * 1024)
READ_BUFFER.fill(0) // touch its pages once, here, not during a measurement

/** Opens a TCP connection (and performs the WebSocket handshake for `ws`). */
async function open(onFirstBytes: (rest: Buffer, socket: Socket) => void, onData: (chunk: Buffer) => void): Promise<Socket> {
  const { socket, deliverTo } = await connectSharedRead(HOST, port, READ_BUFFER)
  sockets.add(socket)
  socket.on('close', () => sockets.delete(socket))
  const rest = protocol === 'ws' ? await wsHandshake(socket, HOST, port, values.path ?? '/', 10_000) : Buffer.alloc(0)
  socket.on('error', () => undefined)
  onFirstBytes(rest, socket)
  deliverTo(onData)
  if (rest.length > 0) onData(rest)
  return socket
}

function payloadFor(size: number): Buffer {
  // Printable ASCII: valid UTF-8 for text messages, and not all zeros for binary ones.
  const payload = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) payload[i] = 0x61 + (i % 26)
  return payload
}

function oneMessage(size: number, kind: string): Buffer {
  const payload = payloadFor(size)
  return protocol === 'ws' ? maskedFrame(kind === 'text' ? OP_TEXT : OP_BINARY, payload) : rawMessage(payload)
}

function newCounter(expectLength: number, expectOpcode: number, socket?: () => Socket | undefined): MessageCounter {
  if (protocol === 'raw') return new RawMessageCounter(expectLength)
  return new WsMessageCounter({
    expectOpcode,
    expectLength,
    onPing: (payload) => socket?.()?.write(maskedFrame(OP_PONG, payload)),
  })
}

function ioDelta(a: ProcessIo | undefined, b: ProcessIo | undefined): ProcessIo | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a.reads) || !Number.isFinite(b.reads)) return undefined
  return { reads: b.reads - a.reads, writes: b.writes - a.writes, readBytes: b.readBytes - a.readBytes, writtenBytes: b.writtenBytes - a.writtenBytes }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]
}

/** Pipelined echo (window W per connection) or ping-pong latency (window 1, RTT recorded). */
async function throughput(latency: boolean): Promise<ThroughputResult> {
  const connections = num('connections')
  const size = num('size')
  const kind = values.kind ?? 'text'
  const window = latency ? 1 : Math.max(1, num('window'))
  // Latency mode: 0 = send the next message as soon as the echo is back (closed loop, as fast
  // as both sides go); > 0 = one message per connection every `interval` ms (a fixed rate).
  const interval = latency ? num('interval') : 0
  const one = oneMessage(size, kind)
  const frameLength = one.length
  // The whole window pre-built once: a batch of n echoes is answered with one write of n frames.
  const batch = Buffer.allocUnsafe(frameLength * window)
  for (let i = 0; i < window; i++) one.copy(batch, i * frameLength)
  const expectOpcode = kind === 'text' ? OP_TEXT : OP_BINARY

  let total = 0
  /** Messages sent and not yet echoed, across connections. */
  let inFlight = 0
  let running = true
  let measuring = false
  const rtts: number[] = []
  const counters: MessageCounter[] = []
  const sentAt: bigint[] = []

  const opened = await Promise.all(
    Array.from({ length: connections }, (_, index) => {
      let self: Socket | undefined
      const counter = newCounter(size, expectOpcode, () => self)
      counters.push(counter)
      sentAt.push(0n)
      const onData = (chunk: Buffer): void => {
        const n = counter.push(chunk)
        if (n === 0) return
        total += n
        inFlight -= n
        if (!running || self === undefined) return
        inFlight += n
        if (latency) {
          const now = process.hrtime.bigint()
          const rtt = Number(now - sentAt[index]) / 1e6
          if (measuring) rtts.push(rtt)
          if (interval > 0) {
            const socket = self
            setTimeout(() => {
              if (!running) return
              sentAt[index] = process.hrtime.bigint()
              socket.write(one)
            }, Math.max(0, interval - rtt))
          } else {
            sentAt[index] = now
            self.write(one)
          }
        } else {
          let left = n
          while (left > 0) {
            const k = Math.min(left, window)
            self.write(k === window ? batch : batch.subarray(0, k * frameLength))
            left -= k
          }
        }
      }
      return open((_rest, socket) => {
        self = socket
      }, onData)
    }),
  )
  // Start all connections only once every one is open (paced ones spread over the interval).
  for (let i = 0; i < opened.length; i++) {
    const socket = opened[i]
    const start = (): void => {
      sentAt[i] = process.hrtime.bigint()
      inFlight += window
      socket.write(latency ? one : batch)
    }
    if (interval > 0) setTimeout(start, (interval * i) / opened.length)
    else start()
  }

  await sleep(num('warmup') * 1000)
  measuring = true
  const t0 = process.hrtime.bigint()
  const m0 = total
  const s0 = processCpuSeconds(serverPid)
  const g0 = ownCpuSeconds()
  const k0 = process.cpuUsage().system
  const c0 = cpuBusyTicks()
  const sio0 = processIo(serverPid)
  const gio0 = processIo(process.pid)
  const tcp0 = tcpCounters()
  const f0 = processMinorFaults(serverPid)
  await sleep(num('duration') * 1000)
  const f1 = processMinorFaults(serverPid)
  const tcp1 = tcpCounters()
  const sio1 = processIo(serverPid)
  const gio1 = processIo(process.pid)
  const t1 = process.hrtime.bigint()
  const m1 = total
  const s1 = processCpuSeconds(serverPid)
  const g1 = ownCpuSeconds()
  const k1 = process.cpuUsage().system
  const c1 = cpuBusyTicks()
  measuring = false
  running = false
  if (sockets.size < connections) throw new Error(`${connections - sockets.size} connection(s) closed during the run`)
  // Let the echoes in flight come back, then close with FIN: a server is not left writing into
  // reset sockets (which costs it an error per pending write and clutters its CPU profile).
  for (let waited = 0; inFlight > 0 && waited < 2000; waited += 10) await sleep(10)
  for (const socket of sockets) socket.end()
  await sleep(50)
  closeAll()

  const seconds = Number(t1 - t0) / 1e9
  const messages = m1 - m0
  const serverCpuSeconds = s1 - s0
  const busy = (name: string): number => ((c1.get(name) ?? 0) - (c0.get(name) ?? 0)) / clockTicks()
  const serverCore = values['server-core']
  const generatorCore = values['generator-core']
  const othersCpuSeconds: ThroughputResult['othersCpuSeconds'] = {
    machine: Math.max(0, busy('cpu') - serverCpuSeconds - (g1 - g0)),
  }
  if (serverCore !== undefined) othersCpuSeconds.serverCore = Math.max(0, busy(`cpu${serverCore}`) - serverCpuSeconds)
  if (generatorCore !== undefined) othersCpuSeconds.generatorCore = Math.max(0, busy(`cpu${generatorCore}`) - (g1 - g0))
  const result: ThroughputResult = {
    mode: latency ? 'latency' : 'throughput',
    messages,
    seconds,
    messagesPerSecond: messages / seconds,
    serverCpuSeconds,
    generatorCpuSeconds: g1 - g0,
    generatorSystemSeconds: (k1 - k0) / 1e6,
    messagesPerServerCpuSecond: serverCpuSeconds > 0 ? messages / serverCpuSeconds : Number.NaN,
    othersCpuSeconds,
    unexpected: counters.reduce((sum, c) => sum + c.unexpected, 0),
  }
  const serverIo = ioDelta(sio0, sio1)
  const generatorIo = ioDelta(gio0, gio1)
  if (serverIo !== undefined) result.serverIo = serverIo
  if (generatorIo !== undefined) result.generatorIo = generatorIo
  if (Number.isFinite(f1 - f0)) result.serverMinorFaults = f1 - f0
  if (tcp0 !== undefined && tcp1 !== undefined) {
    result.tcp = {
      zeroWindowAdvertised: tcp1.zeroWindowAdvertised - tcp0.zeroWindowAdvertised,
      retransmittedSegments: tcp1.retransmittedSegments - tcp0.retransmittedSegments,
    }
  }
  if (latency) {
    const sorted = Float64Array.from(rtts).sort()
    result.latencyMs = {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted.length > 0 ? sorted[sorted.length - 1] : Number.NaN,
      samples: sorted.length,
    }
  }
  if (messages === 0) throw new Error('no echoes received in the measurement window')
  return result
}

/** One large binary message: time until the whole echo is back, and the server's peak RSS. */
async function large(): Promise<LargeResult> {
  const size = num('size')
  const frame = oneMessage(size, 'binary')
  let done: (() => void) | undefined
  let failed: ((error: Error) => void) | undefined
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve
    failed = reject
  })
  let self: Socket | undefined
  const counter =
    protocol === 'raw'
      ? new RawMessageCounter(size)
      : new WsMessageCounter({
          expectOpcode: OP_BINARY,
          expectLength: size,
          onPing: (payload) => self?.write(maskedFrame(OP_PONG, payload)),
          onClose: (code) => failed?.(new Error(`server closed the connection with ${code}`)),
        })
  await open(
    (_rest, socket) => {
      self = socket
      socket.on('close', () => failed?.(new Error('connection closed before the echo completed')))
    },
    (chunk) => {
      if (counter.push(chunk) > 0) done?.()
    },
  )
  if (self === undefined) throw new Error('no socket')
  await sleep(200)
  const rssBeforeKiB = processStatusKiB(serverPid, 'VmRSS')
  const s0 = processCpuSeconds(serverPid)
  const t0 = process.hrtime.bigint()
  self.write(frame)
  const timeout = setTimeout(() => failed?.(new Error(`echo not complete after ${values.timeout} s (${counter.partialBytes} bytes back)`)), num('timeout') * 1000)
  try {
    await finished
  } finally {
    clearTimeout(timeout)
  }
  const t1 = process.hrtime.bigint()
  const s1 = processCpuSeconds(serverPid)
  const peakRssKiB = processStatusKiB(serverPid, 'VmHWM')
  closeAll()
  return {
    mode: 'large',
    bytes: size,
    seconds: Number(t1 - t0) / 1e9,
    serverCpuSeconds: s1 - s0,
    rssBeforeKiB,
    peakRssKiB,
    unexpected: counter.unexpected,
  }
}

/** N idle connections: the server's RSS growth per connection (after a GC when available). */
async function idle(): Promise<IdleResult> {
  const connections = num('connections')
  const concurrency = Math.max(1, num('open-concurrency'))
  const gc = values['gc-signal'] === true
  const settleMs = num('settle')
  const settledMs = num('settled')
  const settle = async (waitMs = settleMs): Promise<number> => {
    await sleep(waitMs)
    if (gc) {
      process.kill(serverPid, 'SIGUSR2')
      await sleep(Math.max(300, settleMs * 0.7))
    }
    const rss = processStatusKiB(serverPid, 'VmRSS')
    if (rss === undefined) throw new Error('server process is gone')
    return rss
  }
  const memoryFile = values['memory-file']
  const readMemory = (): MemoryUsage | undefined => {
    if (memoryFile === undefined) return undefined
    try {
      return JSON.parse(readFileSync(memoryFile, 'utf8')) as MemoryUsage
    } catch {
      return undefined
    }
  }
  const rssBeforeKiB = await settle()
  const memoryBefore = readMemory()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < connections) {
      next++
      let self: Socket | undefined
      const counter = newCounter(-1, 0, () => self)
      await open(
        (_rest, socket) => {
          self = socket
        },
        (chunk) => counter.push(chunk),
      )
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const openedAt = Date.now()
  const rssAfterKiB = await settle()
  const memoryAfter = readMemory()
  // The later reading: V8 shrinks its young generation only once its allocation rate, averaged
  // over several seconds, has dropped, so an RSS read a second after a burst of connections
  // still holds the (empty) young generation the burst grew.
  let settled: Pick<IdleResult, 'settledMs' | 'rssSettledKiB' | 'kibPerConnectionSettled' | 'heapKiBPerConnectionSettled'> = {}
  if (settledMs > 0) {
    const rssSettledKiB = await settle(Math.max(0, settledMs - (Date.now() - openedAt)))
    const memorySettled = readMemory()
    settled = {
      settledMs,
      rssSettledKiB,
      kibPerConnectionSettled: (rssSettledKiB - rssBeforeKiB) / connections,
      ...(memoryBefore !== undefined && memorySettled !== undefined
        ? { heapKiBPerConnectionSettled: (memorySettled.heapUsed - memoryBefore.heapUsed) / 1024 / connections }
        : {}),
    }
  }
  const openAtEnd = sockets.size
  closeAll()
  if (openAtEnd < connections) throw new Error(`only ${openAtEnd} of ${connections} connections still open`)
  return {
    mode: 'idle',
    connections,
    rssBeforeKiB,
    rssAfterKiB,
    kibPerConnection: (rssAfterKiB - rssBeforeKiB) / connections,
    ...(memoryBefore !== undefined && memoryAfter !== undefined
      ? {
          heapKiBPerConnection: (memoryAfter.heapUsed - memoryBefore.heapUsed) / 1024 / connections,
          externalKiBPerConnection: (memoryAfter.external - memoryBefore.external) / 1024 / connections,
        }
      : {}),
    ...settled,
    gc,
    openAtEnd,
  }
}

async function main(): Promise<void> {
  // Everything is bounded: a run that hangs is reported as a failure, not waited on forever.
  const limit = setTimeout(() => {
    emit({ mode, error: `load generator timed out after ${values.timeout} s` })
    process.exit(2)
  }, (num('timeout') + 5) * 1000)
  limit.unref()
  let result: GeneratorResult
  if (mode === 'throughput' || mode === 'latency') result = await throughput(mode === 'latency')
  else if (mode === 'large') result = await large()
  else if (mode === 'idle') result = await idle()
  else throw new Error(`unknown --mode ${String(mode)}`)
  emit(result)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    closeAll()
    emit({ mode, error: error instanceof Error ? error.message : String(error) })
    process.exit(1)
  },
)

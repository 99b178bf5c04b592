// The permessage-deflate benchmark (`npm run bench -- --modes compression`, or on its own:
// `node dist/bench/compression.js [--quick]`). Three measurements, each against a server in a
// process of its own (pinned to core 0 when taskset exists), driven from this process:
//
// - chat echo: realistic JSON chat events of 100 B – 2 KiB echoed by gatewire and by ws, with
//   compression off and on at the same settings (no context takeover either way, zlib level 1,
//   memLevel 8, threshold 128): echoed messages per server CPU-second (read from /proc), and the
//   bytes the server sent per message.
// - broadcast: one publish to 1,000 subscribers, compressed (deflated once) vs uncompressed:
//   server CPU per published message.
// - idle memory: connections with compression negotiated vs without (heap + RSS after a GC).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer as createNetServer } from 'node:net'
import { join, resolve } from 'node:path'
import { connect, type ClientOptions, type Connection } from '../src/core'
import { chatMessages } from './lib/chat-corpus'
import { processCpuSeconds } from './lib/proc'

const DIST = resolve(__dirname, '..')
const children = new Set<ChildProcess>()

export interface CompressionBenchOptions {
  quick: boolean
  pin: boolean
  /** Which measurements (default all three). */
  parts?: ReadonlySet<'echo' | 'broadcast' | 'idle'>
  /**
   * Idle connections to open (default 10,000, as the idle mode of `npm run bench`: at 2,000 the
   * one-time cost of the first compression — the shared zlib objects, the code — still read as
   * ~1 KiB of RSS per connection; 300 with quick).
   */
  idleConnections?: number
}

/** The settings both servers get in the "same settings" comparison. */
const GATEWIRE_ON = { threshold: 128, level: 1, memLevel: 8 }
const WS_ON = { threshold: 128, zlibDeflateOptions: { level: 1, memLevel: 8 }, serverNoContextTakeover: true, clientNoContextTakeover: true }
const CLIENT: ClientOptions = { compression: true, maxMessageSize: 64 * 1024 * 1024 }
/** A client that offers what Chromium offers (`permessage-deflate; client_max_window_bits`): the server's defaults decide. */
const BROWSER_LIKE: ClientOptions = { compression: { serverNoContextTakeover: false, clientNoContextTakeover: false }, maxMessageSize: 64 * 1024 * 1024 }

interface Running {
  port: number
  pid: number
  child: ChildProcess
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createNetServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

async function startServer(script: string, compression: unknown, pin: boolean, gc = false): Promise<Running> {
  const port = await freePort()
  const args = [...(gc ? ['--expose-gc'] : []), join(DIST, 'bench/servers', script), '--port', String(port), '--compression', compression === undefined ? 'off' : JSON.stringify(compression)]
  const child = pin ? spawn('taskset', ['-c', '0', process.execPath, ...args]) : spawn(process.execPath, args)
  children.add(child)
  child.once('exit', () => children.delete(child))
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  await new Promise<void>((ready, fail) => {
    child.stdout?.once('data', () => ready())
    child.once('exit', (code) => fail(new Error(`${script} exited with ${code}: ${stderr}`)))
  })
  return { port, pid: child.pid!, child }
}

function stop(server: Running): Promise<void> {
  return new Promise((done) => {
    if (server.child.exitCode !== null) return done()
    server.child.once('exit', () => done())
    server.child.kill('SIGTERM')
  })
}

function open(url: string, options: ClientOptions): Promise<Connection> {
  return new Promise((resolveOpen, reject) => {
    const connection = connect(url, options)
    connection.once('connect', () => resolveOpen(connection))
    connection.once('error', reject)
  })
}

async function openMany(url: string, count: number, options: ClientOptions): Promise<Connection[]> {
  const all: Connection[] = []
  // A few hundred handshakes at a time: the server's backlog is not what is measured.
  for (let i = 0; i < count; i += 200) {
    all.push(...(await Promise.all(Array.from({ length: Math.min(200, count - i) }, () => open(url, options)))))
  }
  return all
}

function closeAll(connections: Connection[]): Promise<void> {
  return Promise.all(
    connections.map((c) => new Promise<void>((done) => (c.readyState === 3 ? done() : (c.once('close', () => done()), c.terminate())))),
  ).then(() => undefined)
}

interface EchoResult {
  messagesPerCpuSecond: number
  serverBytesPerMessage: number
  payloadBytesPerMessage: number
  messages: number
}

/** Echo load: `connections` clients keep `window` messages each in flight; measured for `seconds` after `warmup`. */
async function chatEcho(
  port: number,
  options: { connections: number; window: number; warmup: number; seconds: number },
  client: ClientOptions,
  path = '/echo',
): Promise<EchoResult> {
  const corpus = chatMessages(1000)
  const clients = await openMany(`ws://127.0.0.1:${port}${path}`, options.connections, client)
  let measuring = false
  let echoed = 0
  let payload = 0
  let next = 0
  for (const client of clients) {
    client.on('text', (text: string) => {
      if (measuring) {
        echoed++
        payload += text.length
      }
      client.sendText(corpus[next++ % corpus.length])
    })
    for (let i = 0; i < options.window; i++) client.sendText(corpus[next++ % corpus.length])
  }
  await new Promise((r) => setTimeout(r, options.warmup * 1000))
  const bytesRead = (): number => clients.reduce((sum, c) => sum + c.socket.bytesRead, 0)
  const cpu0 = processCpuSeconds(serverPid!)
  const read0 = bytesRead()
  measuring = true
  await new Promise((r) => setTimeout(r, options.seconds * 1000))
  measuring = false
  const cpu = processCpuSeconds(serverPid!) - cpu0
  const read = bytesRead() - read0
  await closeAll(clients)
  return { messagesPerCpuSecond: echoed / cpu, serverBytesPerMessage: read / echoed, payloadBytesPerMessage: payload / echoed, messages: echoed }
}

let serverPid: number | undefined

interface BroadcastResult {
  cpuMsPerPublish: number
  bytesPerSubscriberMessage: number
}

/** `publishes` publishes of chat messages to `subscribers` subscribers; server CPU per publish. */
async function broadcast(port: number, subscribers: number, publishes: number, compressed: boolean): Promise<BroadcastResult> {
  const subs = await openMany(`ws://127.0.0.1:${port}/sub`, subscribers, compressed ? CLIENT : { maxMessageSize: CLIENT.maxMessageSize })
  const control = await open(`ws://127.0.0.1:${port}/control`, {})
  let received = 0
  for (const sub of subs) sub.on('text', () => received++)
  const bytes0 = subs.reduce((sum, c) => sum + c.socket.bytesRead, 0)
  // The server's own CPU clock (microseconds; /proc's ticks are too coarse for this).
  const cpu = async (): Promise<number> => {
    control.sendText('cpu')
    return Number(await new Promise<string>((done) => control.once('text', done)))
  }
  const cpu0 = await cpu()
  control.sendText(`publish ${publishes}`)
  await new Promise<void>((done) => control.once('text', () => done()))
  // Every subscriber got every message (bounded wait; a lost message fails loudly).
  const deadline = Date.now() + 60_000
  while (received < subscribers * publishes) {
    if (Date.now() > deadline) throw new Error(`broadcast: ${received} of ${subscribers * publishes} messages arrived`)
    await new Promise((r) => setImmediate(r))
  }
  const cpuMicros = (await cpu()) - cpu0
  const bytes = subs.reduce((sum, c) => sum + c.socket.bytesRead, 0) - bytes0
  await closeAll([...subs, control])
  return { cpuMsPerPublish: cpuMicros / 1000 / publishes, bytesPerSubscriberMessage: bytes / (subscribers * publishes) }
}

async function memory(control: Connection): Promise<{ heapUsed: number; rss: number; external: number }> {
  control.sendText('memory')
  return JSON.parse((await new Promise<[string]>((done) => control.once('text', (t: string) => done([t]))))[0])
}

/** Per-connection memory of `count` idle connections (heap + external, and RSS), after a GC, each having echoed one message. */
async function idle(port: number, count: number, compressed: boolean, settleMs: number): Promise<{ heapKiB: number; rssKiB: number }> {
  const control = await open(`ws://127.0.0.1:${port}/control`, {})
  const before = await memory(control)
  const conns = await openMany(`ws://127.0.0.1:${port}/echo`, count, compressed ? CLIENT : {})
  // One chat message each way on every connection first, so a zlib object created on first use
  // and kept would show.
  const message = chatMessages(1)[0]
  await Promise.all(
    conns.map((c) => {
      const echoed = new Promise<void>((done) => c.once('text', () => done()))
      c.sendText(message)
      return echoed
    }),
  )
  // V8 shrinks the young generation grown during the burst only seconds later (bench/README.md, idle mode).
  await new Promise((r) => setTimeout(r, settleMs))
  const after = await memory(control)
  await closeAll([...conns, control])
  return {
    heapKiB: (after.heapUsed + after.external - before.heapUsed - before.external) / count / 1024,
    rssKiB: (after.rss - before.rss) / count / 1024,
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** Runs the three measurements; returns the markdown section for the report. */
export async function compressionBench(options: CompressionBenchOptions): Promise<string> {
  const quick = options.quick
  const load = quick ? { connections: 10, window: 8, warmup: 0.3, seconds: 1 } : { connections: 50, window: 16, warmup: 1, seconds: 4 }
  const lines: string[] = ['## permessage-deflate (bench/compression.ts)', '']
  const parts = options.parts ?? new Set(['echo', 'broadcast', 'idle'])
  try {
    if (parts.has('echo')) lines.push(
      `### JSON chat echo (100 B – 2 KiB events, ${load.connections} connections × ${load.window} in flight, ${load.seconds} s)`,
      '',
      'Same settings for both: no context takeover either way, zlib level 1, memLevel 8, threshold 128 B; the client is gatewire\'s, compressing too.',
      '',
      '| server | compression | msgs / server CPU-s | bytes sent per msg (payload avg) |',
      '|---|---|---:|---:|',
    )
    const results: Record<string, EchoResult> = {}
    if (parts.has('echo')) {
      const runs: Array<[string, string, string, unknown, ClientOptions]> = [
        ['gatewire-off', 'gatewire', 'deflate-gatewire.js', undefined, CLIENT],
        ['gatewire-on', 'gatewire', 'deflate-gatewire.js', GATEWIRE_ON, CLIENT],
        // Replies that are not the string just received: every one is deflated (no compressed copy).
        ['gatewire-fresh', 'gatewire', 'deflate-gatewire.js', GATEWIRE_ON, CLIENT],
        ['ws-off', 'ws', 'deflate-ws.js', undefined, CLIENT],
        ['ws-on', 'ws', 'deflate-ws.js', WS_ON, CLIENT],
        // Each library's own defaults, with a browser-like offer (ws: context takeover, level 6, threshold 1 KiB).
        ['gatewire-defaults', 'gatewire', 'deflate-gatewire.js', {}, BROWSER_LIKE],
        ['ws-defaults', 'ws', 'deflate-ws.js', {}, BROWSER_LIKE],
      ]
      for (const [key, name, script, setting, client] of runs) {
        const server = await startServer(script, setting, options.pin)
        serverPid = server.pid
        try {
          const result = await chatEcho(server.port, load, client, key === 'gatewire-fresh' ? '/echo-fresh' : '/echo')
          results[key] = result
          const label =
            setting === undefined
              ? 'off'
              : key.endsWith('defaults')
                ? 'its defaults, browser-like offer'
                : key === 'gatewire-fresh'
                  ? 'on, same settings, every reply deflated'
                  : 'on, same settings'
          lines.push(`| ${name} | ${label} | ${fmt(result.messagesPerCpuSecond)} | ${fmt(result.serverBytesPerMessage, 1)} (${fmt(result.payloadBytesPerMessage)}) |`)
        } finally {
          await stop(server)
        }
    }
    const on = results['gatewire-on']
    const wsOn = results['ws-on']
    lines.push(
      '',
      `- compressed echo (the received compressed bytes sent back as they are), gatewire ÷ ws: **${(on.messagesPerCpuSecond / wsOn.messagesPerCpuSecond).toFixed(2)}×** messages per CPU-second (target ≥ 3×); ` +
        `wire bytes ${(on.serverBytesPerMessage / wsOn.serverBytesPerMessage).toFixed(3)}× ws's (target within 10%)`,
      `- every reply deflated (no compressed copy of the received bytes), gatewire ÷ ws: ${(results['gatewire-fresh'].messagesPerCpuSecond / wsOn.messagesPerCpuSecond).toFixed(2)}×`,
      `- with each library's defaults, gatewire ÷ ws: ${(results['gatewire-defaults'].messagesPerCpuSecond / results['ws-defaults'].messagesPerCpuSecond).toFixed(2)}× messages per CPU-second, ` +
        `${(results['gatewire-defaults'].serverBytesPerMessage / results['ws-defaults'].serverBytesPerMessage).toFixed(3)}× the bytes`,
      `- gatewire, compression on ÷ off: ${(on.messagesPerCpuSecond / results['gatewire-off'].messagesPerCpuSecond).toFixed(2)}× messages per CPU-second, ` +
        `${(on.serverBytesPerMessage / results['gatewire-off'].serverBytesPerMessage).toFixed(3)}× the bytes`,
      '',
    )
    }

    if (parts.has('broadcast')) {
      const subscribers = quick ? 200 : 1000
      const publishes = quick ? 20 : 200
      lines.push(`### Broadcast to ${subscribers} subscribers (${publishes} publishes of chat events)`, '', '| publish | server CPU ms per publish | bytes per subscriber message |', '|---|---:|---:|')
      const broadcasts: Record<string, BroadcastResult> = {}
      for (const compressed of [false, true]) {
        const server = await startServer('deflate-gatewire.js', GATEWIRE_ON, options.pin)
        serverPid = server.pid
        try {
          broadcasts[String(compressed)] = await broadcast(server.port, subscribers, publishes, compressed)
          const r = broadcasts[String(compressed)]
          lines.push(`| ${compressed ? 'compressed (deflated once)' : 'uncompressed'} | ${fmt(r.cpuMsPerPublish, 3)} | ${fmt(r.bytesPerSubscriberMessage, 1)} |`)
        } finally {
          await stop(server)
        }
    }
    lines.push('', `- compressed ÷ uncompressed CPU per publish: **${(broadcasts.true.cpuMsPerPublish / broadcasts.false.cpuMsPerPublish).toFixed(2)}×** (target ≤ 1.5×)`, '')
    }

    if (parts.has('idle')) {
      const idleCount = options.idleConnections ?? (quick ? 300 : 10_000)
      lines.push(`### Idle memory (${idleCount} connections, one message echoed on each, heap + external and RSS after a GC, ${quick ? '0.5' : '15'} s after)`, '', '| connections | heap+external KiB/conn | RSS KiB/conn |', '|---|---:|---:|')
      const idles: Record<string, { heapKiB: number; rssKiB: number }> = {}
      for (const compressed of [false, true]) {
        const server = await startServer('deflate-gatewire.js', GATEWIRE_ON, options.pin, true)
        try {
          idles[String(compressed)] = await idle(server.port, idleCount, compressed, quick ? 500 : 15_000)
          const r = idles[String(compressed)]
          lines.push(`| ${compressed ? 'compression negotiated' : 'no compression'} | ${fmt(r.heapKiB, 2)} | ${fmt(r.rssKiB, 2)} |`)
        } finally {
          await stop(server)
        }
    }
    lines.push('', `- negotiated − none: **${fmt((idles.true.heapKiB - idles.false.heapKiB) * 1024, 0)} B** heap per connection (target ≤ 1 KiB), RSS ${fmt(idles.true.rssKiB - idles.false.rssKiB, 2)} KiB`, '')
    }
  } finally {
    for (const child of children) child.kill('SIGKILL')
  }
  return lines.join('\n')
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0
}

if (require.main === module) {
  // node dist/bench/compression.js [--quick] [--no-pin] [--parts echo,broadcast,idle] [--idle N]
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`)
    return i === -1 ? undefined : process.argv[i + 1]
  }
  compressionBench({
    quick: process.argv.includes('--quick'),
    pin: !process.argv.includes('--no-pin') && hasTaskset(),
    parts: arg('parts') === undefined ? undefined : (new Set(arg('parts')!.split(',')) as CompressionBenchOptions['parts']),
    idleConnections: arg('idle') === undefined ? undefined : Number(arg('idle')),
  }).then(
    (markdown) => process.stdout.write(`${markdown}\n`),
    (error: unknown) => {
      for (const child of children) child.kill('SIGKILL')
      process.stderr.write(`compression bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exitCode = 1
    },
  )
}

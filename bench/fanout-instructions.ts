import { spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { useBenchDeps } from './lib/bench-deps'
import { callgrindControl, waitListening } from './lib/callgrind'
import { freePort } from './lib/free-port'
import { maskedFrame, OP_BINARY, OP_TEXT, wsHandshake, WsMessageCounter } from './lib/wire'

// User-space instructions per fan-out delivery, counted by valgrind (callgrind) in the fan-out
// server (bench/servers/fanout-*.ts): a deterministic A/B figure for the publish path on a
// machine too busy for `npm run bench:fanout`. The server runs under callgrind with
// `--subscribers` raw subscribers in one room; the control connection asks for `publish BATCH
// SIZE` and waits until every subscriber has the whole batch before the next round (one batch
// per subscriber write, as at window 2×BATCH in bench:fanout). `--base` rounds warm the JIT up,
// the counters are zeroed, `--count` rounds are measured. Kernel work (the write(2) itself) is
// not counted: compare it with `strace -c` or perf.
//
//   npm run -s build && node dist/bench/fanout-instructions.js --server gatewire
//   node dist/bench/fanout-instructions.js --server uws
//   node dist/bench/fanout-instructions.js --server /work/baseline/dist/bench/servers/fanout-gatewire.js

const ROOT = resolve(__dirname, '..', '..')
const HOST = '127.0.0.1'

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'gatewire' },
    subscribers: { type: 'string', default: '100' },
    size: { type: 'string', default: '16' },
    batch: { type: 'string', default: '16' },
    base: { type: 'string', default: '300' },
    count: { type: 'string', default: '200' },
    keep: { type: 'string' },
    'main-thread': { type: 'boolean', default: false },
    publishers: { type: 'string', default: '1' },
  },
  strict: true,
})

const script = ['gatewire', 'uws', 'ws'].includes(values.server) ? join(ROOT, 'dist/bench/servers', `fanout-${values.server}.js`) : resolve(values.server)
const subscribers = Number(values.subscribers)
const size = Number(values.size)
const batch = Number(values.batch)
const publishers = Number(values.publishers)
if (!Number.isInteger(publishers) || publishers < 1 || batch % publishers !== 0) throw new Error('--publishers must divide --batch')

async function open(port: number, path: string, onData: (chunk: Buffer) => void): Promise<Socket> {
  const socket = connect({ host: HOST, port })
  await new Promise<void>((r, reject) => socket.once('connect', r).once('error', reject))
  socket.setNoDelay(true)
  const rest = await wsHandshake(socket, HOST, port, path, 120_000)
  socket.on('data', onData)
  if (rest.length > 0) onData(rest)
  return socket
}

async function measure(dir: string): Promise<{ total: number; deliveries: number }> {
  const port = await freePort()
  const out = join(dir, 'callgrind.out')
  // --main-thread: the main thread's count alone (V8's compiler and GC helper threads left out,
  // whose work inside the measured rounds varies from run to run).
  const threads = values['main-thread'] ? ['--separate-threads=yes'] : []
  const server = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, ...threads, '--smc-check=all-non-file', process.execPath, script, '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  server.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)))
  const exited = new Promise<void>((r) => server.once('exit', () => r()))
  const sockets: Socket[] = []
  try {
    await waitListening(port, () => server.exitCode === null && server.signalCode === null)
    if (server.pid === undefined) throw new Error('no pid')
    let delivered = 0
    let unexpected = 0
    let wake: (() => void) | null = null
    for (let i = 0; i < subscribers; i++) {
      const counter = new WsMessageCounter({ expectOpcode: OP_BINARY, expectLength: size })
      sockets.push(
        await open(port, '/sub', (chunk) => {
          delivered += counter.push(chunk)
          unexpected = counter.unexpected
          if (wake !== null) wake()
        }),
      )
    }
    // --publishers K: the batch is asked for by K control connections at once (K reads per round, as in bench:fanout's -p8).
    const controls: Socket[] = []
    for (let i = 0; i < publishers; i++) controls.push(await open(port, '/control', () => undefined))
    sockets.push(...controls)
    const command = maskedFrame(OP_TEXT, Buffer.from(`publish ${batch / publishers} ${size}`))
    const rounds = async (n: number): Promise<void> => {
      for (let round = 0; round < n; round++) {
        const target = delivered + batch * subscribers
        for (const control of controls) control.write(command)
        while (delivered < target) {
          if (server.exitCode !== null) throw new Error('the server exited')
          await new Promise<void>((r) => (wake = r))
          wake = null
        }
        if (unexpected > 0) throw new Error(`${unexpected} unexpected frames`)
      }
    }
    await rounds(Number(values.base))
    callgrindControl('--zero', server.pid)
    const before = delivered
    await rounds(Number(values.count))
    callgrindControl('--dump', server.pid)
    const deliveries = delivered - before
    for (const socket of sockets) socket.destroy()
    const dumps = readdirSync(dir).filter((f) => f.startsWith('callgrind.out.') && f !== 'callgrind.out')
    // With --separate-threads each thread has its own dump; the main thread's ends in -01.
    const dump = values['main-thread'] ? dumps.find((f) => f.endsWith('-01')) : dumps[0]
    if (dump === undefined) throw new Error(`callgrind wrote no dump: ${stderr.slice(-500)}`)
    const totals = /^(?:summary|totals):\s*(\d+)/m.exec(readFileSync(join(dir, dump), 'utf8'))
    if (totals === null) throw new Error(`no totals in ${dump}`)
    if (values.keep !== undefined) copyFileSync(join(dir, dump), values.keep)
    return { total: Number(totals[1]), deliveries }
  } finally {
    for (const socket of sockets) socket.destroy()
    server.kill('SIGTERM')
    const killer = setTimeout(() => server.kill('SIGKILL'), 60_000)
    await exited
    clearTimeout(killer)
  }
}

async function main(): Promise<void> {
  useBenchDeps() // uws-pack, for --server uws
  const dir = mkdtempSync(join(tmpdir(), 'gatewire-fanout-instructions-'))
  try {
    const { total, deliveries } = await measure(dir)
    const writes = deliveries / batch
    process.stdout.write(
      `${relative(process.cwd(), script)}: ${subscribers} subscribers, ${size} B, ${batch} publishes per round: ` +
        `${(total / deliveries).toFixed(0)} instructions per delivery, ${(total / writes).toFixed(0)} per subscriber write ` +
        `(${total} over ${deliveries} deliveries, ${values.count} rounds after ${values.base} to warm up)\n`,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`fanout-instructions: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})

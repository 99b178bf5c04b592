import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { constants as zlibConstants, deflateRawSync } from 'node:zlib'
import { callgrindControl, waitListening } from './lib/callgrind'
import { chatMessages } from './lib/chat-corpus'
import { freePort } from './lib/free-port'
import { OP_BINARY, OP_TEXT, WsMessageCounter, maskedFrame, wsHandshake } from './lib/wire'

// Instructions per echoed message, counted by valgrind (callgrind) in the server process: a
// deterministic figure for A/B decisions on a machine too busy for wall-clock or CPU-time
// benchmarks. The server runs under callgrind; a first client echoes `--base` messages (JIT
// warm-up), the counters are zeroed, a second client echoes `--count` messages, and the
// counters are dumped: their total over `--count` is the steady-state cost of one message,
// connection set-up included (one connection per client).
//
//   npm run -s build && node dist/bench/instructions.js --size 65536 --kind text
//   node dist/bench/instructions.js --server dist/test/fixtures/echo-framework.js --size 16
//
// Needs valgrind (Debian: apt-get install valgrind). Each server run takes tens of seconds.

const ROOT = resolve(__dirname, '..', '..')

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: join(ROOT, 'dist/test/fixtures/echo-server.js') },
    size: { type: 'string', default: '65536' },
    kind: { type: 'string', default: 'text' },
    window: { type: 'string', default: '2' },
    base: { type: 'string', default: '300' },
    count: { type: 'string', default: '300' },
    /**
     * permessage-deflate: the server runs with --deflate, the client offers no context takeover
     * and sends chat JSON compressed (level 1, as the server compresses): a text echo is relayed
     * as the received compressed bytes, a binary echo is deflated anew.
     */
    deflate: { type: 'boolean', default: false },
    /**
     * Count the main thread only (callgrind --separate-threads=yes): leaves out TurboFan's
     * background compiles and the GC helper threads, which otherwise add ~10% to one run in two
     * or three at 16 B.
     */
    'main-thread': { type: 'boolean', default: false },
    /** Keep the callgrind dump of the measured echoes here (for callgrind_annotate). */
    keep: { type: 'string' },
    // Internal: run as the client of one measurement.
    client: { type: 'string' },
  },
  strict: true,
})

const size = Number(values.size)
const kind = values.kind === 'binary' ? 'binary' : 'text'
const window = Number(values.window)

/** Sends `count` messages over one connection, `window` in flight, and waits for every echo. */
async function client(port: number, count: number): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port })
  await new Promise<void>((r, reject) => socket.once('connect', r).once('error', reject))
  socket.setNoDelay(true)
  const offer = values.deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n' : ''
  const rest = await wsHandshake(socket, '127.0.0.1', port, '/', 120_000, offer)
  const opcode = kind === 'text' ? OP_TEXT : OP_BINARY
  let payload = Buffer.alloc(size, 'a')
  if (values.deflate) {
    // RFC 7692 §7.2.1: sync-flushed, the 0x00 0x00 0xff 0xff tail removed.
    const out = deflateRawSync(Buffer.from(chatMessages(Math.ceil(size / 100) + 1).join('\n')).subarray(0, size), { level: 1, memLevel: 8, finishFlush: zlibConstants.Z_SYNC_FLUSH })
    payload = out.subarray(0, out.length - 4)
  }
  const frame = maskedFrame(opcode, payload, values.deflate ? 0x40 : 0)
  const counter = new WsMessageCounter({ expectOpcode: opcode, expectLength: payload.length })
  let sent = 0
  let echoed = 0
  await new Promise<void>((done, reject) => {
    const onData = (chunk: Buffer): void => {
      echoed += counter.push(chunk)
      let more = 0
      while (sent < count && sent - echoed < window) {
        sent++
        more++
      }
      if (more > 0) socket.write(more === 1 ? frame : Buffer.concat(Array(more).fill(frame)))
      if (echoed >= count) done()
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('close', () => (echoed >= count ? done() : reject(new Error(`closed after ${echoed} of ${count} echoes`))))
    const first = Math.min(window, count)
    sent = first
    socket.write(Buffer.concat(Array(first).fill(frame)))
    if (rest.length > 0) onData(rest)
  })
  if (counter.unexpected > 0) throw new Error(`${counter.unexpected} wrong echoes`)
  socket.destroy()
}

function runClient(port: number, count: number): void {
  const args = [__filename, '--client', String(port), '--size', String(size), '--kind', kind, '--window', String(window), '--count', String(count)]
  if (values.deflate) args.push('--deflate')
  const run = spawnSync(process.execPath, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 600_000,
  })
  if (run.status !== 0) throw new Error(`the client failed (${String(run.status ?? run.signal)})`)
}

/**
 * Instructions (Ir) the server spent on `count` echoes after `base` warm-up echoes: callgrind's
 * counters are zeroed between the two clients and dumped after the second (callgrind_control).
 */
async function measure(base: number, count: number, dir: string): Promise<number> {
  const port = await freePort()
  const out = join(dir, 'callgrind.out')
  const threads = values['main-thread'] ? ['--separate-threads=yes'] : []
  const server = spawn('valgrind', ['--tool=callgrind', ...threads, `--callgrind-out-file=${out}`, '--smc-check=all-non-file', process.execPath, values.server, '--port', String(port), ...(values.deflate ? ['--deflate'] : [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  server.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)))
  const exited = new Promise<void>((r) => server.once('exit', () => r()))
  try {
    await waitListening(port, () => server.exitCode === null && server.signalCode === null)
    if (server.pid === undefined) throw new Error('no pid')
    runClient(port, base)
    callgrindControl('--zero', server.pid)
    runClient(port, count)
    callgrindControl('--dump', server.pid)
  } finally {
    server.kill('SIGTERM')
    const killer = setTimeout(() => server.kill('SIGKILL'), 60_000)
    await exited
    clearTimeout(killer)
  }
  // With --separate-threads=yes each thread has its own dump, named ...-01 for the main thread.
  const dump = readdirSync(dir).find((f) => f.startsWith('callgrind.out.') && f !== 'callgrind.out' && (!values['main-thread'] || f.endsWith('-01')))
  if (dump === undefined) throw new Error(`callgrind wrote no dump: ${stderr.slice(-500)}`)
  const totals = /^(?:summary|totals):\s*(\d+)/m.exec(readFileSync(join(dir, dump), 'utf8'))
  if (totals === null) throw new Error(`no totals in ${dump}`)
  if (values.keep !== undefined) copyFileSync(join(dir, dump), values.keep)
  return Number(totals[1])
}

async function main(): Promise<void> {
  if (values.client !== undefined) return client(Number(values.client), Number(values.count))
  const base = Number(values.base)
  const count = Number(values.count)
  const dir = mkdtempSync(join(tmpdir(), 'gatewire-instructions-'))
  try {
    const total = await measure(base, count, dir)
    process.stdout.write(
      `${relative(process.cwd(), values.server)}: ${size} B ${kind}${values.deflate ? ' (permessage-deflate)' : ''}, window ${window}${values['main-thread'] ? ', main thread' : ''}: ` +
        `${Math.round(total / count)} instructions per echoed message (${total} over ${count}, after ${base} to warm up)\n`,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`instructions: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})

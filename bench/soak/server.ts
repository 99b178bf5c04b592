// The soak test's server: a core gatewire echo server with realistic limits, run as a child
// process (`child_process.fork`, with `--expose-gc`) by bench/soak.ts. It reports its own
// figures over the IPC channel: { type: 'stats' } → Stats, { type: 'gc' } → Stats after a full GC.
//
// Behaviour per connection, chosen by the request's query string:
//   (default)        echo text as text and binary as binary (binaryMode 'buffer')
//   ?stream=1        binary arrives as a Readable (binaryMode 'stream'); echoed once complete
//   ?close=N&code=C  after echoing N messages, close with code C (server-initiated clean close)
//   ?terminate=N     after echoing N messages, terminate (server-initiated abrupt close)
//   ?throw=1         the message listener throws (the core must close with 1011, not crash)
import type * as http from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createServer } from '../../src'
import { SOAK_SERVER_OPTIONS, type Stats } from './limits'
import type { Readable } from 'node:stream'

const started = Date.now()
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
let accepted = 0
let upgraded = 0
let listenerErrors = 0
let doubleCloses = 0
let messagesEchoed = 0
const closeCodes: Record<string, number> = {}
const errors: Record<string, number> = {}

function bump(table: Record<string, number>, key: string): void {
  table[key] = (table[key] ?? 0) + 1
}

const server = createServer(
  {
    ...SOAK_SERVER_OPTIONS,
    verifyRequest: (request) => {
      if (request.query.get('stream') === '1') request.binaryMode = 'stream'
    },
  },
  (connection) => {
    upgraded++
    const query = connection.request?.query ?? new URLSearchParams()
    const closeAfter = Number(query.get('close') ?? 0)
    const closeCode = Number(query.get('code') ?? 4000)
    const terminateAfter = Number(query.get('terminate') ?? 0)
    const throwing = query.get('throw') === '1'
    let echoed = 0
    let closes = 0
    const afterEcho = (): void => {
      messagesEchoed++
      echoed++
      if (closeAfter > 0 && echoed === closeAfter) connection.close(closeCode, 'soak: server closes')
      if (terminateAfter > 0 && echoed === terminateAfter) connection.terminate()
    }
    connection.on('text', (text: string) => {
      if (throwing) throw new Error('soak: handler throws on purpose')
      connection.sendText(text)
      afterEcho()
    })
    connection.on('binary', (data: Buffer | Readable) => {
      if (throwing) throw new Error('soak: handler throws on purpose')
      if (Buffer.isBuffer(data)) {
        connection.sendBinary(data)
        afterEcho()
        return
      }
      const chunks: Buffer[] = []
      data.on('data', (chunk: Buffer) => chunks.push(chunk))
      data.on('error', () => {}) // the peer vanished mid-message
      data.on('end', () => {
        connection.sendBinary(Buffer.concat(chunks))
        afterEcho()
      })
    })
    connection.on('error', (error: Error & { closeCode?: number; code?: string }) => {
      if (error.message.startsWith('soak: handler throws')) {
        listenerErrors++
        return
      }
      bump(errors, error.closeCode !== undefined ? String(error.closeCode) : (error.code ?? error.name))
    })
    connection.on('close', (code: number) => {
      if (++closes > 1) doubleCloses++
      bump(closeCodes, String(code))
    })
  },
)

// Diagnostics only: the HTTP server the core created in listen(), to count TCP connections.
let httpServer: http.Server

function resources(): Record<string, number> {
  const out: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) bump(out, name)
  return out
}

function stats(): Promise<Stats> {
  return new Promise((resolve) => {
    httpServer.getConnections((_error, tcp) => {
      setImmediate(() => loop.reset())
      resolve({
        pid: process.pid,
        uptimeMs: Date.now() - started,
        memory: process.memoryUsage(),
        open: server.connections.length,
        tcp,
        accepted,
        upgraded,
        closeCodes,
        errors,
        listenerErrors,
        doubleCloses,
        messagesEchoed,
        resources: resources(),
        loopDelayMaxMs: loop.max / 1e6,
        gcAvailable: typeof (globalThis as { gc?: unknown }).gc === 'function',
      })
    })
  })
}

process.on('message', (message: { type: string; id: number }) => {
  if (message.type === 'gc') {
    const gc = (globalThis as { gc?: () => void }).gc
    if (gc !== undefined) {
      gc()
      gc()
    }
  }
  if (message.type === 'stats' || message.type === 'gc') {
    // A macrotask later, so what the GC freed is returned before RSS is read.
    setTimeout(() => void stats().then((s) => process.send?.({ type: 'stats', id: message.id, stats: s })), 50)
  }
})

// The core logs listener errors with console.error only when no 'error' listener exists; we
// always listen, so stderr stays quiet unless something is really wrong.
server.on('error', (error) => console.error('soak server error:', error))
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address()
  process.send?.({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
})

// The server's own HTTP server (a private field: the soak counts TCP connections it accepted).
httpServer = (server as unknown as { httpServers: http.Server[] }).httpServers[0]
if (httpServer === undefined) throw new Error('soak server: the core Server keeps its HTTP server elsewhere now; update bench/soak/server.ts')
httpServer.on('connection', () => accepted++)

function shutdown(): void {
  const timer = setTimeout(() => process.exit(3), 10_000)
  server.close(() => {
    clearTimeout(timer)
    process.exit(0)
  })
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', () => {}) // the parent decides when we stop (it forwards SIGINT as SIGTERM)
process.on('disconnect', () => process.exit(2)) // the parent is gone: never linger

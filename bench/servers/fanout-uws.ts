import { portArg } from '../lib/args'
import { parseCommand, payloadOf } from '../lib/fanout-command'
import { uwsAddonPath } from './uws-echo'

// uWebSockets.js as a fan-out server (bench/fanout.ts): connections to /sub subscribe to
// 'room' and the control connection's `publish COUNT SIZE` becomes COUNT app.publish() calls
// (uWS builds the frame once per publish, as gatewire does). Loaded from uws-pack as in uws-echo.ts.

interface UwsSocket {
  subscribe(topic: string): boolean
  getUserData(): { url: string }
}
interface UwsResponse {
  upgrade(userData: object, key: string, protocol: string, extensions: string, context: unknown): void
}
interface UwsRequest {
  getUrl(): string
  getHeader(name: string): string
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp
  publish(topic: string, message: ArrayBuffer | Uint8Array, isBinary: boolean): boolean
  listen(host: string, port: number, callback: (listenSocket: unknown) => void): UwsApp
}

const addon = uwsAddonPath()
if (addon === undefined) throw new Error(`uws-pack has no uWebSockets.js binary for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules})`)
const uws = require(addon) as { App(): UwsApp }
const MiB = 1024 * 1024

const app: UwsApp = uws.App().ws('/*', {
  compression: 0,
  maxPayloadLength: MiB,
  // The same bound on a subscriber's queue as gatewire's default maxBufferedAmount.
  maxBackpressure: 16 * MiB,
  idleTimeout: 0,
  sendPingsAutomatically: false,
  upgrade: (res: UwsResponse, req: UwsRequest, context: unknown) => {
    res.upgrade(
      { url: req.getUrl() },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    )
  },
  open: (ws: UwsSocket) => {
    if (ws.getUserData().url === '/sub') ws.subscribe('room')
  },
  message: (_ws: UwsSocket, message: ArrayBuffer) => {
    const command = parseCommand(Buffer.from(message).toString('latin1'))
    if (command === undefined || command.kind !== 'publish') return
    const payload = payloadOf(command.size)
    for (let i = 0; i < command.count; i++) app.publish('room', payload, true)
  },
})
app.listen('127.0.0.1', portArg(), (listenSocket) => {
  if (!listenSocket) {
    process.stderr.write(`uWebSockets.js could not listen on 127.0.0.1:${portArg()}\n`)
    process.exit(1)
  }
  process.stdout.write(`uWebSockets.js fan-out listening on 127.0.0.1:${portArg()}\n`)
})

process.once('SIGTERM', () => process.exit(0))

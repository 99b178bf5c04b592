import { portArg } from '../lib/args'

// nodejs-websocket 1.7 as an echo server. It ships no type declarations, so the small part
// used here is described below. Its receive path concatenates its whole buffer on every read,
// which makes large messages quadratic (the point of including it).

interface InStream {
  on(event: 'data', listener: (chunk: Buffer) => void): this
  on(event: 'end', listener: () => void): this
}
interface NwsConnection {
  on(event: 'text', listener: (text: string) => void): this
  on(event: 'binary', listener: (stream: InStream) => void): this
  on(event: 'error', listener: (error: Error) => void): this
  sendText(text: string): void
  sendBinary(data: Buffer): void
}
interface NwsServer {
  listen(port: number, host: string, callback: () => void): void
  on(event: 'error', listener: (error: Error) => void): this
}
interface NodejsWebsocket {
  createServer(callback: (connection: NwsConnection) => void): NwsServer
  setMaxBufferLength(bytes: number): void
}

const nws = require('nodejs-websocket') as NodejsWebsocket

// Default is 2 MiB; raise it to the same 64 MiB limit every other server gets (plus headers).
nws.setMaxBufferLength(64 * 1024 * 1024 + 64)

const server = nws.createServer((connection) => {
  connection.on('text', (text) => connection.sendText(text))
  connection.on('binary', (stream) => {
    const parts: Buffer[] = []
    stream.on('data', (chunk) => parts.push(chunk))
    stream.on('end', () => connection.sendBinary(parts.length === 1 ? parts[0] : Buffer.concat(parts)))
  })
  connection.on('error', () => undefined)
})
server.on('error', (error) => {
  process.stderr.write(`nodejs-websocket server error: ${error.message}\n`)
})
server.listen(portArg(), '127.0.0.1', () => {
  process.stdout.write(`nodejs-websocket echo listening on 127.0.0.1:${portArg()}\n`)
})

// Exit normally on SIGTERM, so `--cpu-prof` (npm run bench -- --profile) writes its profile.
process.once('SIGTERM', () => process.exit(0))

import { createHash } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { portArg } from '../lib/args'

// A reference for the idle-memory mode only, beside `upgrade-only.ts`: the WebSocket handshake
// answered straight from a `net.Server`, without Node's HTTP parser, and then the socket kept,
// reading and dropping whatever arrives. No frames, no WebSocket state, one shared listener per
// event. It is the least any Node WebSocket server can pay per connection, however it parses the
// handshake: Node's `net.Socket` and libuv handle, and the young generation V8 grows while the
// connections open. It does not echo, so the other modes skip it.

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const MAX_HEAD = 8192
const KEY = /\r\nsec-websocket-key:[ \t]*([A-Za-z0-9+/=]{24})[ \t]*\r\n/i

function drop(): void {}

/** Collects the request head (rarely more than one read) and answers it. */
function onHead(this: Socket & { head?: string }, chunk: Buffer): void {
  const head = (this.head ?? '') + chunk.latin1Slice(0, chunk.length)
  const end = head.indexOf('\r\n\r\n')
  if (end === -1) {
    if (head.length > MAX_HEAD) this.destroy()
    else this.head = head
    return
  }
  this.head = undefined
  this.removeListener('data', onHead)
  this.on('data', drop)
  const key = KEY.exec(head.slice(0, end + 2))
  if (key === null) {
    this.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    return
  }
  const accept = createHash('sha1').update(key[1] + GUID).digest('base64')
  this.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
}

const server = createServer((socket) => {
  socket.on('data', onHead)
  socket.on('error', drop)
})

server.listen(portArg(), '127.0.0.1', () => {
  process.stdout.write(`net upgrade-only reference listening on 127.0.0.1:${portArg()}\n`)
})

process.once('SIGTERM', () => process.exit(0))

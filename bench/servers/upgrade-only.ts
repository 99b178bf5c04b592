import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { Duplex } from 'node:stream'
import { portArg } from '../lib/args'

// A reference for the idle-memory mode only: Node's own `http.Server` answering the WebSocket
// handshake (101 with Sec-WebSocket-Accept) and then keeping the socket, reading and dropping
// whatever arrives. No frames, no WebSocket state: what a WebSocket server that takes its
// upgrades from `http.Server` (as ws and gatewire do) pays before it adds a byte of its own.
// It does not echo, so the throughput, latency and large-message modes skip it.

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

function drop(): void {}

const server = createServer((_req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' })
  res.end('upgrade only\n')
})

server.on('upgrade', (req, socket: Duplex) => {
  const key = req.headers['sec-websocket-key']
  if (typeof key !== 'string') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    return
  }
  const accept = createHash('sha1').update(key + GUID).digest('base64')
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
  socket.on('data', drop)
  socket.on('error', drop)
})

server.listen(portArg(), '127.0.0.1', () => {
  process.stdout.write(`http upgrade-only reference listening on 127.0.0.1:${portArg()}\n`)
})

process.once('SIGTERM', () => process.exit(0))

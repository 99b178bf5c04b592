import { createServer, type Socket } from 'node:net'
import { portArg, stringArg } from '../lib/args'

// A length-prefixed echo (4-byte big-endian length + payload) with no WebSocket framing at all:
// the cost of moving messages through a Node socket. `--mode batched` writes everything
// produced by one socket read under cork()/uncork() (the ceiling); `--mode per-message` calls
// socket.write once per message, which with an idle socket means one syscall per message.

const mode = stringArg('mode') ?? 'batched'
if (mode !== 'batched' && mode !== 'per-message') throw new Error(`unknown --mode ${mode}`)
const batched = mode === 'batched'

function handle(socket: Socket): void {
  socket.setNoDelay(true)
  // Bytes of an incomplete message, kept as a list so a large message is copied once, not
  // re-concatenated on every read.
  let queue: Buffer[] = []
  let queued = 0
  let needed = -1 // total bytes of the message being assembled (prefix included), -1 = unknown

  socket.on('data', (chunk: Buffer) => {
    if (batched) socket.cork()
    let data = chunk
    let offset = 0
    if (queued > 0) {
      queue.push(chunk)
      queued += chunk.length
      if (needed === -1 && queued >= 4) needed = 4 + peekLength(queue)
      if (needed === -1 || queued < needed) {
        if (batched) socket.uncork()
        return
      }
      data = Buffer.concat(queue, queued)
      queue = []
      queued = 0
      needed = -1
    }
    const end = data.length
    while (end - offset >= 4) {
      const total = 4 + data.readUInt32BE(offset)
      if (end - offset < total) break
      socket.write(data.subarray(offset, offset + total))
      offset += total
    }
    if (offset < end) {
      const rest = data.subarray(offset)
      queue.push(rest)
      queued = rest.length
      needed = queued >= 4 ? 4 + rest.readUInt32BE(0) : -1
    }
    if (batched) socket.uncork()
  })
  socket.on('error', () => socket.destroy())
}

function peekLength(queue: Buffer[]): number {
  const head = Buffer.allocUnsafe(4)
  let filled = 0
  for (const part of queue) {
    const take = Math.min(4 - filled, part.length)
    part.copy(head, filled, 0, take)
    filled += take
    if (filled === 4) break
  }
  return head.readUInt32BE(0)
}

const server = createServer(handle)
server.listen(portArg(), '127.0.0.1', () => {
  process.stdout.write(`raw-echo (${mode}) listening on 127.0.0.1:${portArg()}\n`)
})

// Exit normally on SIGTERM, so `--cpu-prof` (npm run bench -- --profile) writes its profile.
process.once('SIGTERM', () => process.exit(0))

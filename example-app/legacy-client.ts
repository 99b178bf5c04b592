// A terminal client for chat.v1, the line protocol, on gatewire's own WebSocket client:
//   npx ts-node --transpile-only example-app/legacy-client.ts <nick> [room]
// Type a line to say it; Ctrl+D leaves. The server must be running (npm start).
import { createInterface } from 'node:readline'
import { connect, HandshakeError } from '../src'

const [nick, room = 'lobby'] = process.argv.slice(2)
if (nick === undefined) {
  console.error('usage: legacy-client.ts <nick> [room]')
  process.exit(2)
}
const port = process.env.PORT ?? '8001'
const url = `ws://localhost:${port}/chat/${encodeURIComponent(room)}?nick=${encodeURIComponent(nick)}`

const conn = connect(url, { protocols: ['chat.v1'] })
const input = createInterface({ input: process.stdin })

conn.once('connect', () => {
  console.log(`connected to ${url} (${conn.protocol})`)
  input.on('line', (line) => conn.sendText(line))
  input.once('close', () => conn.close(1000, 'bye'))
})
conn.on('text', (line: string) => console.log(line))
conn.on('error', (err: Error) => {
  console.error(err instanceof HandshakeError ? `refused: HTTP ${err.status} ${err.message}` : err.message)
})
conn.once('close', (code: number, reason: string) => {
  console.log(`closed: ${code}${reason ? ` ${reason}` : ''}`)
  input.close()
  process.exitCode = code === 1000 || code === 1001 ? 0 : 1
})

import { WebSocketServer, type WebSocket } from 'ws'
import { portArg } from '../lib/args'
import { parseCommand, payloadOf } from '../lib/fanout-command'

// `ws` as a fan-out server (bench/fanout.ts): what a `ws` app does to broadcast, a loop over
// its subscribers calling send() on each.

const subscribers = new Set<WebSocket>()
const wss = new WebSocketServer({ host: '127.0.0.1', port: portArg(), perMessageDeflate: false, clientTracking: false })

wss.on('connection', (ws, request) => {
  ws.on('error', () => ws.terminate())
  if (request.url === '/sub') {
    subscribers.add(ws)
    ws.on('close', () => subscribers.delete(ws))
  } else if (request.url === '/control') {
    ws.on('message', (data) => {
      const command = parseCommand(String(data))
      if (command === undefined || command.kind !== 'publish') return
      const payload = payloadOf(command.size)
      for (let i = 0; i < command.count; i++) for (const subscriber of subscribers) subscriber.send(payload, { binary: true })
    })
  }
})
wss.on('listening', () => process.stdout.write(`ws fan-out listening on 127.0.0.1:${portArg()}\n`))

process.once('SIGTERM', () => process.exit(0))

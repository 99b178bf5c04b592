import { WebSocketServer, type PerMessageDeflateOptions, type RawData } from 'ws'
import { portArg, stringArg } from '../lib/args'

// The `ws` package for the compression benchmark: an echo server, --compression taking JSON
// of ws's PerMessageDeflateOptions, or 'off'.

const setting = stringArg('compression') ?? 'off'
const perMessageDeflate: PerMessageDeflateOptions | false = setting === 'off' ? false : (JSON.parse(setting) as PerMessageDeflateOptions)

const wss = new WebSocketServer({ host: '127.0.0.1', port: portArg(), perMessageDeflate, maxPayload: 64 * 1024 * 1024, clientTracking: false })
wss.on('connection', (ws) => {
  ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data, { binary: isBinary }))
  ws.on('error', () => ws.terminate())
})
wss.on('listening', () => process.stdout.write(`ws deflate bench server on ${portArg()} (${setting})\n`))
process.once('SIGTERM', () => process.exit(0))

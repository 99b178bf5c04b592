import { WebSocketServer, type RawData } from 'ws'
import { portArg } from '../lib/args'

// The `ws` package as an echo server: text back as text, binary as binary. Whether ws uses
// bufferutil is decided by ws itself from the environment (WS_NO_BUFFER_UTIL=1 disables it);
// the runner starts this script once with and once without that variable.

let nativeMask = false
if (process.env.WS_NO_BUFFER_UTIL === undefined) {
  try {
    require.resolve('bufferutil')
    nativeMask = true
  } catch {
    nativeMask = false
  }
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: portArg(),
  perMessageDeflate: false,
  maxPayload: 64 * 1024 * 1024,
  clientTracking: false,
})

wss.on('connection', (ws) => {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    ws.send(data, { binary: isBinary })
  })
  ws.on('error', () => ws.terminate())
})
wss.on('listening', () => {
  process.stdout.write(`ws echo listening on 127.0.0.1:${portArg()} (bufferutil: ${nativeMask ? 'yes' : 'no'})\n`)
})

// Exit normally on SIGTERM, so `--cpu-prof` (npm run bench -- --profile) writes its profile.
process.once('SIGTERM', () => process.exit(0))

// `npm start`: the example chat on http://localhost:8001 (PORT overrides). With REDIS_URL,
// instances started with the same Redis share rooms and presence.
import { startExampleApp } from './start-example-app'

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8001)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be a port number (0-65535), not ${JSON.stringify(process.env.PORT)}`)
    process.exit(1)
  }

  // An empty REDIS_URL is none, as when it is unset.
  const redisUrl = process.env.REDIS_URL || undefined
  let chat
  try {
    chat = await startExampleApp({ port, host: process.env.HOST, redisUrl })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') console.error(`port ${port} is already in use: try PORT=8002 npm start`)
    else if (redisUrl !== undefined && /^gatewire\/redis: cannot reach/.test(String((err as Error).message))) {
      console.error(`${(err as Error).message}\nIs redis-server running there? Start one, or unset REDIS_URL to run a single instance.`)
    } else if (err instanceof TypeError && /^gatewire\/redis:/.test(err.message)) console.error(`REDIS_URL: ${err.message}`)
    else console.error(err)
    process.exit(1)
  }

  const ws = chat.url.replace(/^http/, 'ws')
  console.log(`gatewire example chat is running.

  Open ${chat.url} in two browser windows and chat.
  ${redisUrl === undefined ? 'One instance (set REDIS_URL to share rooms with other instances).' : `Rooms and presence shared through Redis with every instance using REDIS_URL.`}

  WebSocket endpoints on the same port:
    ${ws}chat/<room>?nick=<name>   subprotocols chat.v2 (JSON events) and chat.v1 (text lines)
    ${ws}echo                      echoes text and binary

Press Ctrl+C to stop.`)

  const shutdown = (signal: NodeJS.Signals): void => {
    console.log(`\n${signal}: closing every connection with 1001 (going away)...`)
    chat.close().then(
      () => {
        console.log('stopped.')
        process.exit(0)
      },
      (err: unknown) => {
        console.error('shutdown failed:', err)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

void main()

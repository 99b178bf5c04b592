import { createServer } from '../../src/transport'
import { redisBroker } from '../../src/redis'
import { portArg, stringArg } from '../lib/args'

// One instance of a rooms app for the cross-process Redis benchmark (bench/redis-rooms.ts):
// every connection joins 'room'; whatever a connection sends is published to the room (all
// but the sender), on this instance at once and through the Redis broker to the others.
// Prints "listening PORT" once the broker is ready.

const url = stringArg('redis')
if (url === undefined) throw new Error('--redis URL is required')
const server = createServer({ binaryMode: 'buffer', broker: redisBroker({ url, logger: { warn: (message) => console.error(message) } }) }, (connection) => {
  connection.subscribe('room')
  connection.on('message', (data) => server.publish('room', data, { except: connection }))
})
server.listen(portArg(), '127.0.0.1', () => {
  server.ready().then(
    () => {
      const address = server.address()
      console.log(`listening ${typeof address === 'object' && address !== null ? address.port : '?'}`)
    },
    (error: Error) => {
      console.error(error.message)
      process.exit(1)
    },
  )
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))

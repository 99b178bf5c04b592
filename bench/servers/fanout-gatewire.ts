import { createServer } from '../../src/core'
import { portArg } from '../lib/args'
import { memoryReport, parseCommand, payloadOf } from '../lib/fanout-command'

// gatewire as a fan-out server (bench/fanout.ts): connections to /sub subscribe to 'room';
// the control connection (/control) asks for `publish COUNT SIZE`, answered with COUNT
// server.publish('room', payload) calls. /idle, /idle-sub and /idle-own are the idle-memory
// connections: none, one shared topic, one topic of their own.

const server = createServer({ heartbeatInterval: 0 }, (conn) => {
  switch (conn.path) {
    case '/sub':
      conn.subscribe('room')
      break
    case '/idle-sub':
      conn.subscribe('idle')
      break
    case '/idle-own':
      conn.subscribe(`own:${conn.id}`)
      break
    case '/control':
      conn.on('text', (text: string) => {
        const command = parseCommand(text)
        if (command === undefined) return
        if (command.kind === 'memory') {
          conn.sendText(memoryReport())
          return
        }
        const payload = payloadOf(command.size)
        for (let i = 0; i < command.count; i++) server.publish('room', payload)
      })
      break
  }
})
server.listen(portArg(), '127.0.0.1', () => process.stdout.write(`gatewire fan-out listening on 127.0.0.1:${portArg()}\n`))

process.once('SIGTERM', () => process.exit(0))

import { createServer, type CompressionOptions, type Connection } from '../../src/core'
import { chatMessages } from '../lib/chat-corpus'
import { portArg, stringArg } from '../lib/args'

// gatewire for the compression benchmark (bench/compression.ts). --compression takes JSON
// CompressionOptions, or 'off'. Paths: /echo echoes; /sub subscribes to the topic 'chat';
// /echo-fresh echoes each text with a space added (so no reply reuses the received compressed bytes);
// /control takes 'publish N' (publishes N chat messages to 'chat', then answers 'done'), 'cpu'
// (answers the process's CPU microseconds) and 'memory' (the heap and RSS after a full GC; run
// with --expose-gc).

const setting = stringArg('compression') ?? 'off'
const compression: CompressionOptions | undefined = setting === 'off' ? undefined : (JSON.parse(setting) as CompressionOptions)
const corpus = chatMessages(1000, 100, 2048, 11)

const server = createServer(
  { compression, heartbeatInterval: 0, maxMessageSize: 64 * 1024 * 1024, binaryMode: 'buffer' },
  (connection) => {
    const path = connection.path
    if (path === '/echo') connection.on('text', echo)
    else if (path === '/echo-fresh') connection.on('text', echoFresh)
    else if (path === '/sub') connection.subscribe('chat')
    else if (path === '/control') connection.on('text', (text) => control(connection, text))
  },
)

function echo(this: Connection, text: string): void {
  this.sendText(text)
}

/** Echoes the text with a space added: never the string just received, so every reply is deflated anew. */
function echoFresh(this: Connection, text: string): void {
  this.sendText(`${text} `)
}

function control(connection: Connection, command: string): void {
  const publish = /^publish (\d+)$/.exec(command)
  if (publish !== null) {
    const count = Number(publish[1])
    for (let i = 0; i < count; i++) server.publish('chat', corpus[i % corpus.length])
    connection.sendText('done')
  } else if (command === 'cpu') {
    const { user, system } = process.cpuUsage()
    connection.sendText(String(user + system))
  } else if (command === 'memory') {
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    gc?.()
    const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage()
    connection.sendText(JSON.stringify({ heapUsed, rss, external, arrayBuffers, connections: server.connections.length }))
  }
}

server.listen(portArg(), '127.0.0.1', () => process.stdout.write(`gatewire deflate bench server on ${portArg()} (${setting})\n`))
process.once('SIGTERM', () => process.exit(0))

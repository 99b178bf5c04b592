import { expect } from 'chai'
import { Writable } from 'node:stream'
import pino from 'pino'
import winston from 'winston'
import { Gateway, Module, OnText, UseGuards, type Logger } from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer } from './ws-peer'

@Gateway('/boom', { protocols: ['boom.v1'] })
class Boom {
  @OnText() onText(text: string): void {
    throw new Error(`boom: ${text}`)
  }
}

@Gateway('/guarded')
@UseGuards(() => {
  throw new Error('guard bug')
})
class Guarded {
  @OnText() onText(): void {}
}

@Module({ gateways: [Boom, Guarded] })
class AppModule {}

/** Log lines as a logger writes them, with a promise for the next one. */
class Lines extends Writable {
  readonly lines: Record<string, unknown>[] = []
  private waiting: ((line: Record<string, unknown>) => void) | undefined
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const text of chunk.toString().split('\n')) {
      if (text === '') continue
      const line = JSON.parse(text) as Record<string, unknown>
      this.lines.push(line)
      this.waiting?.(line)
    }
    callback()
  }
  /** The first line (already written or to come) that `match` accepts. */
  next(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const found = this.lines.find(match)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such log line within 2 s; got ${JSON.stringify(this.lines)}`)), 2000)
      this.waiting = (line) => {
        if (!match(line)) return
        clearTimeout(timer)
        resolve(line)
      }
    })
  }
}

describe('framework logging', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    closePeers()
    await t?.close()
    t = undefined
  })

  describe('with pino as the logger, unadapted', () => {
    let out: Lines
    beforeEach(async () => {
      out = new Lines()
      const logger: Logger = pino({ level: 'debug' }, out)
      t = await createTestApp(AppModule, { logger })
    })

    it('writes a handler error with connectionId, gateway, remoteAddress, protocol and the error', async () => {
      const peer = await connectPeer(`${t!.url}/boom`, { protocols: ['boom.v1'] })
      peer.send('first')
      const line = await out.next((l) => l.level === 50)
      expect(line.msg).to.equal('gatewire: Boom.onText failed')
      expect(line).to.include({ gateway: 'Boom', remoteAddress: '127.0.0.1', protocol: 'boom.v1' })
      expect(line.connectionId).to.be.a('number')
      expect(line.err).to.include({ type: 'Error', message: 'boom: first' })
      // One id per connection: a second connection logs another.
      const other = await connectPeer(`${t!.url}/boom`, { protocols: ['boom.v1'] })
      other.send('second')
      const next = await out.next((l) => l.level === 50 && (l.err as { message: string }).message === 'boom: second')
      expect(next.connectionId).to.not.equal(line.connectionId)
    })

    it("writes a peer's protocol error at debug level with its close code", async () => {
      const peer = await connectPeer(`${t!.url}/boom`, { protocols: ['boom.v1'] })
      // An unmasked client frame: RFC 6455 §5.1 makes the server fail the connection with 1002.
      ;(peer.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.from([0x81, 0x00]))
      const line = await out.next((l) => l.level === 20)
      expect(line.msg).to.match(/^gatewire: Boom connection error/)
      expect(line).to.include({ gateway: 'Boom', remoteAddress: '127.0.0.1' })
      expect(line.err).to.include({ closeCode: 1002 })
      expect((await peer.closed).code).to.equal(1002)
    })

    it('writes a failing guard with the gateway, the remote address and the path', async () => {
      await t!.expectRejected('/guarded', 500)
      const line = await out.next((l) => l.level === 50)
      expect(line).to.include({ msg: 'gatewire: Guarded guard failed', gateway: 'Guarded', remoteAddress: '127.0.0.1', path: '/guarded' })
      expect(line.err).to.include({ message: 'guard bug' })
    })
  })

  it('takes a winston logger as it is, and winston writes the message and the fields', async () => {
    const out = new Lines()
    const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream: out })] })
    t = await createTestApp(AppModule, { logger })
    const peer = await connectPeer(`${t.url}/boom`, { protocols: ['boom.v1'] })
    peer.send('w')
    const line = await out.next((l) => l.level === 'error')
    expect(line).to.include({ message: 'gatewire: Boom.onText failed', gateway: 'Boom', remoteAddress: '127.0.0.1' })
    expect(line.connectionId).to.be.a('number')
    expect(line.err).to.include({ message: 'boom: w' })
  })

  describe('with the default logger', () => {
    const original = console.error
    afterEach(() => {
      console.error = original
    })

    it('writes errors to console.error, message first', async () => {
      const logged: unknown[][] = []
      let wake: (() => void) | undefined
      console.error = (...args: unknown[]) => {
        logged.push(args)
        wake?.()
      }
      t = await createTestApp(AppModule)
      const peer = await connectPeer(`${t.url}/boom`, { protocols: ['boom.v1'] })
      peer.send('c')
      if (logged.length === 0) await new Promise<void>((resolve) => (wake = resolve))
      console.error = original
      expect(logged[0][0]).to.equal('gatewire: Boom.onText failed')
      expect(logged[0][1]).to.include({ gateway: 'Boom', remoteAddress: '127.0.0.1' })
    })
  })
})

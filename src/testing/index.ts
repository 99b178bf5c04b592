// gatewire/testing: bootstrap a module on a free port and talk to it in a few lines of mocha.
import type { IncomingHttpHeaders } from 'node:http'
import { HandshakeError } from '../protocol'
import { connect, type Connection } from '../transport'
import { bootstrap, type Application, type BootstrapOptions } from '../framework'
import type { Class } from '../framework'

/** Default time each expectation waits, in ms. */
export const DEFAULT_TIMEOUT = 2000

/** Options of `TestApp#connect()`. */
export interface TestConnectOptions {
  /** Subprotocols to offer, in preference order. */
  protocols?: string[]
  /** Extra request headers (`Origin`, `Cookie`, `Authorization`, ...). */
  headers?: Record<string, string>
  /** How long the handshake may take, in ms. Default 2000. */
  timeout?: number
}

/** A close as a client saw it. */
export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

/** A message as a client received it: text as a string, binary as a Buffer. */
export type ReceivedMessage = string | Buffer

/**
 * A bootstrapped app listening on 127.0.0.1 with a free port, and the clients opened against it.
 * `close()` closes the clients, then the app.
 *
 * @example
 * let t: TestApp
 * beforeEach(async () => { t = await createTestApp(AppModule) })
 * afterEach(() => t.close())
 * it('echoes', async () => {
 *   const client = await t.connect('/chat')
 *   client.send('hi')
 *   expect(await client.nextMessage()).to.equal('HI')
 * })
 */
export class TestApp {
  private readonly clients = new Set<TestClient<unknown>>()

  constructor(
    /** The app under test. */
    readonly app: Application,
    /** `ws://127.0.0.1:<port>`. */
    readonly url: string,
  ) {}

  /** The port the app listens on. */
  get port(): number {
    return Number(new URL(this.url).port)
  }

  /**
   * Opens a client to `path` (with its query string, if any) and resolves once the connection is
   * open; rejects with the `HandshakeError` when the server refuses it. `TMessage` types `nextJson()`.
   */
  connect<TMessage = unknown>(path = '/', options: TestConnectOptions = {}): Promise<TestClient<TMessage>> {
    const timeout = options.timeout ?? DEFAULT_TIMEOUT
    const url = this.url + (path.startsWith('/') ? path : `/${path}`)
    return new Promise((resolve, reject) => {
      const conn = connect(url, { protocols: options.protocols, extraHeaders: options.headers, binaryMode: 'buffer' })
      const client = new TestClient<TMessage>(conn, url)
      this.clients.add(client as TestClient<unknown>)
      conn.once('close', () => this.clients.delete(client as TestClient<unknown>))
      const timer = setTimeout(() => {
        conn.terminate()
        reject(new Error(`connect(${path}): the handshake did not finish within ${timeout} ms`))
      }, timeout)
      conn.once('connect', () => {
        clearTimeout(timer)
        conn.off('error', onError)
        resolve(client)
      })
      const onError = (err: Error): void => {
        clearTimeout(timer)
        reject(err)
      }
      conn.once('error', onError)
    })
  }

  /**
   * Expects the server to refuse a handshake to `path` with HTTP `status`, and resolves with the
   * `HandshakeError` (for further checks). Fails with a clear message when the connection opens or
   * the status differs.
   *
   * @example
   * await t.expectRejected('/nowhere', 404)
   * await t.expectRejected('/chat', 400, { protocols: ['mqtt'] })
   */
  async expectRejected(path: string, status: number, options: TestConnectOptions = {}): Promise<HandshakeError> {
    let client: TestClient<unknown>
    try {
      client = await this.connect(path, options)
    } catch (err) {
      if (!(err instanceof HandshakeError)) {
        throw new Error(`expectRejected(${path}, ${status}): the handshake failed without an HTTP answer: ${(err as Error).message}`)
      }
      if (err.status !== status) {
        throw new Error(`expectRejected(${path}, ${status}): the server answered HTTP ${err.status} (${err.message})`)
      }
      return err
    }
    await client.close()
    throw new Error(`expectRejected(${path}, ${status}): the server accepted the connection${client.protocol ? ` (protocol ${client.protocol})` : ''}`)
  }

  /**
   * Closes the app gracefully (1001 to its connections, which the clients answer), then drops
   * any client still open.
   */
  async close(): Promise<void> {
    try {
      await this.app.close()
    } finally {
      for (const client of [...this.clients]) client.connection.terminate()
      this.clients.clear()
    }
  }
}

/**
 * A client connection for tests: everything it receives is buffered, and each `next*()` takes the
 * oldest message or waits for one (up to a timeout).
 */
export class TestClient<TMessage = unknown> {
  private readonly messages: ReceivedMessage[] = []
  private readonly waiters: { resolve: (m: ReceivedMessage) => void; reject: (e: Error) => void }[] = []
  private closed: CloseInfo | undefined
  private readonly closeWaiters: ((info: CloseInfo) => void)[] = []

  constructor(
    /** The underlying core connection. */
    readonly connection: Connection,
    /** The URL the client connected to. */
    readonly url: string,
  ) {
    connection.on('text', (text: string) => this.push(text))
    connection.on('binary', (data: Buffer) => this.push(data))
    connection.on('error', () => {
      // Errors end in a 'close', which is what tests observe.
    })
    connection.once('close', (code: number, reason: string) => {
      this.closed = { code, reason }
      for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`${this.describe()} closed with ${code}${reason ? ` (${reason})` : ''} before a message arrived`))
      for (const resolve of this.closeWaiters.splice(0)) resolve(this.closed)
    })
  }

  /** The negotiated subprotocol, or `undefined`. */
  get protocol(): string | undefined {
    return this.connection.protocol
  }

  /** The response headers of the handshake. */
  get headers(): IncomingHttpHeaders {
    return this.connection.headers
  }

  /** Messages received and not yet taken by `next*()`. */
  get pending(): readonly ReceivedMessage[] {
    return this.messages
  }

  /** Sends text (a string) or binary (a Buffer). */
  send(data: string | Buffer | Uint8Array): void {
    this.connection.send(data)
  }

  /** Sends `value` as JSON text. */
  sendJson(value: unknown): void {
    this.connection.sendText(JSON.stringify(value))
  }

  /** Sends `{"event": event, "data": data}`, the shape `@OnMessage(event)` routes. */
  sendEvent(event: string, data?: unknown): void {
    this.sendJson(data === undefined ? { event } : { event, data })
  }

  /** The next message, text or binary. */
  nextMessage(timeout = DEFAULT_TIMEOUT): Promise<ReceivedMessage> {
    const queued = this.messages.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.closed) {
      return Promise.reject(new Error(`${this.describe()} is closed (${this.closed.code}); no message will arrive`))
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (m: ReceivedMessage) => {
          clearTimeout(timer)
          resolve(m)
        },
        reject: (e: Error) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        reject(new Error(`${this.describe()}: no message within ${timeout} ms`))
      }, timeout)
      this.waiters.push(waiter)
    })
  }

  /** The next message, which must be text. */
  async nextText(timeout = DEFAULT_TIMEOUT): Promise<string> {
    const message = await this.nextMessage(timeout)
    if (typeof message !== 'string') throw new Error(`${this.describe()}: expected a text message, got ${message.length} bytes of binary`)
    return message
  }

  /** The next message, which must be binary. */
  async nextBinary(timeout = DEFAULT_TIMEOUT): Promise<Buffer> {
    const message = await this.nextMessage(timeout)
    if (typeof message === 'string') throw new Error(`${this.describe()}: expected a binary message, got text ${preview(message)}`)
    return message
  }

  /** The next message, which must be JSON text, parsed. */
  async nextJson<T = TMessage>(timeout = DEFAULT_TIMEOUT): Promise<T> {
    const text = await this.nextText(timeout)
    try {
      return JSON.parse(text) as T
    } catch {
      throw new Error(`${this.describe()}: expected JSON, got ${preview(text)}`)
    }
  }

  /**
   * Waits for the connection to close (with `code`, when given) and resolves with the close.
   * Messages still buffered do not matter.
   */
  async expectClose(code?: number, timeout = DEFAULT_TIMEOUT): Promise<CloseInfo> {
    const info =
      this.closed ??
      (await new Promise<CloseInfo>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.closeWaiters.splice(this.closeWaiters.indexOf(onClose), 1)
          reject(new Error(`${this.describe()}: not closed within ${timeout} ms${code === undefined ? '' : ` (expected ${code})`}`))
        }, timeout)
        const onClose = (closed: CloseInfo): void => {
          clearTimeout(timer)
          resolve(closed)
        }
        this.closeWaiters.push(onClose)
      }))
    if (code !== undefined && info.code !== code) {
      throw new Error(`${this.describe()}: closed with ${info.code}${info.reason ? ` (${info.reason})` : ''}, expected ${code}`)
    }
    return info
  }

  /** Closes from the client side and resolves once the closing handshake is over. */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.closed) return Promise.resolve(this.closed)
    const done = this.expectClose(undefined, 10_000)
    this.connection.close(code, reason)
    return done
  }

  private push(message: ReceivedMessage): void {
    const waiter = this.waiters.shift()
    if (waiter !== undefined) waiter.resolve(message)
    else this.messages.push(message)
  }

  private describe(): string {
    return `client ${this.url}`
  }
}

/**
 * Bootstraps `rootModule` on 127.0.0.1 with a free port (heartbeat off unless `options` turn it
 * on) and resolves once it listens.
 *
 * @example
 * const t = await createTestApp(AppModule)
 * const client = await t.connect('/rooms/lobby?token=abc', { protocols: ['chat.v1'] })
 * client.sendEvent('say', { text: 'hi' })
 * expect(await client.nextJson()).to.deep.equal({ event: 'said', data: 'hi' })
 * await t.close()
 */
export async function createTestApp(rootModule: Class, options: BootstrapOptions = {}): Promise<TestApp> {
  const app = await bootstrap(rootModule, { heartbeatInterval: 0, ...options }).listen(0, '127.0.0.1')
  const address = app.address()
  if (address === null || typeof address === 'string') throw new Error('createTestApp: the app has no TCP address')
  return new TestApp(app, `ws://127.0.0.1:${address.port}`)
}

function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
}

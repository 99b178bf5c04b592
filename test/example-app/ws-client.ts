// The `ws` package as a reference client for the example app's tests.
import WebSocket from 'ws'

/** A `ws` client whose messages are buffered and awaited, each wait bounded. */
export class WsClient {
  private readonly messages: (string | Buffer)[] = []
  private readonly waiters: ((message: string | Buffer) => void)[] = []
  /** Resolves with the close code and reason once the connection has closed. */
  readonly closed: Promise<{ code: number; reason: string }>

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const message = isBinary ? data : data.toString('utf8')
      const waiter = this.waiters.shift()
      if (waiter !== undefined) waiter(message)
      else this.messages.push(message)
    })
    this.closed = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })))
  }

  /** Opens a connection and resolves once it is open; rejects with the HTTP status of a refusal. */
  static open(url: string, protocols: string[] = [], timeout = 5000): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols)
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new Error(`${url}: not open within ${timeout} ms`))
      }, timeout)
      const client = new WsClient(ws)
      ws.once('open', () => {
        clearTimeout(timer)
        resolve(client)
      })
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer)
        ws.terminate()
        reject(new Error(`${url}: refused with HTTP ${res.statusCode}`))
      })
      ws.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  next(timeout = 2000): Promise<string | Buffer> {
    const queued = this.messages.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message within ${timeout} ms`)), timeout)
      this.waiters.push((message) => {
        clearTimeout(timer)
        resolve(message)
      })
    })
  }

  /** Waits for the close, at most `timeout` ms. */
  expectClose(timeout = 5000): Promise<{ code: number; reason: string }> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not closed within ${timeout} ms`)), timeout).unref()),
    ])
  }

  terminate(): void {
    this.ws.terminate()
  }
}

import type * as http from 'node:http'
import type { Socket } from 'node:net'
import { listsToken } from '../protocol/handshake'
import { HandshakeError } from '../protocol/handshake-error'
import { parseRequestHead, type RequestHead } from '../protocol/request-head'
import { rejectUpgrade } from './reject-upgrade'
import { isWebSocketToken } from './upgrade-claim'

/** The core Server as its own HTTP server's front sees it. */
export interface FrontClaimant {
  /** Answers this WebSocket upgrade when it is the server's and the server accepts connections; false leaves it to the HTTP server. */
  takeParsedUpgrade(socket: Socket, head: Buffer, parsed: RequestHead): boolean
}

type ConnectionListener = (this: http.Server, socket: Socket) => void

/**
 * Sits in front of the HTTP server a core Server listens on by itself (`server.listen`), and
 * answers the WebSocket upgrades it fully understands without Node's HTTP parser: Node's parser,
 * IncomingMessage, header arrays and socket wrappers are most of what a connection costs in the
 * second after a burst of handshakes (about 0.6 KiB each at 10,000, measured against a
 * `net.Server` that answers the handshake itself), and some of it stays on the socket for the
 * connection's life. A connection's first read decides: a complete head that `parseRequestHead`
 * accepts, for a WebSocket upgrade the server takes, is answered here; any other bytes (plain
 * HTTP, an incomplete or unusual head, a path of nobody's) are put back and the socket is handed
 * to the HTTP server as if it had just connected, which answers exactly as it always did
 * (400, 404, 426, 431, keep-alive, timeouts).
 */
export class UpgradeFront {
  /**
   * @internal On by default; false keeps listen() on Node's parser (for A/B measurements). A
   * socket taken here used to cost ~8% more instructions per message (callgrind, main thread,
   * 16 B text): Readable's per-read maybeReadMore tick, which http.Server's sockets happened to
   * skip; Connection now skips it for every socket (skipReadMoreTicks), and both read the same.
   */
  static enabled = true

  /** Installs the front on `server` (not listening yet); false when its 'connection' listener is not Node's own. */
  static install(server: http.Server, claimant: FrontClaimant, handshakeTimeout: number, maxHeaderSize: number): boolean {
    const listeners = server.listeners('connection')
    if (listeners.length !== 1 || listeners[0].name !== 'connectionListener') return false
    const http = listeners[0] as ConnectionListener
    const front = new UpgradeFront(server, http, claimant, handshakeTimeout, maxHeaderSize)
    server.removeListener('connection', http)
    server.on('connection', front.onConnection)
    return true
  }

  /** Sockets waiting for their first read, with the time they connected (see sweep). */
  private readonly waiting = new Map<Socket, number>()
  private sweeper: NodeJS.Timeout | null = null

  private constructor(
    private readonly server: http.Server,
    private readonly http: ConnectionListener,
    private readonly claimant: FrontClaimant,
    private readonly handshakeTimeout: number,
    private readonly maxHeaderSize: number,
  ) {
    fronts.set(server, this)
  }

  // One listener and one timer for every socket, no closure or Timeout per connection: what a
  // handshake allocates is young-generation memory a burst of connections grows.
  private readonly onConnection = (socket: Socket): void => {
    this.waiting.set(socket, Date.now())
    if (this.sweeper === null) {
      // As often as Node checks its own headersTimeout (connectionsCheckingInterval).
      this.sweeper = setInterval(() => this.sweep(), Math.min(1000, this.handshakeTimeout))
      this.sweeper.unref()
    }
    socket.on('error', noop)
    socket.on('data', onFirstRead)
  }

  /** @internal The first bytes of a connection decide who answers it. */
  firstRead(socket: Socket, chunk: Buffer): void {
    this.waiting.delete(socket)
    socket.removeListener('data', onFirstRead)
    socket.removeListener('error', noop)
    const parsed = parseRequestHead(chunk, this.maxHeaderSize)
    const taken =
      parsed !== undefined &&
      isUpgrade(parsed) &&
      this.claimant.takeParsedUpgrade(socket, parsed.end === chunk.length ? EMPTY : chunk.subarray(parsed.end), parsed)
    if (!taken) this.toHttp(socket, chunk)
  }

  /** A client that sent nothing within handshakeTimeout is answered 408, as Node's headersTimeout does. */
  private sweep(): void {
    const expired = Date.now() - this.handshakeTimeout
    for (const [socket, connected] of this.waiting) {
      if (socket.destroyed) {
        this.waiting.delete(socket)
      } else if (connected <= expired) {
        this.waiting.delete(socket)
        socket.removeListener('data', onFirstRead)
        socket.removeListener('error', noop)
        rejectUpgrade(socket, new HandshakeError(408, 'request timeout'))
      }
    }
    if (this.waiting.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper)
      this.sweeper = null
    }
  }

  /** The socket as Node's HTTP server would have got it, with the bytes read so far put back. */
  private toHttp(socket: Socket, chunk: Buffer): void {
    socket.pause()
    socket.unshift(chunk)
    this.http.call(this.server, socket)
    socket.resume()
  }
}

const EMPTY = Buffer.alloc(0)
const fronts = new WeakMap<http.Server, UpgradeFront>()

/** The first read's listener, shared: net.Socket knows its server (`socket.server`). */
function onFirstRead(this: Socket, chunk: Buffer): void {
  const front = fronts.get((this as Socket & { server: http.Server }).server)
  if (front !== undefined) front.firstRead(this, chunk)
}

/** A WebSocket upgrade, as Node's parser would see it (without Host, Node itself answers 400). */
function isUpgrade(parsed: RequestHead): boolean {
  const headers = parsed.headers
  // Connection lists the token "upgrade": what makes Node's parser treat a request as an upgrade.
  return headers.host !== undefined && isWebSocketToken(headers.upgrade) && listsToken(headers.connection, 'upgrade')
}

function noop(): void {}

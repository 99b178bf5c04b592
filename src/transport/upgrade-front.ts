import type * as http from 'node:http'
import type { Socket } from 'node:net'
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

  private constructor(
    private readonly server: http.Server,
    private readonly http: ConnectionListener,
    private readonly claimant: FrontClaimant,
    private readonly handshakeTimeout: number,
    private readonly maxHeaderSize: number,
  ) {}

  private readonly onConnection = (socket: Socket): void => {
    // Closures for the handshake only: they are gone with its first read.
    const timer = setTimeout(() => {
      socket.removeListener('data', onFirstRead)
      socket.removeListener('error', noop)
      // As Node's headersTimeout does: a client that sends nothing is answered 408.
      rejectUpgrade(socket, new HandshakeError(408, 'request timeout'))
    }, this.handshakeTimeout)
    timer.unref()
    const onFirstRead = (chunk: Buffer): void => {
      clearTimeout(timer)
      socket.removeListener('data', onFirstRead)
      socket.removeListener('error', noop)
      const parsed = parseRequestHead(chunk, this.maxHeaderSize)
      const taken = parsed !== undefined && isUpgrade(parsed) && this.claimant.takeParsedUpgrade(socket, chunk.subarray(parsed.end), parsed)
      if (!taken) this.toHttp(socket, chunk)
    }
    socket.on('error', noop)
    socket.on('data', onFirstRead)
  }

  /** The socket as Node's HTTP server would have got it, with the bytes read so far put back. */
  private toHttp(socket: Socket, chunk: Buffer): void {
    socket.pause()
    socket.unshift(chunk)
    this.http.call(this.server, socket)
    socket.resume()
  }
}

/** A WebSocket upgrade, as Node's parser would see it (without Host, Node itself answers 400). */
function isUpgrade(parsed: RequestHead): boolean {
  const headers = parsed.headers
  return headers.host !== undefined && isWebSocketToken(headers.upgrade) && listsUpgrade(headers.connection)
}

/** Connection lists the token "upgrade" (what makes Node's parser treat a request as an upgrade). */
function listsUpgrade(value: string | undefined): boolean {
  return value !== undefined && value.split(',').some((token) => token.trim().toLowerCase() === 'upgrade')
}

function noop(): void {}

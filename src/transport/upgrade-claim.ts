import type * as http from 'node:http'
import type * as https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { listsToken } from '../protocol/handshake'
import { HandshakeError } from '../protocol/handshake-error'
import { rejectUpgrade } from './reject-upgrade'
import type { ServerMetrics } from './server-metrics'

type HttpServer = http.Server | https.Server

/** A core Server as the shared upgrade listener of an HTTP server sees it. */
export interface UpgradeClaimant {
  /** True when this WebSocket upgrade is to one of the claimant's paths. */
  claims(req: http.IncomingMessage): boolean
  /** Answers the upgrade: 101, or an HTTP error (503 once the claimant is closing or closed). */
  handleUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void
  /** False once the claimant has started closing: a live claimant of the same path goes first. */
  readonly accepting: boolean
  /** Where a refusal of an upgrade nobody claimed is counted (the first claimant's). */
  readonly metrics?: ServerMetrics | null
}

/** Takes a claimed upgrade to its claimant another way (through a host's router and hooks, say). */
export type UpgradeDispatcher = (req: http.IncomingMessage, socket: Socket, head: Buffer) => void

const claims = new WeakMap<HttpServer, UpgradeClaim>()
/** HTTP servers whose `emit` is wrapped for intercept mode. */
const wrapped = new WeakSet<HttpServer>()

/**
 * The one 'upgrade' listener gatewire installs on an HTTP(S) server, shared by every core Server
 * attached to it. It hands a WebSocket upgrade to the first attached server whose path filter
 * claims it and leaves every other upgrade (other paths, `Upgrade: h2c` ...) to the server's
 * other 'upgrade' listeners. The rule when nobody else listens: an upgrade nobody claims is
 * answered here (404 for a WebSocket upgrade, 400 for any other protocol), because Node would
 * otherwise leave the socket open until it times out.
 *
 * In `intercept` mode (for peers that answer every upgrade themselves: `ws` with
 * `{ server, path }`, @fastify/websocket, Nest's WsAdapter) the claimed upgrades are not shown to
 * the other listeners at all: the HTTP server's `emit` is wrapped for the 'upgrade' event only.
 */
export class UpgradeClaim {
  /** The claim of `server`, created (and its listener installed) on first use. */
  static of(server: HttpServer): UpgradeClaim {
    let claim = claims.get(server)
    if (claim === undefined) {
      claim = new UpgradeClaim(server)
      claims.set(server, claim)
    }
    return claim
  }

  private readonly claimants: UpgradeClaimant[] = []
  /** How claimed upgrades reach a claimant on this server, when not straight to its handleUpgrade. */
  private readonly dispatchers = new Map<UpgradeClaimant, UpgradeDispatcher>()
  /** Claimed upgrades are hidden from the server's other 'upgrade' listeners. */
  intercepting = false

  private constructor(private readonly server: HttpServer) {
    server.on('upgrade', this.onUpgrade)
    server.on('close', this.onClose)
  }

  /**
   * Closed claimants answer 503 until the HTTP server itself closes; then they are dropped (an
   * HTTP server may listen again, with the live ones still attached).
   */
  private readonly onClose = (): void => {
    for (let i = this.claimants.length - 1; i >= 0; i--) {
      const claimant = this.claimants[i]
      if (claimant.accepting) continue
      this.claimants.splice(i, 1)
      this.dispatchers.delete(claimant)
    }
    if (this.claimants.length !== 0) return
    this.server.off('upgrade', this.onUpgrade)
    this.server.off('close', this.onClose)
    claims.delete(this.server)
  }

  add(claimant: UpgradeClaimant, options: { intercept?: boolean; dispatch?: UpgradeDispatcher } = {}): void {
    if (!this.claimants.includes(claimant)) this.claimants.push(claimant)
    if (options.dispatch !== undefined) this.dispatchers.set(claimant, options.dispatch)
    if (options.intercept === true && !this.intercepting) this.intercept()
  }

  /** Hands a claimed WebSocket upgrade to its claimant; false when nobody claims it. */
  dispatch(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!isWebSocketUpgrade(req)) return false
    let closing: UpgradeClaimant | undefined
    for (const claimant of this.claimants) {
      if (!claimant.claims(req)) continue
      if (claimant.accepting) {
        const dispatch = this.dispatchers.get(claimant)
        if (dispatch !== undefined) dispatch(req, socket as Socket, head)
        else claimant.handleUpgrade(req, socket as Socket, head)
        return true
      }
      closing ??= claimant
    }
    if (closing === undefined) return false
    // Ours, but shutting down: 503, never the host's routes (a peer would answer 200 or 404).
    closing.handleUpgrade(req, socket as Socket, head)
    return true
  }

  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!this.intercepting && this.dispatch(req, socket, head)) return
    // Someone else listens: the upgrade is theirs, and they answer it.
    if (this.server.listenerCount('upgrade') > 1) return
    socket.on('error', noop)
    const [first] = this.claimants
    rejectUpgrade(
      socket as Socket,
      isWebSocketUpgrade(req)
        ? new HandshakeError(404, `no WebSocket endpoint at ${pathOf(req)}`)
        : new HandshakeError(400, `unsupported upgrade: ${String(req.headers.upgrade)}`),
      first?.metrics ?? null,
    )
  }

  private intercept(): void {
    this.intercepting = true
    const server = this.server
    // The wrapper reads the server's current claim: one per server, even across claims.
    if (wrapped.has(server)) return
    wrapped.add(server)
    const emit = server.emit
    server.emit = function (this: HttpServer, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'upgrade') {
        const [req, socket, head] = args as [http.IncomingMessage, Duplex, Buffer]
        const claim = claims.get(server)
        if (claim !== undefined && claim.intercepting && claim.dispatch(req, socket, head)) return true
      }
      return (emit as (this: HttpServer, event: string | symbol, ...args: unknown[]) => boolean).call(this, event, ...args)
    } as typeof server.emit
  }
}

/** RFC 6455 §4.2.1: `Upgrade` lists the token "websocket" (case-insensitively). */
export function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  return isWebSocketToken(req.headers.upgrade)
}

/** An `Upgrade` header value that lists "websocket". */
export function isWebSocketToken(upgrade: string | string[] | undefined): boolean {
  return typeof upgrade === 'string' && listsToken(upgrade, 'websocket')
}

/** The pathname of a request target, without the query (still percent-encoded). */
export function pathOf(req: http.IncomingMessage): string {
  return pathOfUrl(req.url ?? '/')
}

/** The pathname of a request target. */
export function pathOfUrl(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

function noop(): void {}

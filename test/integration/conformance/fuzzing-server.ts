// Autobahn's fuzzingserver role, for testing a client: an HTTP server whose WebSocket endpoints are
//   /getCaseCount                      sends the number of cases as a text message, then closes
//   /runCase?case=i&agent=name         runs case i (1-based) against the connecting client
//   /updateReports?agent=name          closes; the agent's results are then complete
// Server frames are unmasked; the client's must be masked (a violation fails the case).
import * as http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { CaseRun, summarize, type CaseDefinition, type CaseResult } from './case-run'
import { answerClientOffer, PeerDeflate } from './deflate'
import { FuzzingPeer, type PeerHandler, type PeerOptions } from './fuzzing-peer'
import { acceptKey } from './wire'

export interface FuzzingServerOptions extends Omit<PeerOptions, 'role'> {
  onResult?: (result: CaseResult) => void
}

export class FuzzingServer {
  private readonly http: http.Server
  private readonly results = new Map<string, CaseResult[]>()
  private readonly running = new Set<Promise<void>>()
  private readonly reportWaiters = new Map<string, Array<() => void>>()
  private readonly sockets = new Set<Socket>()
  private readonly reported = new Set<string>()

  constructor(
    private readonly cases: readonly CaseDefinition[],
    private readonly options: FuzzingServerOptions = {},
  ) {
    this.http = http.createServer((_request, response) => {
      response.writeHead(426, { 'Content-Type': 'text/plain' }).end('WebSocket fuzzing server\n')
    })
    this.http.on('upgrade', (request: http.IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(request, socket, head))
  }

  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen(port, host, () => {
        const address = this.http.address() as AddressInfo
        resolve(`ws://${host}:${address.port}`)
      })
    })
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    return new Promise((resolve) => this.http.close(() => resolve()))
  }

  /** Resolves with the agent's results once it asked for /updateReports and its cases are graded. */
  reports(agent: string): Promise<CaseResult[]> {
    return new Promise((resolve) => {
      if (this.reported.has(agent)) return resolve(this.resultsOf(agent))
      const waiters = this.reportWaiters.get(agent) ?? []
      waiters.push(() => resolve(this.resultsOf(agent)))
      this.reportWaiters.set(agent, waiters)
    })
  }

  resultsOf(agent: string): CaseResult[] {
    const order = new Map(this.cases.map((definition, i) => [definition.id, i]))
    return [...(this.results.get(agent) ?? [])].sort((a, b) => order.get(a.id)! - order.get(b.id)!)
  }

  private onUpgrade(request: http.IncomingMessage, socket: Socket, head: Buffer): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    const url = new URL(request.url ?? '/', 'ws://fuzzer')
    const refuse = (status: number, reason: string): void => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    const key = request.headers['sec-websocket-key']
    if (
      request.method !== 'GET' ||
      (request.headers.upgrade ?? '').toLowerCase() !== 'websocket' ||
      !/(^|,)\s*upgrade\s*(,|$)/i.test(request.headers.connection ?? '') ||
      typeof key !== 'string' ||
      Buffer.from(key, 'base64').length !== 16
    ) {
      return refuse(400, 'Bad Request')
    }
    if (request.headers['sec-websocket-version'] !== '13') return refuse(426, 'Upgrade Required')
    const agent = url.searchParams.get('agent') ?? ''
    let handler: PeerHandler & { attach(peer: FuzzingPeer): void }
    let onLost: () => void = () => {}
    let deflate: { response: string; params: ConstructorParameters<typeof PeerDeflate>[0] } | undefined
    if (url.pathname === '/runCase') {
      const index = Number(url.searchParams.get('case'))
      const definition = Number.isInteger(index) ? this.cases[index - 1] : undefined
      if (definition === undefined) return refuse(404, 'Not Found')
      if (agent === '') return refuse(400, 'Bad Request')
      const run = new CaseRun(definition)
      handler = run
      // Groups 12, 13: answer the client's permessage-deflate offer as the case asks.
      const header = request.headers['sec-websocket-extensions']
      if (definition.deflate !== undefined) deflate = answerClientOffer(Array.isArray(header) ? header.join(',') : header, definition.deflate.offers[0])
      onLost = () => {
        const result = summarize(run, 'client')
        const list = this.results.get(agent) ?? []
        list.push(result)
        this.results.set(agent, list)
        this.options.onResult?.(result)
      }
    } else if (url.pathname === '/getCaseCount') {
      handler = new Control((peer) => {
        peer.sendMessage(JSON.stringify(this.cases.length))
        peer.sendClose()
      })
    } else if (url.pathname === '/updateReports') {
      handler = new Control((peer) => peer.sendClose())
      onLost = () => void this.reportsRequested(agent)
    } else {
      return refuse(404, 'Not Found')
    }
    socket.write(
      [
        'HTTP/1.1 101 Switching Protocols',
        'Server: gatewire-conformance',
        'Upgrade: WebSocket', // capitalised, as Autobahn's server answers
        'Connection: Upgrade',
        `Sec-WebSocket-Accept: ${acceptKey(key)}`,
        ...(deflate === undefined ? [] : [`Sec-WebSocket-Extensions: ${deflate.response}`]),
        '',
        '',
      ].join('\r\n'),
    )
    const peer = new FuzzingPeer(socket, { ...this.options, role: 'server', deflate: deflate === undefined ? undefined : new PeerDeflate(deflate.params) }, handler)
    handler.attach(peer)
    const lost = peer.done
    this.running.add(lost)
    void lost.then(() => {
      this.running.delete(lost)
      onLost()
    })
    peer.start(head)
  }

  private async reportsRequested(agent: string): Promise<void> {
    // Cases still being graded (a client may connect again before our side saw TCP close).
    while (this.running.size !== 0) await Promise.race([...this.running])
    this.reported.add(agent)
    const waiters = this.reportWaiters.get(agent) ?? []
    this.reportWaiters.delete(agent)
    for (const wake of waiters) wake()
  }
}

/** The control endpoints: send something on open, then close. */
class Control implements PeerHandler {
  private peer!: FuzzingPeer
  constructor(private readonly open: (peer: FuzzingPeer) => void) {}
  attach(peer: FuzzingPeer): void {
    this.peer = peer
  }
  onOpen(): void {
    this.open(this.peer)
  }
  onMessage(): void {}
  onPong(): void {}
  onConnectionLost(): void {}
}

// Autobahn's fuzzingclient role: connects to a server under test once per case, over a raw TCP
// socket with our own opening handshake, and grades what the server does.
import { randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { CaseRun, notOpened, summarize, type CaseDefinition, type CaseResult } from './case-run'
import { acceptServerAnswer, clientOffer, PeerDeflate } from './deflate'
import { FuzzingPeer, type PeerOptions } from './fuzzing-peer'
import { acceptKey } from './wire'

export interface FuzzingClientOptions extends Omit<PeerOptions, 'role'> {
  /** Milliseconds allowed for the opening handshake. Default 5000. */
  handshakeTimeout?: number
  /** Called after each case (progress output). */
  onResult?: (result: CaseResult) => void
}

/** Runs `cases` one after the other against the server at `url` (ws://host:port/path). */
export async function runServerCases(url: string, cases: readonly CaseDefinition[], options: FuzzingClientOptions = {}): Promise<CaseResult[]> {
  const results: CaseResult[] = []
  for (const definition of cases) {
    const result = await runServerCase(url, definition, options)
    results.push(result)
    options.onResult?.(result)
  }
  return results
}

export async function runServerCase(url: string, definition: CaseDefinition, options: FuzzingClientOptions = {}): Promise<CaseResult> {
  let opened: { socket: net.Socket; head: Buffer; extensions: string | undefined }
  const offers = definition.deflate?.offers
  let deflate: PeerDeflate | undefined
  try {
    opened = await openingHandshake(new URL(url), options.handshakeTimeout ?? 5000, offers === undefined ? undefined : clientOffer(offers))
    if (offers !== undefined) {
      try {
        deflate = new PeerDeflate(acceptServerAnswer(opened.extensions, offers))
      } catch (error) {
        opened.socket.destroy()
        throw error
      }
    } else if (opened.extensions !== undefined) {
      opened.socket.destroy()
      throw new Error(`the server accepted an extension that was not offered: ${opened.extensions}`)
    }
  } catch (error) {
    return notOpened(definition, 'server', (error as Error).message)
  }
  const run = new CaseRun(definition)
  const peer = new FuzzingPeer(opened.socket, { ...options, role: 'client', deflate }, run)
  run.attach(peer)
  peer.start(opened.head)
  await peer.done
  return summarize(run, 'server')
}

/** Connects and performs the client's side of the opening handshake (RFC 6455 §4.1). */
function openingHandshake(url: URL, timeout: number, extensions?: string): Promise<{ socket: net.Socket; head: Buffer; extensions: string | undefined }> {
  return new Promise((resolve, reject) => {
    const port = Number(url.port || 80)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const key = randomBytes(16).toString('base64')
    const socket = net.connect({ host, port })
    const chunks: Buffer[] = []
    const timer = setTimeout(() => fail(new Error('opening handshake timed out')), timeout)
    const fail = (error: Error): void => {
      clearTimeout(timer)
      socket.removeAllListeners()
      socket.on('error', () => {})
      socket.destroy()
      reject(error)
    }
    socket.on('error', fail)
    socket.on('close', () => fail(new Error('connection closed during the opening handshake')))
    socket.on('connect', () => {
      socket.write(
        [
          // As Autobahn's client writes it: "WebSocket" capitalised, no-cache headers, Host with port.
          `GET ${url.pathname || '/'}${url.search} HTTP/1.1`,
          'User-Agent: gatewire-conformance',
          `Host: ${url.hostname}:${port}`,
          'Upgrade: WebSocket',
          'Connection: Upgrade',
          'Pragma: no-cache',
          'Cache-Control: no-cache',
          `Sec-WebSocket-Key: ${key}`,
          'Sec-WebSocket-Version: 13',
          ...(extensions === undefined ? [] : [`Sec-WebSocket-Extensions: ${extensions}`]),
          '',
          '',
        ].join('\r\n'),
      )
    })
    socket.on('data', function onData(chunk: Buffer) {
      chunks.push(chunk)
      const all = Buffer.concat(chunks)
      const end = all.indexOf('\r\n\r\n')
      if (end === -1) {
        if (all.length > 16384) fail(new Error('response head too large'))
        return
      }
      const lines = all.subarray(0, end).toString('latin1').split('\r\n')
      const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0])
      const headers = new Map<string, string>()
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':')
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
      }
      if (!status || status[1] !== '101') return fail(new Error(`server answered ${lines[0]}`))
      if ((headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') return fail(new Error('101 without Upgrade: websocket'))
      if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.get('connection') ?? '')) return fail(new Error('101 without Connection: Upgrade'))
      if (headers.get('sec-websocket-accept') !== acceptKey(key)) return fail(new Error('wrong Sec-WebSocket-Accept'))
      clearTimeout(timer)
      socket.pause()
      socket.removeAllListeners()
      resolve({ socket, head: all.subarray(end + 4), extensions: headers.get('sec-websocket-extensions') })
    })
  })
}

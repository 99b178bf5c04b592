import * as http from 'node:http'
import * as https from 'node:https'
import { isIP, type Socket } from 'node:net'
// From the defining modules, as everywhere in transport (see connection.ts).
import { createClientKey, isToken, validateServerResponse } from '../protocol/handshake'
import { HandshakeError } from '../protocol/handshake-error'
import { CloseCode } from '../protocol/constants'
import { ProtocolError } from '../protocol/protocol-error'
import { completeCompression, offerCompression } from './compression'
import { Connection } from './connection'
import { resolveConnectionOptions, type ClientOptions } from './options'

/**
 * Opens a client connection to a `ws://` or `wss://` URL. The returned Connection is
 * CONNECTING until the server's 101 has been verified (Sec-WebSocket-Accept, and a subprotocol
 * we offered); then it emits 'connect' (and `onConnect` runs). A failed handshake emits 'error'
 * (a HandshakeError with the server's status, when someone listens) and 'close' with 1006.
 */
export function connect(url: string | URL, options: ClientOptions = {}, onConnect?: () => void): Connection {
  const target = new URL(url)
  const secure = target.protocol === 'wss:' || target.protocol === 'https:'
  if (!secure && target.protocol !== 'ws:' && target.protocol !== 'http:') {
    throw new SyntaxError(`unsupported URL scheme ${target.protocol}: use ws:// or wss://`)
  }
  if (target.hash !== '') throw new SyntaxError('a WebSocket URL must not have a fragment (RFC 6455 §3)')
  const protocols = [...(options.protocols ?? [])]
  for (const protocol of protocols) {
    if (!isToken(protocol)) throw new SyntaxError(`invalid subprotocol name ${JSON.stringify(protocol)}`)
  }
  if (new Set(protocols).size !== protocols.length) throw new SyntaxError('a subprotocol is offered twice')
  const resolved = resolveConnectionOptions(options)
  const path = target.pathname + target.search
  const connection = new Connection({ role: 'client', options: resolved, path, headers: {}, protocols })
  if (onConnect !== undefined) connection.once('connect', onConnect)

  const key = createClientKey()
  const headers: Record<string, string> = {
    ...(options.extraHeaders ?? {}),
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  }
  if (protocols.length !== 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ')
  const extensionOffer = offerCompression(options.compression)
  if (extensionOffer !== undefined) headers['Sec-WebSocket-Extensions'] = extensionOffer
  const host = target.hostname.replace(/^\[|\]$/g, '')
  const requestOptions: https.RequestOptions = {
    host,
    port: target.port === '' ? (secure ? 443 : 80) : Number(target.port),
    path,
    headers,
    agent: false,
    ...(secure ? options.tls : {}),
    // RFC 6066 §3: SNI carries host names only, never an IP address literal.
    ...(secure && !isIP(host) ? { servername: options.tls?.servername ?? host } : {}),
  }
  const request = secure ? https.request(requestOptions) : http.request(requestOptions)
  const timeout = setTimeout(() => {
    request.destroy()
    connection.failHandshake(new HandshakeError(0, 'opening handshake timed out'))
  }, options.handshakeTimeout ?? 10_000)
  timeout.unref()
  const fail = (error: Error): void => {
    clearTimeout(timeout)
    connection.failHandshake(error)
  }
  connection.onAbort = () => {
    clearTimeout(timeout)
    request.destroy()
  }
  request.on('error', fail)
  request.on('response', (response) => {
    // The refusal's status, headers and the start of its body (bounded: a server may send any
    // amount), still under the handshake timeout.
    const chunks: Buffer[] = []
    let size = 0
    const refuse = (): void => {
      request.destroy()
      const status = response.statusCode ?? 0
      const body = Buffer.concat(chunks).subarray(0, MAX_REFUSAL_BODY).toString('utf8')
      fail(new HandshakeError(status, `server refused the upgrade with HTTP ${status}`, flatHeaders(response.headers), body))
    }
    response.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size >= MAX_REFUSAL_BODY) refuse()
    })
    response.once('end', refuse)
    response.once('error', refuse)
    response.once('aborted', refuse)
  })
  request.on('upgrade', (response: http.IncomingMessage, socket: Socket, head: Buffer) => {
    clearTimeout(timeout)
    connection.onAbort = null
    if (connection.readyState !== Connection.CONNECTING) {
      socket.destroy()
      return
    }
    try {
      connection.protocol = validateServerResponse(response.statusCode, response.headers, key, protocols, extensionOffer !== undefined)
    } catch (error) {
      socket.destroy()
      fail(error as Error)
      return
    }
    connection.headers = response.headers
    if (extensionOffer !== undefined) {
      const compression = completeCompression(response.headers['sec-websocket-extensions'], options.compression)
      if (typeof compression === 'string') {
        // RFC 6455 §9.1, RFC 7692 §5: an answer the client cannot accept fails the connection.
        connection.failNegotiation(socket, new ProtocolError(CloseCode.MandatoryExtension, compression))
        return
      }
      if (compression !== undefined) connection.compression = compression
    }
    connection.attach(socket, head)
  })
  request.end()
  return connection
}

/**
 * Opens a client connection and resolves with it once open (the server's 101 verified); rejects
 * with the `HandshakeError` of a refused handshake (its `status`, `headers` and `body`) or the
 * network error.
 *
 * @example
 * const conn = await connectAsync('ws://localhost:8080/chat', { protocols: ['chat.v1'] })
 * conn.sendText('hi')
 */
export function connectAsync(url: string | URL, options: ClientOptions = {}): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let connection: Connection
    try {
      connection = connect(url, options)
    } catch (error) {
      return reject(error)
    }
    let failure: Error | undefined
    const onError = (error: Error): void => {
      failure ??= error
    }
    const onClose = (code: number): void => {
      connection.off('error', onError)
      reject(failure ?? new Error(`the connection closed (${code}) before it opened`))
    }
    connection.on('error', onError)
    connection.once('close', onClose)
    connection.once('connect', () => {
      connection.off('error', onError)
      connection.off('close', onClose)
      resolve(connection)
    })
  })
}

/** The most of a refusal's body kept on its HandshakeError. */
const MAX_REFUSAL_BODY = 4096

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return flat
}

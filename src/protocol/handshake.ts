import * as crypto from 'node:crypto'
import { WEBSOCKET_GUID } from './constants'
import { HandshakeError } from './handshake-error'

/** Header values as Node's http module gives them. */
export type HeaderValue = string | string[] | undefined
export type HeaderBag = Record<string, HeaderValue>

/** crypto.hash (Node ≥ 20.12): no Hash object per handshake. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash

/** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  return oneShotHash !== undefined
    ? oneShotHash('sha1', key + WEBSOCKET_GUID, 'base64')
    : crypto.createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64')
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 §4.1). */
export function createClientKey(): string {
  return crypto.randomBytes(16).toString('base64')
}

// RFC 7230 §3.2.6 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** True when `value` is an RFC 7230 token (what a subprotocol name must be, RFC 6455 §4.1). */
export function isToken(value: string): boolean {
  return TOKEN.test(value)
}

function single(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value.join(',') : value
}

/**
 * True when a comma-separated header lists `token` (lower-case letters; compared
 * case-insensitively, each element without surrounding white space). Scans in place: no
 * strings or arrays per handshake (what a burst of handshakes allocates is young-generation
 * memory the process holds a while).
 */
export function listsToken(value: HeaderValue, token: string): boolean {
  const text = single(value)
  if (text === undefined) return false
  let start = 0
  while (start <= text.length) {
    let end = text.indexOf(',', start)
    if (end === -1) end = text.length
    let from = start
    let to = end
    while (from < to && isTrimmed(text.charCodeAt(from))) from++
    while (to > from && isTrimmed(text.charCodeAt(to - 1))) to--
    if (to - from === token.length && equalsLowerCase(text, from, token)) return true
    start = end + 1
  }
  return false
}

/** What String#trim removes, as far as a header's printable ASCII goes (plus the rest of Latin-1's white space). */
function isTrimmed(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0xfeff || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
}

/** `value` from `at` holds `lower` (lower-case ASCII letters), ignoring the case of ASCII letters. */
function equalsLowerCase(value: string, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = value.charCodeAt(at + i)
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(i)) return false
  }
  return true
}

/**
 * Parses Sec-WebSocket-Protocol: a comma-separated list of tokens with any optional white
 * space; repeated headers are joined. Throws HandshakeError(400) on an empty, invalid or
 * repeated token.
 */
export function parseProtocolHeader(value: HeaderValue): string[] {
  const text = single(value)
  if (text === undefined) return []
  const protocols: string[] = []
  for (const part of text.split(',')) {
    const protocol = part.replace(/^[ \t]+|[ \t]+$/g, '')
    if (protocol === '' && text.trim() === '') continue
    if (!isToken(protocol)) {
      throw new HandshakeError(400, `invalid subprotocol ${JSON.stringify(protocol)} in Sec-WebSocket-Protocol`)
    }
    if (protocols.includes(protocol)) {
      throw new HandshakeError(400, `subprotocol ${JSON.stringify(protocol)} offered twice`)
    }
    protocols.push(protocol)
  }
  return protocols
}

/**
 * Picks a subprotocol from what the client offered. `order: 'client'` (default) takes the
 * client's most preferred one the server supports; `'server'` the server's most preferred one
 * the client offered. Never returns a protocol the client did not offer.
 */
export function negotiateProtocol(
  offered: readonly string[],
  supported: readonly string[],
  order: 'client' | 'server' = 'client',
): string | undefined {
  if (order === 'server') return supported.find((protocol) => offered.includes(protocol))
  return offered.find((protocol) => supported.includes(protocol))
}

export interface ValidUpgrade {
  key: string
  protocols: string[]
}

/**
 * Validates an opening handshake request (RFC 6455 §4.2.1). Throws HandshakeError with the
 * HTTP status to answer: 400 for a malformed request, 426 (+ Sec-WebSocket-Version: 13) for
 * another protocol version.
 */
export function validateUpgradeRequest(method: string | undefined, httpVersion: string, headers: HeaderBag): ValidUpgrade {
  if (method !== 'GET') throw new HandshakeError(400, 'the upgrade request must use GET')
  // RFC 6455 §4.1: the request MUST be HTTP/1.1 or higher.
  if (httpVersion !== '1.1' && !isHttp11OrHigher(httpVersion)) {
    throw new HandshakeError(400, 'the upgrade request must be HTTP/1.1 or higher')
  }
  if (single(headers.host) === undefined) throw new HandshakeError(400, 'missing Host header')
  if (!listsToken(headers.upgrade, 'websocket')) {
    throw new HandshakeError(400, 'missing or invalid Upgrade: websocket header')
  }
  if (!listsToken(headers.connection, 'upgrade')) {
    throw new HandshakeError(400, 'missing or invalid Connection: Upgrade header')
  }
  const version = single(headers['sec-websocket-version'])
  if (version === undefined || version.trim() !== '13') {
    throw new HandshakeError(426, 'unsupported WebSocket version: only 13 is supported', {
      'Sec-WebSocket-Version': '13',
    })
  }
  const key = single(headers['sec-websocket-key'])?.trim()
  // RFC 6455 §4.2.1: a base64-encoded value that, decoded, is 16 bytes long.
  if (key === undefined || !/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    throw new HandshakeError(400, 'missing or invalid Sec-WebSocket-Key header')
  }
  const protocols = parseProtocolHeader(headers['sec-websocket-protocol'])
  return { key, protocols }
}

function isHttp11OrHigher(httpVersion: string): boolean {
  const [major, minor] = httpVersion.split('.').map(Number)
  return major > 1 || (major === 1 && minor >= 1)
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

function headerLines(headers: Record<string, string>): string {
  let lines = ''
  // for-in with an own-key check rather than Object.keys: no array per handshake.
  for (const name in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, name)) continue
    const value = String(headers[name])
    // Refuse to emit header injection from user-provided values.
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new TypeError(`invalid header ${name}`)
    lines += `${name}: ${value}\r\n`
  }
  return lines
}

/** The 101 response for an accepted upgrade. */
export function buildAcceptResponse(key: string, protocol?: string, extraHeaders: Record<string, string> = {}): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (protocol !== undefined ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
    headerLines(extraHeaders) +
    '\r\n'
  )
}

/** An HTTP error response refusing an upgrade; the connection is closed after it. */
export function buildRejectResponse(status: number, message = '', headers: Record<string, string> = {}): string {
  const text = STATUS_TEXT[status] ?? 'Error'
  const body = message === '' ? text : message
  return (
    `HTTP/1.1 ${status} ${text}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    headerLines(headers) +
    '\r\n' +
    body
  )
}

/**
 * Checks the server's answer to a client handshake (RFC 6455 §4.1): status 101, Upgrade and
 * Connection headers, the Sec-WebSocket-Accept matching our key, and a subprotocol that we
 * offered (or none). Returns the chosen subprotocol.
 */
export function validateServerResponse(
  status: number | undefined,
  headers: HeaderBag,
  key: string,
  offered: readonly string[],
  extensionsOffered = false,
): string | undefined {
  if (status !== 101) throw new HandshakeError(status ?? 0, `server answered HTTP ${status} instead of 101`)
  if (!listsToken(headers.upgrade, 'websocket')) throw new HandshakeError(0, 'server response lacks Upgrade: websocket')
  if (!listsToken(headers.connection, 'upgrade')) throw new HandshakeError(0, 'server response lacks Connection: Upgrade')
  if (single(headers['sec-websocket-accept'])?.trim() !== acceptKey(key)) {
    throw new HandshakeError(0, 'server sent a wrong Sec-WebSocket-Accept')
  }
  if (!extensionsOffered && headers['sec-websocket-extensions'] !== undefined) {
    throw new HandshakeError(0, 'server selected an extension the client did not offer')
  }
  const protocolHeader = single(headers['sec-websocket-protocol'])
  if (protocolHeader === undefined) return undefined
  const protocol = protocolHeader.trim()
  if (!offered.includes(protocol)) {
    throw new HandshakeError(0, `server selected subprotocol ${JSON.stringify(protocol)} that the client did not offer`)
  }
  return protocol
}

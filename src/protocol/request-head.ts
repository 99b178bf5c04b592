/** A request head that parseRequestHead understood in full: `GET <target> HTTP/1.1` and its headers. */
export interface RequestHead {
  /** The request target as sent (origin-form: starts with `/`). */
  url: string
  /** The bytes it was parsed from (rawHeadersOf reads them again). */
  bytes: Buffer
  /** Header names in lower case, each with its value (every name occurs once). */
  headers: Record<string, string>
  /** Offset of the first byte after the head's empty line. */
  end: number
}

const CR = 0x0d
const LF = 0x0a
const SP = 0x20
const HTAB = 0x09
const COLON = 0x3a
const MAX_HEADERS = 64

/** RFC 7230 §3.2.6 tchar. */
const TOKEN = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1
/** RFC 3986 pchar, `/` and `?`: what an origin-form target is made of (anything else is left to Node). */
const TARGET = new Uint8Array(128)
for (const c of "-._~!$&'()*+,;=:@/?%0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TARGET[c.charCodeAt(0)] = 1

/**
 * Makes the headers object: a plain object (Object.prototype, as `{}`) made by a constructor,
 * so that V8 sizes it for the properties such objects get (in-object slack tracking) instead of
 * `{}`'s four in-object slots and a separate property array beyond them (40 B more an idle
 * connection would keep with its headers).
 */
const HeaderObject = function HeaderObject(): void {} as unknown as new () => Record<string, string>
HeaderObject.prototype = Object.prototype

/** Header names as browsers and common clients spell them, with their lower-case form: no toLowerCase() copy per handshake. */
const LOWER_CASE = new Map(
  [
    'Host', 'Upgrade', 'Connection', 'Origin', 'Pragma', 'Cache-Control', 'User-Agent', 'Cookie',
    'Accept-Encoding', 'Accept-Language', 'Authorization', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version',
    'Sec-WebSocket-Extensions', 'Sec-WebSocket-Protocol',
  ].map((name) => [name, name.toLowerCase()]),
)

const REQUEST_LINE_START = Buffer.from('GET /', 'latin1')
const REQUEST_LINE_END = Buffer.from(' HTTP/1.1\r\n', 'latin1')

/**
 * The head's header names as sent and their values without surrounding white space
 * ([name, value, name, value ...], Node's `rawHeaders`): parsed again, only when asked for.
 */
export function rawHeadersOf(head: RequestHead): string[] {
  const rawHeaders: string[] = []
  parseRequestHead(head.bytes, Number.POSITIVE_INFINITY, rawHeaders)
  return rawHeaders
}

/**
 * Parses the head of an HTTP/1.1 GET request that arrived whole in `chunk`, for a server that
 * answers WebSocket upgrades without Node's HTTP parser. It accepts a strict subset of what
 * RFC 7230 allows and returns undefined for everything else — an incomplete head, a head of
 * `maxHeaderSize` bytes or more, another method or version, a target that is not plain
 * origin-form, a header that is not `token: printable ASCII`, a repeated header, a body
 * (Content-Length, Transfer-Encoding), obsolete line folding, bare CR or LF, more than 64
 * headers — so that the caller can hand those bytes to Node's parser, which decides (and
 * answers 400, 431 ...) exactly as it would have without this one. `rawHeaders`, when given,
 * receives the names as sent and the values.
 */
export function parseRequestHead(chunk: Buffer, maxHeaderSize: number, rawHeaders?: string[]): RequestHead | undefined {
  const limit = Math.min(chunk.length, maxHeaderSize - 1)
  if (limit < REQUEST_LINE_START.length || chunk.compare(REQUEST_LINE_START, 0, REQUEST_LINE_START.length, 0, REQUEST_LINE_START.length) !== 0) {
    return undefined
  }
  let i = REQUEST_LINE_START.length - 1 // the target starts at its '/'
  const targetStart = i
  while (i < limit) {
    const c = chunk[i]
    if (c >= 128 || TARGET[c] === 0) break
    i++
  }
  if (i + REQUEST_LINE_END.length > limit) return undefined
  if (chunk.compare(REQUEST_LINE_END, 0, REQUEST_LINE_END.length, i, i + REQUEST_LINE_END.length) !== 0) return undefined
  const url = chunk.latin1Slice(targetStart, i)
  i += REQUEST_LINE_END.length
  const headers = new HeaderObject()
  let count = 0
  for (;;) {
    if (i + 1 >= limit) return undefined
    if (chunk[i] === CR) {
      // The empty line: the head ends here.
      if (chunk[i + 1] !== LF) return undefined
      return { url, headers, end: i + 2, bytes: chunk }
    }
    if (count++ === MAX_HEADERS) return undefined
    const nameStart = i
    while (i < limit && chunk[i] < 128 && TOKEN[chunk[i]] === 1) i++
    if (i === nameStart || i >= limit || chunk[i] !== COLON) return undefined
    const nameEnd = i++
    while (i < limit && (chunk[i] === SP || chunk[i] === HTAB)) i++
    const valueStart = i
    let valueEnd = i
    while (i < limit) {
      const c = chunk[i]
      if (c === CR) break
      if (c !== HTAB && (c < SP || c > 0x7e)) return undefined
      i++
      if (c !== SP && c !== HTAB) valueEnd = i
    }
    if (i + 1 >= limit || chunk[i + 1] !== LF) return undefined
    i += 2
    const name = chunk.latin1Slice(nameStart, nameEnd)
    const lower = LOWER_CASE.get(name) ?? name.toLowerCase()
    if (lower in headers || lower === 'content-length' || lower === 'transfer-encoding') return undefined
    const value = chunk.latin1Slice(valueStart, valueEnd)
    if (rawHeaders !== undefined) rawHeaders.push(name, value)
    headers[lower] = value
  }
}

import { expect } from 'chai'
import { HandshakeError } from '../../src/protocol/handshake-error'
import {
  acceptKey,
  buildAcceptResponse,
  buildRejectResponse,
  createClientKey,
  isToken,
  listsToken,
  negotiateProtocol,
  parseProtocolHeader,
  validateServerResponse,
  validateUpgradeRequest,
  type HeaderBag,
} from '../../src/protocol/handshake'

// RFC 6455 §1.3 and §4.2.2.
const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='

function request(overrides: HeaderBag = {}): HeaderBag {
  const headers: HeaderBag = {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': RFC_KEY,
    'sec-websocket-version': '13',
    ...overrides,
  }
  for (const name of Object.keys(headers)) if (headers[name] === undefined) delete headers[name]
  return headers
}

/** Calls `fn` and returns the HandshakeError it throws. */
function handshakeError(fn: () => unknown): HandshakeError {
  try {
    fn()
  } catch (error) {
    expect(error).to.be.instanceOf(HandshakeError)
    return error as HandshakeError
  }
  expect.fail('expected a HandshakeError')
}

/** Parses an HTTP response head into status and lower-case headers, as Node would give them. */
function parseResponse(text: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, body] = text.split('\r\n\r\n')
  const [statusLine, ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body }
}

describe('handshake helpers', () => {
  describe('acceptKey', () => {
    it('computes the RFC 6455 example: dGhlIHNhbXBsZSBub25jZQ== → s3pPLMBiTxaQ9kYGzzhZRbK+xOo=', () => {
      expect(acceptKey(RFC_KEY)).to.equal(RFC_ACCEPT)
    })
  })

  describe('createClientKey', () => {
    it('creates a base64 key of 16 random bytes that a server accepts', () => {
      const key = createClientKey()
      expect(key).to.match(/^[A-Za-z0-9+/]{22}==$/)
      expect(Buffer.from(key, 'base64')).to.have.length(16)
      expect(validateUpgradeRequest('GET', '1.1', request({ 'sec-websocket-key': key })).key).to.equal(key)
    })

    it('creates a different key each time', () => {
      const keys = new Set(Array.from({ length: 100 }, () => createClientKey()))
      expect(keys.size).to.equal(100)
    })
  })

  describe('validateUpgradeRequest', () => {
    it('accepts the RFC 6455 §1.2 request and returns its key and offered subprotocols', () => {
      const upgrade = validateUpgradeRequest(
        'GET',
        '1.1',
        request({ origin: 'http://example.com', 'sec-websocket-protocol': 'chat, superchat' }),
      )
      expect(upgrade).to.deep.equal({ key: RFC_KEY, protocols: ['chat', 'superchat'] })
    })

    it('accepts header values in any case and Connection lists with other tokens', () => {
      const upgrade = validateUpgradeRequest('GET', '1.1', request({ upgrade: 'WebSocket', connection: 'keep-alive, upgrade' }))
      expect(upgrade.protocols).to.deep.equal([])
    })

    it('accepts single-token Upgrade and Connection values in any case', () => {
      for (const [upgrade, connection] of [
        ['websocket', 'Upgrade'],
        ['WEBSOCKET', 'UPGRADE'],
        ['webSocket', 'upgrade'],
      ]) {
        expect(validateUpgradeRequest('GET', '1.1', request({ upgrade, connection })).key).to.equal(RFC_KEY)
      }
    })

    it('accepts HTTP versions above 1.1', () => {
      expect(validateUpgradeRequest('GET', '2.0', request()).key).to.equal(RFC_KEY)
    })

    const bad: Array<[string, string | undefined, string, HeaderBag]> = [
      ['a POST request', 'POST', '1.1', request()],
      ['a request without a method', undefined, '1.1', request()],
      ['an HTTP/1.0 request', 'GET', '1.0', request()],
      ['a request without Host', 'GET', '1.1', request({ host: undefined })],
      ['a request without Upgrade', 'GET', '1.1', request({ upgrade: undefined })],
      ['a request upgrading to something else', 'GET', '1.1', request({ upgrade: 'h2c' })],
      ['an Upgrade token of the same length but another letter', 'GET', '1.1', request({ upgrade: 'websockeu' })],
      ['an Upgrade token differing outside the letters', 'GET', '1.1', request({ upgrade: 'websock\x05t' })],
      ['an Upgrade token with a prefix', 'GET', '1.1', request({ upgrade: 'websockets' })],
      ['a Connection token of the same length but another letter', 'GET', '1.1', request({ connection: 'upgrada' })],
      ['an HTTP/0.9 request', 'GET', '0.9', request()],
      ['a request without Connection', 'GET', '1.1', request({ connection: undefined })],
      ['a request with Connection: keep-alive only', 'GET', '1.1', request({ connection: 'keep-alive' })],
      ['a request without Sec-WebSocket-Key', 'GET', '1.1', request({ 'sec-websocket-key': undefined })],
      ['a key that is not base64', 'GET', '1.1', request({ 'sec-websocket-key': 'not a base64 key at all!' })],
      ['a key of 15 bytes', 'GET', '1.1', request({ 'sec-websocket-key': Buffer.alloc(15).toString('base64') })],
      ['a key of 17 bytes', 'GET', '1.1', request({ 'sec-websocket-key': Buffer.alloc(17).toString('base64') })],
      ['an invalid subprotocol', 'GET', '1.1', request({ 'sec-websocket-protocol': 'chat, bad proto' })],
      ['a repeated subprotocol', 'GET', '1.1', request({ 'sec-websocket-protocol': 'chat, chat' })],
    ]
    for (const [name, method, version, headers] of bad) {
      it(`answers 400 to ${name}`, () => {
        const error = handshakeError(() => validateUpgradeRequest(method, version, headers))
        expect(error.status).to.equal(400)
      })
    }

    for (const [name, version] of [
      ['version 8', '8'],
      ['version 12', '12'],
      ['a missing version', undefined],
      ['a non-numeric version', 'thirteen'],
    ] as const) {
      it(`answers 426 with Sec-WebSocket-Version: 13 to ${name}`, () => {
        const error = handshakeError(() => validateUpgradeRequest('GET', '1.1', request({ 'sec-websocket-version': version })))
        expect(error.status).to.equal(426)
        expect(error.headers).to.deep.equal({ 'Sec-WebSocket-Version': '13' })
      })
    }
  })

  describe('listsToken', () => {
    // The split-and-trim reading it replaces, as the reference for every vector.
    const reference = (value: string, token: string): boolean => value.split(',').some((part) => part.trim().toLowerCase() === token)
    const vectors = [
      'websocket', 'WebSocket', 'WEBSOCKET', ' websocket ', '\twebsocket\t', 'h2c, websocket', 'websocket,h2c', 'keep-alive, Upgrade',
      'websocket2', 'web socket', 'websockets', '', ',', ', ,', 'h2c', 'upgrade,', ',upgrade', ' , Upgrade , ', 'keep-alive,upgrade2',
      '\u00a0websocket\u00a0', 'webs\u00f6cket',
    ]
    for (const value of vectors) {
      for (const token of ['websocket', 'upgrade']) {
        it(`answers ${JSON.stringify(value)} for ${token} as split-and-trim does`, () => {
          expect(listsToken(value, token)).to.equal(reference(value, token))
        })
      }
    }

    it('joins repeated headers and is false for a missing one', () => {
      expect(listsToken(['h2c', 'websocket'], 'websocket')).to.equal(true)
      expect(listsToken(undefined, 'websocket')).to.equal(false)
    })
  })

  describe('parseProtocolHeader', () => {
    it('returns no subprotocols for a missing or blank header', () => {
      expect(parseProtocolHeader(undefined)).to.deep.equal([])
      expect(parseProtocolHeader('')).to.deep.equal([])
      expect(parseProtocolHeader(' \t ')).to.deep.equal([])
    })

    it('splits a token list in client order, with any spaces and tabs around the tokens', () => {
      expect(parseProtocolHeader('chat')).to.deep.equal(['chat'])
      expect(parseProtocolHeader('chat,superchat')).to.deep.equal(['chat', 'superchat'])
      expect(parseProtocolHeader(' chat.v2 ,\tchat.v1\t,  x-mqtt  ')).to.deep.equal(['chat.v2', 'chat.v1', 'x-mqtt'])
      expect(parseProtocolHeader('\t\tv1.json.api,\t \tv2')).to.deep.equal(['v1.json.api', 'v2'])
    })

    it('joins repeated headers', () => {
      expect(parseProtocolHeader(['a', 'b, c'])).to.deep.equal(['a', 'b', 'c'])
    })

    it('treats subprotocol names as case-sensitive', () => {
      expect(parseProtocolHeader('chat, Chat')).to.deep.equal(['chat', 'Chat'])
    })

    for (const value of ['chat, bad proto', 'a,,b', 'a,', ',a', 'a;b', '"quoted"', 'a/b', 'ch@t', 'caf\u00e9', 'a\u0000', '(x)', 'a=b', '{x}']) {
      it(`answers 400 to the invalid token list ${JSON.stringify(value)}`, () => {
        expect(handshakeError(() => parseProtocolHeader(value)).status).to.equal(400)
      })
    }

    it('answers 400 to a subprotocol offered twice, also across repeated headers', () => {
      expect(handshakeError(() => parseProtocolHeader('chat, superchat, chat')).status).to.equal(400)
      expect(handshakeError(() => parseProtocolHeader(['chat', 'chat'])).status).to.equal(400)
    })

    it('accepts every RFC 7230 token character', () => {
      const tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
      expect(parseProtocolHeader(tchars)).to.deep.equal([tchars])
      expect(isToken(tchars)).to.equal(true)
      expect(isToken('')).to.equal(false)
      expect(isToken('a b')).to.equal(false)
    })
  })

  describe('negotiateProtocol', () => {
    it("picks the client's most preferred supported subprotocol by default", () => {
      expect(negotiateProtocol(['chat.v2', 'chat.v1'], ['chat.v1', 'chat.v2'])).to.equal('chat.v2')
      expect(negotiateProtocol(['x', 'chat.v1', 'chat.v2'], ['chat.v2', 'chat.v1'], 'client')).to.equal('chat.v1')
    })

    it("picks the server's most preferred offered subprotocol in server order", () => {
      expect(negotiateProtocol(['chat.v2', 'chat.v1'], ['chat.v1', 'chat.v2'], 'server')).to.equal('chat.v1')
    })

    it('returns undefined when nothing matches or nothing was offered', () => {
      expect(negotiateProtocol(['a'], ['b'])).to.equal(undefined)
      expect(negotiateProtocol([], ['b'], 'server')).to.equal(undefined)
      expect(negotiateProtocol(['a'], [])).to.equal(undefined)
    })

    it('never returns a subprotocol the client did not offer', () => {
      for (const order of ['client', 'server'] as const) {
        const chosen = negotiateProtocol(['b', 'c'], ['a', 'c', 'b'], order)
        expect(['b', 'c']).to.include(chosen)
      }
    })
  })

  describe('buildAcceptResponse', () => {
    it('answers 101 with the accept key of RFC 6455 §1.3', () => {
      expect(buildAcceptResponse(RFC_KEY)).to.equal(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: websocket\r\n' +
          'Connection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
          '\r\n',
      )
    })

    it('names the chosen subprotocol and adds extra headers', () => {
      const response = parseResponse(buildAcceptResponse(RFC_KEY, 'chat', { 'X-Server': 'gatewire' }))
      expect(response.status).to.equal(101)
      expect(response.headers['sec-websocket-protocol']).to.equal('chat')
      expect(response.headers['x-server']).to.equal('gatewire')
    })

    it('refuses extra headers that would inject lines', () => {
      expect(() => buildAcceptResponse(RFC_KEY, undefined, { 'X-A': 'ok\r\nSet-Cookie: evil' })).to.throw(TypeError)
      expect(() => buildAcceptResponse(RFC_KEY, undefined, { 'X-A\r\nEvil': 'x' })).to.throw(TypeError)
    })
  })

  describe('buildRejectResponse', () => {
    it('answers with the status, its text, Connection: close and a body of the right length', () => {
      const response = parseResponse(buildRejectResponse(400, 'bad key: é'))
      expect(response.status).to.equal(400)
      expect(response.headers.connection).to.equal('close')
      expect(Number(response.headers['content-length'])).to.equal(Buffer.byteLength('bad key: é'))
      expect(response.body).to.equal('bad key: é')
    })

    it('answers 426 with the Sec-WebSocket-Version header of the HandshakeError', () => {
      const error = handshakeError(() => validateUpgradeRequest('GET', '1.1', request({ 'sec-websocket-version': '8' })))
      const text = buildRejectResponse(error.status, '', { ...error.headers })
      expect(text.startsWith('HTTP/1.1 426 Upgrade Required\r\n')).to.equal(true)
      expect(parseResponse(text).headers['sec-websocket-version']).to.equal('13')
    })

    it('uses the status text as the body when no message is given', () => {
      expect(parseResponse(buildRejectResponse(503)).body).to.equal('Service Unavailable')
      expect(buildRejectResponse(599).startsWith('HTTP/1.1 599 Error\r\n')).to.equal(true)
    })

    it('refuses headers that would inject lines', () => {
      expect(() => buildRejectResponse(400, '', { 'X-A': 'a\nb' })).to.throw(TypeError)
    })
  })

  describe('validateServerResponse', () => {
    const response = (overrides: HeaderBag = {}): HeaderBag => {
      const headers: HeaderBag = {
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-accept': RFC_ACCEPT,
        ...overrides,
      }
      for (const name of Object.keys(headers)) if (headers[name] === undefined) delete headers[name]
      return headers
    }

    it('accepts a correct 101 without a subprotocol', () => {
      expect(validateServerResponse(101, response(), RFC_KEY, [])).to.equal(undefined)
      expect(validateServerResponse(101, response(), RFC_KEY, ['chat'])).to.equal(undefined)
    })

    it('returns the subprotocol the server chose among those offered', () => {
      expect(validateServerResponse(101, response({ 'sec-websocket-protocol': 'chat' }), RFC_KEY, ['superchat', 'chat'])).to.equal('chat')
    })

    it('accepts what buildAcceptResponse produces for a fresh client key', () => {
      const key = createClientKey()
      const { status, headers } = parseResponse(buildAcceptResponse(key, 'chat.v1'))
      expect(validateServerResponse(status, headers, key, ['chat.v2', 'chat.v1'])).to.equal('chat.v1')
    })

    it('fails with the server status when it did not answer 101', () => {
      expect(handshakeError(() => validateServerResponse(403, {}, RFC_KEY, [])).status).to.equal(403)
      expect(handshakeError(() => validateServerResponse(200, response(), RFC_KEY, [])).status).to.equal(200)
      expect(handshakeError(() => validateServerResponse(undefined, response(), RFC_KEY, [])).status).to.equal(0)
    })

    const invalid: Array<[string, HeaderBag, string[]]> = [
      ['a wrong Sec-WebSocket-Accept', response({ 'sec-websocket-accept': acceptKey(createClientKey()) }), []],
      ['a missing Sec-WebSocket-Accept', response({ 'sec-websocket-accept': undefined }), []],
      ['a missing Upgrade header', response({ upgrade: undefined }), []],
      ['a missing Connection header', response({ connection: undefined }), []],
      ['a subprotocol the client did not offer', response({ 'sec-websocket-protocol': 'evil' }), ['chat']],
      ['a subprotocol when the client offered none', response({ 'sec-websocket-protocol': 'chat' }), []],
      ['two subprotocols', response({ 'sec-websocket-protocol': 'chat, superchat' }), ['chat', 'superchat']],
      ['an extension the client did not offer', response({ 'sec-websocket-extensions': 'permessage-deflate' }), []],
    ]
    for (const [name, headers, offered] of invalid) {
      it(`fails with status 0 on ${name}`, () => {
        expect(handshakeError(() => validateServerResponse(101, headers, RFC_KEY, offered)).status).to.equal(0)
      })
    }
  })
})

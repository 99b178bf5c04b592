import { expect } from 'chai'
import { parseRequestHead, rawHeadersOf } from '../../src/protocol/request-head'

// RFC 6455 §1.3's sample handshake, as a browser sends it (CRLF line ends).
const SAMPLE =
  'GET /chat?room=1 HTTP/1.1\r\n' +
  'Host: server.example.com\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  '\r\n'

function head(text: string): Buffer {
  return Buffer.from(text, 'latin1')
}

/** SAMPLE with one header line (without its CRLF) added before the empty line. */
function withLine(line: string): Buffer {
  return head(SAMPLE.slice(0, -2) + line + '\r\n\r\n')
}

describe('protocol/request-head', () => {
  it('parses the RFC 6455 sample handshake: target, raw headers and lower-case headers', () => {
    const parsed = parseRequestHead(head(SAMPLE), 16384)
    expect(parsed).to.not.equal(undefined)
    expect(parsed!.url).to.equal('/chat?room=1')
    expect(parsed!.end).to.equal(SAMPLE.length)
    expect(rawHeadersOf(parsed!).slice(0, 4)).to.deep.equal(['Host', 'server.example.com', 'Upgrade', 'websocket'])
    expect(rawHeadersOf(parsed!)).to.have.length(14)
    expect(parsed!.headers).to.deep.equal({
      host: 'server.example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      origin: 'http://example.com',
      'sec-websocket-protocol': 'chat, superchat',
      'sec-websocket-version': '13',
    })
    // A plain object, as Node's req.headers is.
    expect(Object.getPrototypeOf(parsed!.headers)).to.equal(Object.prototype)
    expect(parsed!.headers.constructor).to.equal(Object)
  })

  it('reports where the head ends when frames follow it in the same chunk', () => {
    const parsed = parseRequestHead(Buffer.concat([head(SAMPLE), Buffer.from([0x81, 0x80, 1, 2, 3, 4])]), 16384)
    expect(parsed!.end).to.equal(SAMPLE.length)
  })

  it('trims white space around values, as Node does, and keeps an empty value', () => {
    const parsed = parseRequestHead(withLine('X-Pad: \t spaced out \t') , 16384)
    expect(parsed!.headers['x-pad']).to.equal('spaced out')
    expect(parseRequestHead(withLine('X-Empty:'), 16384)!.headers['x-empty']).to.equal('')
  })

  it('leaves an incomplete head to Node, at every split point', () => {
    for (let cut = 0; cut < SAMPLE.length; cut++) {
      expect(parseRequestHead(head(SAMPLE.slice(0, cut)), 16384), `cut at ${cut}`).to.equal(undefined)
    }
  })

  it('leaves a head of maxHeaderSize bytes or more to Node (which answers 431)', () => {
    expect(parseRequestHead(head(SAMPLE), SAMPLE.length)).to.equal(undefined)
    expect(parseRequestHead(head(SAMPLE), SAMPLE.length + 1)).to.not.equal(undefined)
  })

  const leftToNode: Array<{ name: string; bytes: Buffer }> = [
    { name: 'another method', bytes: head(SAMPLE.replace('GET', 'POST')) },
    { name: 'HTTP/1.0', bytes: head(SAMPLE.replace('HTTP/1.1', 'HTTP/1.0')) },
    { name: 'an absolute-form target', bytes: head(SAMPLE.replace('/chat?room=1', 'http://server.example.com/chat')) },
    { name: 'a target with a space', bytes: head(SAMPLE.replace('/chat?room=1', '/a b')) },
    { name: 'a target with a byte above 0x7e', bytes: head(SAMPLE.replace('/chat?room=1', '/caf\xe9')) },
    { name: 'a target with a fragment', bytes: head(SAMPLE.replace('/chat?room=1', '/chat#x')) },
    { name: 'a header name that is not a token', bytes: withLine('X Bad: 1') },
    { name: 'white space before the colon', bytes: withLine('X-Bad : 1') },
    { name: 'obsolete line folding', bytes: head(SAMPLE.slice(0, -2) + 'X-Fold: a\r\n b\r\n\r\n') },
    { name: 'a control character in a value', bytes: withLine('X-Bad: a\x01b') },
    { name: 'obs-text in a value', bytes: withLine('X-Bad: caf\xe9') },
    { name: 'a bare LF', bytes: head(SAMPLE.replace('Upgrade: websocket\r\n', 'Upgrade: websocket\n')) },
    { name: 'a bare CR', bytes: head(SAMPLE.replace('Upgrade: websocket\r\n', 'Upgrade: websocket\rX: 1\r\n')) },
    { name: 'a repeated header', bytes: withLine('host: other.example.com') },
    { name: 'a header named like an Object.prototype member', bytes: withLine('Constructor: x') },
    { name: 'Content-Length', bytes: withLine('Content-Length: 5') },
    { name: 'Transfer-Encoding', bytes: withLine('Transfer-Encoding: chunked') },
    { name: 'more than 64 headers', bytes: head(SAMPLE.slice(0, -2) + Array.from({ length: 60 }, (_, i) => `X-${i}: ${i}\r\n`).join('') + '\r\n') },
    { name: 'bytes that are not HTTP', bytes: head('HELLO\r\n\r\n') },
  ]
  for (const c of leftToNode) {
    it(`leaves ${c.name} to Node`, () => {
      expect(parseRequestHead(c.bytes, 16384)).to.equal(undefined)
    })
  }
})

import { expect } from 'chai'
import { parseExtensionHeader } from '../../../src/protocol/extensions/extension-header'
import { acceptDeflateResponse, negotiateDeflate, offerDeflate, type DeflatePolicy } from '../../../src/protocol/extensions/negotiate-deflate'

/** The server's policy that accepts every offer as it is (the echo fixture's --deflate). */
const AS_OFFERED: DeflatePolicy = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }
/** The default policy: no context takeover either way. */
const SHARED: DeflatePolicy = { ...AS_OFFERED, serverNoContextTakeover: true, clientNoContextTakeover: true }

const answer = (header: string | string[] | undefined, policy = AS_OFFERED): string | undefined => negotiateDeflate(header, policy)?.response

describe('Sec-WebSocket-Extensions parsing (RFC 6455 §9.1)', () => {
  it('reads names, parameters with and without values, quoted values and several elements', () => {
    expect(parseExtensionHeader('permessage-deflate; client_max_window_bits, x-foo ; a="10";b=c')).to.deep.equal([
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'x-foo', params: [['a', '10'], ['b', 'c']] },
    ])
  })

  it('joins repeated headers and skips empty list elements', () => {
    expect(parseExtensionHeader(['a', ' , b;c'])?.map((e) => e.name)).to.deep.equal(['a', 'b'])
    expect(parseExtensionHeader(undefined)).to.deep.equal([])
  })

  for (const malformed of ['permessage-deflate;', ';a', 'a; =1', 'a; b=', 'a; b="1', 'a; b=""', 'a; b="x y"', 'a b', 'a; b=1 2', 'a; b=(']) {
    it(`returns null for the malformed header ${JSON.stringify(malformed)}`, () => {
      expect(parseExtensionHeader(malformed)).to.equal(null)
    })
  }
})

describe('negotiateDeflate (server side, RFC 7692 §7.1)', () => {
  it('accepts a bare offer with context takeover and full windows', () => {
    expect(answer('permessage-deflate')).to.equal('permessage-deflate')
    expect(negotiateDeflate('permessage-deflate', AS_OFFERED)?.params).to.deep.equal({
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    })
  })

  it("answers Chromium's offer (client_max_window_bits without a value) without limiting the client", () => {
    expect(answer('permessage-deflate; client_max_window_bits')).to.equal('permessage-deflate')
  })

  it('asks for no context takeover both ways under the default policy, even when not offered', () => {
    expect(answer('permessage-deflate; client_max_window_bits', SHARED)).to.equal(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    )
  })

  it('accepts every parameter combination a client may offer, answering each one it must', () => {
    const bits = [undefined, 8, 9, 12, 15] as const
    let combinations = 0
    for (const snct of [false, true]) {
      for (const cnct of [false, true]) {
        for (const smwb of bits) {
          for (const cmwb of [...bits, true] as const) {
            const params: string[] = []
            if (snct) params.push('server_no_context_takeover')
            if (cnct) params.push('client_no_context_takeover')
            if (smwb !== undefined) params.push(`server_max_window_bits=${smwb}`)
            if (cmwb === true) params.push('client_max_window_bits')
            else if (cmwb !== undefined) params.push(`client_max_window_bits=${cmwb}`)
            const offer = ['permessage-deflate', ...params].join('; ')
            const agreed = negotiateDeflate(offer, AS_OFFERED)
            expect(agreed, offer).to.not.equal(undefined)
            const { params: p, response } = agreed!
            expect(p.serverNoContextTakeover, offer).to.equal(snct)
            expect(p.clientNoContextTakeover, offer).to.equal(cnct)
            expect(p.serverMaxWindowBits, offer).to.equal(smwb ?? 15)
            expect(p.clientMaxWindowBits, offer).to.equal(typeof cmwb === 'number' ? cmwb : 15)
            // §7.1.1.1, §7.1.2.1: an offered server_no_context_takeover / server_max_window_bits is answered.
            expect(response.includes('server_no_context_takeover'), offer).to.equal(snct)
            expect(response.includes(`server_max_window_bits=${smwb}`), offer).to.equal(smwb !== undefined)
            // The answer is itself a valid response for a client that made this offer.
            const policy: DeflatePolicy = {
              serverNoContextTakeover: snct,
              clientNoContextTakeover: cnct,
              serverMaxWindowBits: smwb ?? 15,
              clientMaxWindowBits: typeof cmwb === 'number' ? cmwb : 15,
            }
            expect(acceptDeflateResponse(response, policy), `${offer} -> ${response}`).to.deep.equal(p)
            combinations++
          }
        }
      }
    }
    expect(combinations).to.equal(2 * 2 * 5 * 6)
  })

  it('limits windows to the smaller of the offer and the policy', () => {
    const policy = { ...AS_OFFERED, serverMaxWindowBits: 10, clientMaxWindowBits: 11 }
    expect(answer('permessage-deflate; server_max_window_bits=12; client_max_window_bits=13', policy)).to.equal(
      'permessage-deflate; server_max_window_bits=10; client_max_window_bits=11',
    )
    expect(answer('permessage-deflate; server_max_window_bits=9; client_max_window_bits=9', policy)).to.equal(
      'permessage-deflate; server_max_window_bits=9; client_max_window_bits=9',
    )
    // Announced even when not offered (§7.1.2.1); client_max_window_bits only when offered (§7.1.2.2).
    expect(answer('permessage-deflate', policy)).to.equal('permessage-deflate; server_max_window_bits=10')
    expect(answer('permessage-deflate; client_max_window_bits', policy)).to.equal(
      'permessage-deflate; server_max_window_bits=10; client_max_window_bits=11',
    )
  })

  it('answers server_max_window_bits=8 with 8 (and compresses with 9, whose references fit 256 bytes)', () => {
    expect(answer('permessage-deflate; server_max_window_bits=8')).to.equal('permessage-deflate; server_max_window_bits=8')
  })

  it('takes the first acceptable of several offers', () => {
    expect(answer('permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover, permessage-deflate')).to.equal(
      'permessage-deflate; client_no_context_takeover',
    )
    expect(answer('x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover')).to.equal(
      'permessage-deflate; server_no_context_takeover',
    )
    expect(answer(['permessage-deflate; foo', 'permessage-deflate; server_max_window_bits=10'])).to.equal(
      'permessage-deflate; server_max_window_bits=10',
    )
  })

  const declined: Array<[string, string]> = [
    ['an unknown parameter', 'permessage-deflate; foo'],
    ['an unknown parameter with a value', 'permessage-deflate; foo=1'],
    ['a repeated parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['a repeated window parameter', 'permessage-deflate; client_max_window_bits=10; client_max_window_bits'],
    ['server_no_context_takeover with a value', 'permessage-deflate; server_no_context_takeover=1'],
    ['client_no_context_takeover with a value', 'permessage-deflate; client_no_context_takeover=true'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits of 7', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits of 16', 'permessage-deflate; server_max_window_bits=16'],
    ['a window value with a leading zero', 'permessage-deflate; server_max_window_bits=09'],
    ['a window value that is not a number', 'permessage-deflate; client_max_window_bits=abc'],
    ['client_max_window_bits of 0', 'permessage-deflate; client_max_window_bits=0'],
    ['a quoted invalid value', 'permessage-deflate; client_max_window_bits="16"'],
    ['a malformed header', 'permessage-deflate; server_max_window_bits=10 ; ;'],
    ['another extension only', 'x-webkit-deflate-frame'],
  ]
  for (const [what, offer] of declined) {
    it(`declines an offer with ${what}: no extension, the connection goes ahead`, () => {
      expect(negotiateDeflate(offer, AS_OFFERED)).to.equal(undefined)
    })
  }

  it('accepts a quoted window value (RFC 6455 §9.1: quoted tokens are tokens)', () => {
    expect(answer('permessage-deflate; client_max_window_bits="10"')).to.equal('permessage-deflate; client_max_window_bits=10')
  })

  it('shares one agreement between connections that reach the same one', () => {
    expect(negotiateDeflate('permessage-deflate', SHARED)).to.equal(negotiateDeflate('permessage-deflate; client_no_context_takeover', SHARED))
  })
})

describe('offerDeflate and acceptDeflateResponse (client side, RFC 7692 §7.1)', () => {
  it('offers client_max_window_bits, and what the policy asks for', () => {
    expect(offerDeflate(AS_OFFERED)).to.equal('permessage-deflate; client_max_window_bits')
    expect(offerDeflate({ ...SHARED, serverMaxWindowBits: 10, clientMaxWindowBits: 12 })).to.equal(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12',
    )
  })

  it('treats a missing answer as no compression', () => {
    expect(acceptDeflateResponse(undefined, AS_OFFERED)).to.equal(undefined)
    expect(acceptDeflateResponse('', AS_OFFERED)).to.equal(undefined)
  })

  it('accepts what a server may add on its own: no context takeover, smaller windows', () => {
    expect(acceptDeflateResponse('permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10', AS_OFFERED)).to.deep.equal({
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 9,
      clientMaxWindowBits: 10,
    })
  })

  const refused: Array<[string, string, DeflatePolicy?]> = [
    ['another extension', 'x-foo'],
    ['two extensions', 'permessage-deflate, permessage-deflate'],
    ['an unknown parameter', 'permessage-deflate; foo'],
    ['a repeated parameter', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover'],
    ['client_max_window_bits without a value', 'permessage-deflate; client_max_window_bits'],
    ['an invalid window', 'permessage-deflate; server_max_window_bits=16'],
    ['a malformed header', 'permessage-deflate; ='],
    ['no server_no_context_takeover although offered', 'permessage-deflate', { ...AS_OFFERED, serverNoContextTakeover: true }],
    ['a server window above the offered one', 'permessage-deflate; server_max_window_bits=12', { ...AS_OFFERED, serverMaxWindowBits: 10 }],
    ['no server window although one was offered', 'permessage-deflate', { ...AS_OFFERED, serverMaxWindowBits: 10 }],
    ['a client window above the offered one', 'permessage-deflate; client_max_window_bits=12', { ...AS_OFFERED, clientMaxWindowBits: 10 }],
  ]
  for (const [what, response, policy] of refused) {
    it(`refuses an answer with ${what} (the client fails with 1010)`, () => {
      expect(acceptDeflateResponse(response, policy ?? AS_OFFERED)).to.be.a('string')
    })
  }
})

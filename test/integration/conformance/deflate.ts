// permessage-deflate (RFC 7692) for the fuzzing peer, for groups 12 and 13: Autobahn's offers and
// answers, and the peer's own compressor and decompressor. Compression here is pako (a zlib
// written in JavaScript), not node:zlib, which the code under test uses: a DEFLATE bug shared by
// the two sides would otherwise cancel out.
import * as pako from 'pako'

/** One of Autobahn's 13.x parameter sets: (no context takeover, max window bits; 0 = not asked). */
export type DeflateRequest = readonly [noContextTakeover: boolean, maxWindowBits: number]

/** What a case negotiates: the fuzzing client offers `offers` in this order; the fuzzing server answers with the first. */
export interface CaseDeflate {
  offers: readonly DeflateRequest[]
}

/** An agreement from the fuzzer's side: its own compressor, and the peer's it inflates. */
export interface PeerDeflateParams {
  ownNoContextTakeover: boolean
  ownWindowBits: number
  peerNoContextTakeover: boolean
  peerWindowBits: number
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff])
const SYNC_FLUSH = 2

/**
 * The fuzzing client's offer, as Autobahn writes a PerMessageDeflateOffer: it accepts
 * client_no_context_takeover and client_max_window_bits, and requests the server's parameters.
 */
export function clientOffer(offers: readonly DeflateRequest[]): string {
  return offers
    .map(([noContextTakeover, bits]) => {
      let offer = 'permessage-deflate; client_no_context_takeover; client_max_window_bits'
      if (noContextTakeover) offer += '; server_no_context_takeover'
      if (bits !== 0) offer += `; server_max_window_bits=${bits}`
      return offer
    })
    .join(', ')
}

/** Parameters of a permessage-deflate element; null when the header is not one such element. */
function parseElement(text: string): Map<string, string | true> | null {
  const [name, ...params] = text.split(';').map((part) => part.trim())
  if (name !== 'permessage-deflate') return null
  const map = new Map<string, string | true>()
  for (const param of params) {
    const [key, value] = param.split('=').map((part) => part.trim())
    if (map.has(key)) return null
    map.set(key, value === undefined ? true : value.replace(/^"|"$/g, ''))
  }
  return map
}

function bits(value: string | true | undefined): number | undefined {
  return typeof value === 'string' && /^(8|9|1[0-5])$/.test(value) ? Number(value) : undefined
}

/**
 * The fuzzing client checks the server's answer (RFC 7692 §7.1) against one of its offers and
 * returns the agreement; throws with the reason when the answer is not acceptable.
 */
export function acceptServerAnswer(header: string | undefined, offers: readonly DeflateRequest[]): PeerDeflateParams {
  if (header === undefined) throw new Error('the server did not accept permessage-deflate')
  const params = parseElement(header)
  if (params === null) throw new Error(`unacceptable Sec-WebSocket-Extensions: ${header}`)
  for (const key of params.keys()) {
    if (!['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'].includes(key)) {
      throw new Error(`unknown parameter ${key} in the answer`)
    }
  }
  for (const key of ['server_no_context_takeover', 'client_no_context_takeover']) {
    if (params.has(key) && params.get(key) !== true) throw new Error(`${key} with a value`)
  }
  const serverBits = params.has('server_max_window_bits') ? bits(params.get('server_max_window_bits')) : 15
  const clientBits = params.has('client_max_window_bits') ? bits(params.get('client_max_window_bits')) : 15
  if (serverBits === undefined || clientBits === undefined) throw new Error(`invalid window bits in ${header}`)
  // The answer must fit one of the offers (the server may add no context takeover or smaller windows).
  const fits = offers.some(([noContextTakeover, requested]) => {
    if (noContextTakeover && !params.has('server_no_context_takeover')) return false
    if (requested !== 0 && (!params.has('server_max_window_bits') || serverBits > requested)) return false
    return true
  })
  if (!fits) throw new Error(`the answer ${header} fits none of the offers`)
  return {
    // Our offer said client_no_context_takeover: we never keep context.
    ownNoContextTakeover: true,
    ownWindowBits: clientBits,
    peerNoContextTakeover: params.has('server_no_context_takeover'),
    peerWindowBits: serverBits,
  }
}

/**
 * The fuzzing server answers the client's offer with the case's first parameter set (Autobahn's
 * PerMessageDeflateOfferAccept): client_no_context_takeover and client_max_window_bits=N as the
 * case requests, and the server parameters the client asked for. Undefined when the client
 * offered no permessage-deflate.
 */
export function answerClientOffer(header: string | undefined, request: DeflateRequest): { response: string; params: PeerDeflateParams } | undefined {
  if (header === undefined) return undefined
  for (const element of header.split(',')) {
    const offer = parseElement(element.trim())
    if (offer === null) continue
    const [noContextTakeover, requestedBits] = request
    const parts = ['permessage-deflate']
    const serverNoContext = offer.has('server_no_context_takeover')
    const serverBits = offer.has('server_max_window_bits') ? (bits(offer.get('server_max_window_bits')) ?? 15) : 15
    if (serverNoContext) parts.push('server_no_context_takeover')
    if (offer.has('server_max_window_bits')) parts.push(`server_max_window_bits=${serverBits}`)
    if (noContextTakeover) parts.push('client_no_context_takeover')
    const offeredClientBits = offer.get('client_max_window_bits')
    let clientBits = typeof offeredClientBits === 'string' ? (bits(offeredClientBits) ?? 15) : 15
    if (requestedBits !== 0 && offeredClientBits !== undefined) {
      clientBits = Math.min(clientBits, requestedBits)
      parts.push(`client_max_window_bits=${clientBits}`)
    }
    return {
      response: parts.join('; '),
      params: {
        ownNoContextTakeover: serverNoContext,
        ownWindowBits: serverBits,
        peerNoContextTakeover: noContextTakeover || offer.has('client_no_context_takeover'),
        peerWindowBits: clientBits,
      },
    }
  }
  return undefined
}

/** The fuzzer's compressor and decompressor for one connection. */
export class PeerDeflate {
  private deflater: pako.Deflate | null = null
  private inflater: pako.Inflate | null = null
  private readonly out: Uint8Array[] = []

  constructor(readonly params: PeerDeflateParams) {}

  /** A whole message's payload (RFC 7692 §7.2.1: sync flush, tail removed). */
  compress(data: Buffer): Buffer {
    const deflater = (this.deflater ??= this.newDeflater())
    deflater.push(data, SYNC_FLUSH)
    const out = Buffer.concat(this.out.splice(0))
    if (this.params.ownNoContextTakeover) this.deflater = null
    if (out.length < 4 || !out.subarray(-4).equals(TAIL)) throw new Error('deflate output without the sync-flush tail')
    return out.subarray(0, -4)
  }

  /** A whole message's compressed payload, inflated (RFC 7692 §7.2.2). Throws on corrupt data. */
  inflate(data: Buffer): Buffer {
    const inflater = (this.inflater ??= this.newInflater())
    inflater.push(Buffer.concat([data, TAIL]), SYNC_FLUSH)
    if (inflater.err) throw new Error(`inflate: ${inflater.msg}`)
    const out = Buffer.concat(this.out.splice(0))
    if (this.params.peerNoContextTakeover) this.inflater = null
    return out
  }

  private newDeflater(): pako.Deflate {
    // zlib makes no raw stream with an 8-bit window; a 9-bit one stays within 256 bytes.
    const deflater = new pako.Deflate({ raw: true, windowBits: Math.max(9, this.params.ownWindowBits), level: 6 })
    deflater.onData = (chunk) => this.out.push(chunk as Uint8Array)
    return deflater
  }

  private newInflater(): pako.Inflate {
    // The peer's own window, exactly: a peer that uses more than it agreed to fails here.
    const inflater = new pako.Inflate({ raw: true, windowBits: this.params.peerWindowBits })
    inflater.onData = (chunk) => this.out.push(chunk as Uint8Array)
    return inflater
  }
}

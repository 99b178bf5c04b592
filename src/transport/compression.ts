// permessage-deflate as the transport sets it up: the server's answer to an offer, the client's
// offer and its check of the answer. The codec itself is in protocol/extensions.
import { resolveCompressionOptions, type CompressionOptions } from '../protocol/extensions/compression-options'
import { acceptDeflateResponse, negotiateDeflate, offerDeflate } from '../protocol/extensions/negotiate-deflate'
import { PerMessageDeflate } from '../protocol/extensions/per-message-deflate'
import type { HeaderValue } from '../protocol/handshake'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * Server side: the connection's compression for the client's Sec-WebSocket-Extensions, or
 * undefined when compression is off or no offer is acceptable (the connection then goes ahead
 * uncompressed; RFC 6455 §9.1 leaves declining to the server).
 */
export function acceptCompression(header: HeaderValue, setting: boolean | CompressionOptions | undefined): PerMessageDeflate | undefined {
  if (header === undefined) return undefined
  const options = resolveCompressionOptions(setting)
  if (options === undefined) return undefined
  const agreement = negotiateDeflate(header, options)
  return agreement === undefined ? undefined : new PerMessageDeflate(agreement.params, options, 'server', agreement.response)
}

/** Offers seen, each kept once: browsers of one kind send the same offer on every connection. */
const offers = new Map<string, string>()
const OFFERS_KEPT = 64
const OFFER_LENGTH_KEPT = 512

/**
 * Server side: the request's Sec-WebSocket-Extensions, kept by the connection for its whole life
 * (in `headers`), made the one string shared by every connection that sent the same offer,
 * instead of a copy per connection (~120 B for Chromium's). Bounded: offers come from clients.
 */
export function shareOffer(headers: IncomingHttpHeaders): void {
  const offer = headers['sec-websocket-extensions']
  if (typeof offer !== 'string' || offer.length > OFFER_LENGTH_KEPT) return
  const kept = offers.get(offer)
  if (kept !== undefined) headers['sec-websocket-extensions'] = kept
  else if (offers.size < OFFERS_KEPT) offers.set(offer, offer)
}

/** Client side: the Sec-WebSocket-Extensions to offer, or undefined when compression is off. */
export function offerCompression(setting: boolean | CompressionOptions | undefined): string | undefined {
  const options = resolveCompressionOptions(setting)
  return options === undefined ? undefined : offerDeflate(options)
}

/**
 * Client side: the connection's compression from the server's answer, undefined for none, or a
 * string saying why the answer is unacceptable (the client then fails with 1010).
 */
export function completeCompression(header: HeaderValue, setting: boolean | CompressionOptions | undefined): PerMessageDeflate | undefined | string {
  const options = resolveCompressionOptions(setting)
  if (options === undefined) return undefined
  const params = acceptDeflateResponse(header, options)
  if (typeof params === 'string') return params
  if (params === undefined) return options.required ? 'the server did not accept permessage-deflate, which this client requires' : undefined
  return new PerMessageDeflate(params, options, 'client', typeof header === 'string' ? header.trim() : String(header))
}

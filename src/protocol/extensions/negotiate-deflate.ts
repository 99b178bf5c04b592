import { parseExtensionHeader, type ExtensionElement } from './extension-header'

/** The extension's name in Sec-WebSocket-Extensions (RFC 7692 §7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate'

/** What one permessage-deflate agreement says, from the point of view of the wire (RFC 7692 §7.1). */
export interface DeflateParams {
  /** The server resets its compression context after each message. */
  readonly serverNoContextTakeover: boolean
  /** The client resets its compression context after each message. */
  readonly clientNoContextTakeover: boolean
  /** The server's LZ77 window is at most 2^bits bytes (8–15; 15 when not negotiated). */
  readonly serverMaxWindowBits: number
  /** The client's LZ77 window is at most 2^bits bytes (8–15; 15 when not negotiated). */
  readonly clientMaxWindowBits: number
}

/** What an endpoint wants from an agreement (both sides' parameters, as RFC 7692 names them). */
export interface DeflatePolicy {
  serverNoContextTakeover: boolean
  clientNoContextTakeover: boolean
  /** 8–15. */
  serverMaxWindowBits: number
  /** 8–15. */
  clientMaxWindowBits: number
}

/** A server's answer to an offer: the response header's element and the agreement. */
export interface DeflateAgreement {
  /** The Sec-WebSocket-Extensions value to answer with. */
  response: string
  params: DeflateParams
}

/** One offer's parameters, checked (RFC 7692 §7.1): undefined when absent, true when without value. */
interface OfferParams {
  server_no_context_takeover?: true
  client_no_context_takeover?: true
  server_max_window_bits?: number
  client_max_window_bits?: number | true
}

/**
 * RFC 7692 §7.1.2: a window-bits value is a decimal integer from 8 to 15 without leading zeros.
 */
function windowBits(value: string | true): number | undefined {
  return typeof value === 'string' && /^(8|9|1[0-5])$/.test(value) ? Number(value) : undefined
}

/**
 * Checks the parameters of one permessage-deflate element. Returns undefined when one is
 * unknown, repeated, or has a value it may not have (RFC 7692 §7.1: such an offer is declined,
 * such a response fails the connection). `response` selects the rules for a server's answer,
 * where client_max_window_bits needs a value.
 */
function checkParams(element: ExtensionElement, response: boolean): OfferParams | undefined {
  const params: OfferParams = {}
  const seen = new Set<string>()
  for (const [rawName, value] of element.params) {
    const name = rawName.toLowerCase()
    if (seen.has(name)) return undefined
    seen.add(name)
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return undefined
        params[name] = true
        break
      case 'server_max_window_bits': {
        const bits = windowBits(value)
        if (bits === undefined) return undefined
        params.server_max_window_bits = bits
        break
      }
      case 'client_max_window_bits': {
        if (value === true && !response) {
          params.client_max_window_bits = true
          break
        }
        const bits = windowBits(value)
        if (bits === undefined) return undefined
        params.client_max_window_bits = bits
        break
      }
      default:
        return undefined
    }
  }
  return params
}

/** Agreements (and their response strings) are shared by every connection that reaches the same one. */
const agreements = new Map<string, DeflateAgreement>()

function agreement(params: DeflateParams, serverBitsSaid: boolean, clientBitsSaid: boolean): DeflateAgreement {
  let response = PERMESSAGE_DEFLATE
  if (params.serverNoContextTakeover) response += '; server_no_context_takeover'
  if (params.clientNoContextTakeover) response += '; client_no_context_takeover'
  if (serverBitsSaid) response += `; server_max_window_bits=${params.serverMaxWindowBits}`
  if (clientBitsSaid) response += `; client_max_window_bits=${params.clientMaxWindowBits}`
  let found = agreements.get(response)
  if (found === undefined) {
    found = Object.freeze({ response, params: Object.freeze({ ...params }) })
    // Bounded: 2 x 2 x 9 x 9 possible responses.
    agreements.set(response, found)
  }
  return found
}

/**
 * Server side (RFC 7692 §5, §7.1): picks the first acceptable permessage-deflate offer of a
 * Sec-WebSocket-Extensions request header and builds the answer. Offers with unknown, repeated
 * or invalid parameters are declined (the next one is tried), and a header that does not follow
 * the grammar declines them all: the connection then goes ahead uncompressed. Returns undefined
 * when nothing is accepted.
 *
 * The server's own wishes (`policy`) are added to what the client asked: no context takeover on
 * either side when the policy says so (RFC 7692 §7.1.1: a server may ask for it even if not
 * offered), window bits as small as the smaller of both (client_max_window_bits only when the
 * client offered it, §7.1.2.2).
 */
export function negotiateDeflate(header: string | string[] | undefined, policy: DeflatePolicy): DeflateAgreement | undefined {
  const elements = parseExtensionHeader(header)
  if (elements === null) return undefined
  for (const element of elements) {
    if (element.name.toLowerCase() !== PERMESSAGE_DEFLATE) continue
    const offer = checkParams(element, false)
    if (offer === undefined) continue
    const offeredServerBits = offer.server_max_window_bits
    const serverMaxWindowBits = Math.min(offeredServerBits ?? 15, policy.serverMaxWindowBits)
    const offeredClientBits = offer.client_max_window_bits
    const clientMaxWindowBits =
      offeredClientBits === undefined ? 15 : Math.min(offeredClientBits === true ? 15 : offeredClientBits, policy.clientMaxWindowBits)
    return agreement(
      {
        serverNoContextTakeover: offer.server_no_context_takeover === true || policy.serverNoContextTakeover,
        clientNoContextTakeover: offer.client_no_context_takeover === true || policy.clientNoContextTakeover,
        serverMaxWindowBits,
        clientMaxWindowBits,
      },
      // §7.1.2.1: answered whenever offered; otherwise only to announce a smaller window.
      offeredServerBits !== undefined || serverMaxWindowBits < 15,
      // §7.1.2.2: never answered when not offered.
      offeredClientBits !== undefined && (offeredClientBits !== true || clientMaxWindowBits < 15),
    )
  }
  return undefined
}

/**
 * Client side: the Sec-WebSocket-Extensions offer for a policy. client_max_window_bits is always
 * offered (without a value when the client takes any window), telling the server it may limit
 * the client's window.
 */
export function offerDeflate(policy: DeflatePolicy): string {
  let offer = PERMESSAGE_DEFLATE
  if (policy.serverNoContextTakeover) offer += '; server_no_context_takeover'
  if (policy.clientNoContextTakeover) offer += '; client_no_context_takeover'
  if (policy.serverMaxWindowBits < 15) offer += `; server_max_window_bits=${policy.serverMaxWindowBits}`
  offer += policy.clientMaxWindowBits < 15 ? `; client_max_window_bits=${policy.clientMaxWindowBits}` : '; client_max_window_bits'
  return offer
}

/**
 * Client side (RFC 7692 §5, §7.1): checks the server's Sec-WebSocket-Extensions answer to
 * `offerDeflate(policy)`. Returns the agreement, undefined when the server accepted no
 * extension, or an error message when the answer is not acceptable (the client must then fail
 * the connection, with 1010).
 */
export function acceptDeflateResponse(header: string | string[] | undefined, policy: DeflatePolicy): DeflateParams | undefined | string {
  if (header === undefined) return undefined
  const elements = parseExtensionHeader(header)
  if (elements === null) return 'malformed Sec-WebSocket-Extensions in the server response'
  if (elements.length === 0) return undefined
  if (elements.length > 1) return 'the server response accepts more than one extension'
  const element = elements[0]
  if (element.name.toLowerCase() !== PERMESSAGE_DEFLATE) return `the server accepted extension ${JSON.stringify(element.name)}, which was not offered`
  const answer = checkParams(element, true)
  if (answer === undefined) return 'invalid permessage-deflate parameters in the server response'
  // §7.1.1.1: an offer's server_no_context_takeover must be answered.
  if (policy.serverNoContextTakeover && answer.server_no_context_takeover !== true) {
    return 'the server response lacks server_no_context_takeover, which was offered'
  }
  const serverBits = answer.server_max_window_bits
  if (policy.serverMaxWindowBits < 15 && (serverBits === undefined || serverBits > policy.serverMaxWindowBits)) {
    return `the server response does not limit server_max_window_bits to ${policy.serverMaxWindowBits}`
  }
  const clientBits = answer.client_max_window_bits as number | undefined
  if (clientBits !== undefined && clientBits > policy.clientMaxWindowBits) {
    return `the server response raises client_max_window_bits above ${policy.clientMaxWindowBits}`
  }
  return Object.freeze({
    serverNoContextTakeover: answer.server_no_context_takeover === true,
    clientNoContextTakeover: answer.client_no_context_takeover === true || policy.clientNoContextTakeover,
    serverMaxWindowBits: serverBits ?? 15,
    clientMaxWindowBits: clientBits ?? policy.clientMaxWindowBits,
  })
}

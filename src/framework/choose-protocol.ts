/**
 * The subprotocol policy of `@Gateway({ protocols, protocolOrder })`: the client's most
 * preferred protocol that the gateway supports (`'client'`, RFC 6455 §4.2.2's suggestion) or the
 * gateway's most preferred one that the client offered (`'server'`). `undefined` when there is
 * none in common. Never returns a protocol the client did not offer.
 */
export function chooseProtocol(
  offered: readonly string[],
  supported: readonly string[],
  order: 'client' | 'server' = 'client',
): string | undefined {
  if (order === 'server') {
    for (const protocol of supported) if (offered.includes(protocol)) return protocol
  } else {
    for (const protocol of offered) if (supported.includes(protocol)) return protocol
  }
  return undefined
}

import { addSelectProtocolMethod, type MemberKey } from '../store'

/**
 * Marks the gateway method that chooses the subprotocol: `(offered, request) => string |
 * undefined | Promise<...>`. It replaces the `protocols`/`protocolOrder` policy; a choice the
 * client did not offer counts as no agreement (the server never answers a protocol the client
 * did not offer).
 *
 * @example
 * @SelectProtocol()
 * choose(offered: string[], request: UpgradeRequest) {
 *   return request.query.get('legacy') ? offered.find((p) => p === 'chat.v1') : offered[0]
 * }
 */
export function SelectProtocol(): MethodDecorator {
  return (target: object, method: MemberKey) => {
    addSelectProtocolMethod(target.constructor, method)
  }
}

import { addSelectProtocolMethod, type MemberKey } from '../store'

/**
 * Marks the gateway method that chooses the subprotocol: `(request, offered) => string |
 * undefined | Promise<...>`, the order of the core's `selectProtocol` option. (The former order
 * `(offered: string[], request)` still works, recognised by its array-typed first parameter, and
 * logs a deprecation warning at bootstrap.) It replaces the `protocols`/`protocolOrder` policy; a choice the
 * client did not offer counts as no agreement (the server never answers a protocol the client
 * did not offer).
 *
 * @example
 * @SelectProtocol()
 * choose(request: UpgradeRequest, offered: string[]) {
 *   return request.query.get('legacy') ? offered.find((p) => p === 'chat.v1') : offered[0]
 * }
 */
export function SelectProtocol(): MethodDecorator {
  return (target: object, method: MemberKey) => {
    addSelectProtocolMethod(target.constructor, method)
  }
}

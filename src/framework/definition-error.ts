/**
 * A gateway, module or provider that cannot work as declared. Thrown by `bootstrap()` before
 * anything listens, naming the class (and member) at fault.
 *
 * @example
 * try { bootstrap(AppModule) } catch (err) {
 *   if (err instanceof DefinitionError) console.error(err.className, err.member, err.message)
 * }
 */
export class DefinitionError extends Error {
  override readonly name = 'DefinitionError'
  constructor(
    /** The class at fault, e.g. `ChatGateway`. */
    readonly className: string,
    /** The member at fault (`onText`, `constructor parameter #0`), when there is one. */
    readonly member: string | undefined,
    problem: string,
  ) {
    super(`${member === undefined ? className : `${className}.${member}`}: ${problem}`)
  }
}

/** `ChatGateway`, or `anonymous class` for the nameless. */
export function nameOf(target: unknown): string {
  if (typeof target === 'function') return target.name || 'anonymous class'
  if (typeof target === 'symbol') return target.toString()
  if (typeof target === 'string') return JSON.stringify(target)
  if (target !== null && typeof target === 'object') {
    const description = (target as { toString(): string }).toString()
    if (description !== '[object Object]') return description
    return target.constructor?.name ? `a ${target.constructor.name}` : 'an object'
  }
  return String(target)
}

export function memberName(key: string | symbol): string {
  return typeof key === 'symbol' ? `[${key.toString()}]` : key
}

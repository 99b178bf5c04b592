import { DefinitionError } from './definition-error'

/**
 * The error for parameters bound by declared type when TypeScript recorded no types: without
 * `design:paramtypes` every undecorated parameter would fall back to its default position, so
 * `@OnClose() c(conn: Connection)` would silently receive the close code.
 */
export function missingMetadata(className: string, member: string, parameterFix: string): DefinitionError {
  return new DefinitionError(
    className,
    member,
    'has parameters but TypeScript recorded no parameter types (design:paramtypes), so they cannot be bound by type. ' +
      'Either enable "emitDecoratorMetadata" (with "experimentalDecorators") in tsconfig.json and compile with tsc, ' +
      'ts-node or SWC (jsc.transform.decoratorMetadata) — tsx, esbuild and vitest do not emit it — or ' +
      parameterFix,
  )
}

/**
 * Whether method `fn` declares parameters. `fn.length` stops at the first default or rest
 * parameter, so `(code = 1000)` and `(...args)` count 0: for those, the source text decides.
 * For a class, only its constructor's `length` counts.
 */
export function declaresParameters(fn: Function): boolean {
  if (fn.length > 0) return true
  const source = Function.prototype.toString.call(fn)
  // A class's text is its whole body; its length is its constructor's, and that is all we use.
  if (/^class\b/.test(source)) return false
  let i = 0
  // A computed method name (`[Symbol.for('x')](...)`) may hold parentheses of its own.
  const bracket = source.indexOf('[')
  const paren = source.indexOf('(')
  if (bracket !== -1 && bracket < paren) {
    let depth = 0
    for (i = bracket; i < source.length; i++) {
      if (source[i] === '[') depth++
      else if (source[i] === ']' && --depth === 0) break
    }
  }
  const open = source.indexOf('(', i)
  if (open === -1) return false
  const next = source.slice(open + 1).trimStart()[0]
  // `()` has none; a comment first (`( /* none */ )`) is not worth parsing: assume none.
  return next !== undefined && next !== ')' && next !== '/'
}

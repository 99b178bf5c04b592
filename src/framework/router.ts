/** A matched route: its value and its decoded path parameters (`'*'` holds a wildcard's rest). */
export interface RouteMatch<T> {
  readonly value: T
  readonly pattern: string
  readonly params: Readonly<Record<string, string>>
}

/** A route as added: its value, pattern and the names of its parameters. */
export interface Route<T> {
  readonly value: T
  readonly pattern: string
  readonly paramNames: readonly string[]
}

interface Node<T> {
  readonly statics: Map<string, Node<T>>
  param: Node<T> | undefined
  route: Route<T> | undefined
  wildcard: Route<T> | undefined
}

const PARAM_NAME = /^[A-Za-z_$][\w$]*$/

/** `'/rooms/:room/'` → `['rooms', ':room']`; `'*'` is short for `'/*'`. Throws on a bad pattern. */
export function parsePattern(pattern: string): string[] {
  if (pattern === '*') return ['*']
  if (!pattern.startsWith('/')) throw new SyntaxError(`route "${pattern}" must start with "/" (or be "*")`)
  const segments = splitPath(pattern)
  const names = new Set<string>()
  segments.forEach((segment, i) => {
    if (segment === '*') {
      if (i !== segments.length - 1) throw new SyntaxError(`route "${pattern}": "*" may only be the last segment`)
    } else if (segment.startsWith(':')) {
      const name = segment.slice(1)
      if (!PARAM_NAME.test(name)) throw new SyntaxError(`route "${pattern}": "${segment}" is not a valid parameter name`)
      if (names.has(name)) throw new SyntaxError(`route "${pattern}": parameter ":${name}" appears twice`)
      names.add(name)
    } else if (segment.includes('*') || segment.includes(':')) {
      throw new SyntaxError(`route "${pattern}": "${segment}" mixes text with ":" or "*"`)
    }
  })
  return segments
}

/** The names a pattern binds: its `:params`, and `'*'` for a trailing wildcard. */
export function patternParams(pattern: string): string[] {
  return parsePattern(pattern).flatMap((s) => (s === '*' ? ['*'] : s.startsWith(':') ? [s.slice(1)] : []))
}

/** A trailing slash is not significant: `/chat/` is `/chat`. */
function splitPath(path: string): string[] {
  const segments = path.split('/').slice(1)
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop()
  return segments
}

function newNode<T>(): Node<T> {
  return { statics: new Map(), param: undefined, route: undefined, wildcard: undefined }
}

/**
 * Routes request paths to values. Static segments beat parameters, which beat a wildcard,
 * segment by segment (with backtracking, so `/a/:x/c` and `/a/b/d` both match what they should).
 * Built once at bootstrap; matched once per handshake.
 */
export class Router<T> {
  private readonly root: Node<T> = newNode()
  /** Paths without parameters, for a single lookup (segments joined by NUL, which no segment holds). */
  private readonly exact = new Map<string, Route<T>>()
  /** The same routes by their path as sent without percent-encoding or a trailing slash (`/a/b`): found without splitting. */
  private readonly exactRaw = new Map<string, Route<T>>()
  private readonly routes: Route<T>[] = []

  /**
   * Adds a route. Returns the value already routed at the same shape (`/rooms/:a` and
   * `/rooms/:b` are the same shape) instead of adding, so the caller can report the conflict.
   */
  add(pattern: string, value: T): { conflict: T; pattern: string } | undefined {
    const segments = parsePattern(pattern)
    let node = this.root
    const paramNames: string[] = []
    const last = segments[segments.length - 1]
    const wildcard = last === '*'
    for (const segment of wildcard ? segments.slice(0, -1) : segments) {
      if (segment.startsWith(':')) {
        paramNames.push(segment.slice(1))
        node = node.param ??= newNode()
      } else {
        let next = node.statics.get(segment)
        if (next === undefined) node.statics.set(segment, (next = newNode()))
        node = next
      }
    }
    if (wildcard) paramNames.push('*')
    const existing = wildcard ? node.wildcard : node.route
    if (existing !== undefined) return { conflict: existing.value, pattern: existing.pattern }
    const route: Route<T> = { value, pattern, paramNames }
    if (wildcard) node.wildcard = route
    else node.route = route
    if (paramNames.length === 0) {
      this.exact.set(segments.join('\0'), route)
      this.exactRaw.set(segments.map((segment) => `/${segment}`).join(''), route)
    }
    this.routes.push(route)
    return undefined
  }

  /**
   * The route `match` would choose for `path`, without its parameters: what a handshake needs
   * to pick a gateway (parameters are decoded when first read). No arrays, strings or objects
   * for a path without percent-encoding that is routed exactly; otherwise the segments only.
   * Throws `URIError` as `match` does.
   */
  find(path: string): Route<T> | undefined {
    const encoded = path.includes('%')
    if (!encoded) {
      const exact = this.exactRaw.get(path.endsWith('/') ? path.slice(0, -1) : path)
      if (exact !== undefined) return exact
    }
    const segments = splitPath(path)
    if (encoded) {
      for (let i = 0; i < segments.length; i++) {
        if (segments[i].includes('%')) segments[i] = decodeURIComponent(segments[i])
      }
      const exact = this.exact.get(segments.join('\0'))
      if (exact !== undefined) return exact
    }
    return matchNode(this.root, segments, 0, null)
  }

  /** Every route added, in order. */
  get size(): number {
    return this.routes.length
  }

  /**
   * The route for `path`, a raw (percent-encoded) pathname without query, or `undefined`. The
   * path is split into segments first and each is decoded once, so `%2F` stays inside its
   * segment and `%25` is a plain `%`. Throws `URIError` on invalid percent-encoding.
   */
  match(path: string): RouteMatch<T> | undefined {
    const segments = splitPath(path)
    for (let i = 0; i < segments.length; i++) {
      if (segments[i].includes('%')) segments[i] = decodeURIComponent(segments[i])
    }
    const exact = this.exact.get(segments.join('\0'))
    if (exact !== undefined) return { value: exact.value, pattern: exact.pattern, params: NO_PARAMS }
    const values: string[] = []
    const route = matchNode(this.root, segments, 0, values)
    if (route === undefined) return undefined
    if (route.paramNames.length === 0) return { value: route.value, pattern: route.pattern, params: NO_PARAMS }
    const params: Record<string, string> = {}
    for (let i = 0; i < route.paramNames.length; i++) params[route.paramNames[i]] = values[i]
    return { value: route.value, pattern: route.pattern, params: Object.freeze(params) }
  }
}

/** Walks the tree; `values` (when given) receives each parameter's segment and the wildcard's rest. */
function matchNode<T>(node: Node<T>, segments: string[], i: number, values: string[] | null): Route<T> | undefined {
  if (i === segments.length) {
    if (node.route !== undefined) return node.route
    if (node.wildcard !== undefined) {
      values?.push('')
      return node.wildcard
    }
    return undefined
  }
  const segment = segments[i]
  const child = node.statics.get(segment)
  if (child !== undefined) {
    const found = matchNode(child, segments, i + 1, values)
    if (found !== undefined) return found
  }
  if (node.param !== undefined && segment !== '') {
    values?.push(segment)
    const found = matchNode(node.param, segments, i + 1, values)
    if (found !== undefined) return found
    values?.pop()
  }
  if (node.wildcard !== undefined) {
    values?.push(segments.slice(i).join('/'))
    return node.wildcard
  }
  return undefined
}

/** The params of every exact match: frozen, so one object serves all connections. */
export const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({})

/** One element of a Sec-WebSocket-Extensions header: a name and its parameters, in order. */
export interface ExtensionElement {
  name: string
  /** Parameters as written; `true` for one without a value. Quoted values are unquoted. */
  params: Array<[name: string, value: string | true]>
}

// RFC 7230 §3.2.6 tchar.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/

/**
 * Parses a Sec-WebSocket-Extensions header (RFC 6455 §9.1; repeated headers are joined with
 * commas). Returns null when the header does not follow the grammar: extension and parameter
 * names are tokens, values are tokens or quoted strings whose content is a token.
 */
export function parseExtensionHeader(value: string | string[] | undefined): ExtensionElement[] | null {
  if (value === undefined) return []
  const text = Array.isArray(value) ? value.join(',') : value
  const elements: ExtensionElement[] = []
  let i = 0
  const n = text.length
  const skipSpace = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++
  }
  const token = (): string => {
    const start = i
    while (i < n && TCHAR.test(text[i])) i++
    return text.slice(start, i)
  }
  while (i < n) {
    skipSpace()
    // RFC 7230 §7: empty list elements are allowed and ignored.
    if (text[i] === ',') {
      i++
      continue
    }
    if (i >= n) break
    const name = token()
    if (name === '') return null
    const params: ExtensionElement['params'] = []
    skipSpace()
    while (i < n && text[i] === ';') {
      i++
      skipSpace()
      const param = token()
      if (param === '') return null
      skipSpace()
      let paramValue: string | true = true
      if (text[i] === '=') {
        i++
        skipSpace()
        if (text[i] === '"') {
          i++
          let quoted = ''
          while (i < n && text[i] !== '"') {
            if (text[i] === '\\') i++
            if (i >= n) return null
            quoted += text[i++]
          }
          if (i >= n) return null
          i++
          // RFC 6455 §9.1: a quoted value must still be a token once unquoted.
          if (quoted === '' || ![...quoted].every((c) => TCHAR.test(c))) return null
          paramValue = quoted
        } else {
          paramValue = token()
          if (paramValue === '') return null
        }
        skipSpace()
      }
      params.push([param, paramValue])
    }
    if (i < n && text[i] !== ',') return null
    i++
    elements.push({ name, params })
  }
  return elements
}

import { ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { HandshakeError } from '../../protocol'

/** `next()` of an Express/Connect middleware: an error (or 'route') skips the rest. */
export type NextFunction = (error?: unknown) => void

/**
 * An Express/Connect-style middleware: express-session, passport.initialize() /
 * passport.session(), cookie-parser, or your own `(req, res, next) => ...`. (Declared as a
 * method type so Express's `RequestHandler`, whose `req` is a richer type, is accepted.)
 */
export type ConnectMiddleware<TReq extends IncomingMessage = IncomingMessage> = {
  run(req: TReq, res: ServerResponse, next: NextFunction): unknown
}['run']

/** The most of a refusing middleware's body sent back to the client. */
const MAX_BODY = 4096

/** Headers the refusal writes itself (see buildRejectResponse). */
const OWN_HEADERS = new Set(['content-length', 'content-type', 'connection', 'transfer-encoding'])

/**
 * Runs middleware on an upgrade request, in order, with a response object that is never sent:
 * resolves once the last one calls `next()`. A middleware that answers itself (`res.end()`, as
 * passport does with 401) refuses the handshake with its status, headers and body; `next(err)`
 * with an `err.status` / `err.statusCode` of 400–599 refuses with that status, any other error
 * rejects as is (a guard failing with it answers 500 and logs it). Express's
 * `res.send`/`res.json` are not there: middleware written for Express's response may only use
 * Node's `res` API.
 */
export function runMiddleware<TReq extends IncomingMessage>(req: TReq, middleware: readonly ConnectMiddleware<TReq>[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const res: ServerResponse = new ServerResponse(req as IncomingMessage)
    let settled = false
    let status: number | undefined
    let headers: OutgoingHttpHeaders = {}
    let body = ''
    const refuse = (error: unknown): void => {
      if (settled) return
      settled = true
      reject(error)
    }
    const collect = (chunk: unknown): void => {
      if (body.length < MAX_BODY && (typeof chunk === 'string' || chunk instanceof Uint8Array)) {
        body += (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')).slice(0, MAX_BODY - body.length)
      }
    }
    // The response never goes out on its own: what a middleware writes becomes the refusal.
    res.writeHead = function (this: ServerResponse, code: number, ...rest: unknown[]) {
      status = code
      const given = rest.find((r) => typeof r === 'object' && r !== null)
      if (given !== undefined && !Array.isArray(given)) headers = { ...headers, ...(given as OutgoingHttpHeaders) }
      return this
    } as ServerResponse['writeHead']
    res.write = function (chunk: unknown) {
      collect(chunk)
      return true
    } as ServerResponse['write']
    res.end = function (this: ServerResponse, chunk?: unknown) {
      if (typeof chunk !== 'function') collect(chunk)
      refuse(new HandshakeError(status ?? res.statusCode, body || undefined, flatten({ ...res.getHeaders(), ...headers })))
      return this
    } as ServerResponse['end']
    let index = 0
    const next: NextFunction = (error) => {
      if (settled) return
      if (error !== undefined && error !== null && error !== 'route' && error !== 'router') return refuse(asRefusal(error))
      if (index === middleware.length) {
        settled = true
        return resolve()
      }
      const current = middleware[index++]
      try {
        const result = current(req, res, next)
        if (result instanceof Promise) result.catch(next)
      } catch (err) {
        next(err)
      }
    }
    next()
  })
}

/** An error with an HTTP status (http-errors, express' own) as the refusal it asks for. */
function asRefusal(error: unknown): unknown {
  if (error instanceof HandshakeError) return error
  const { status, statusCode, message, expose } = error as { status?: unknown; statusCode?: unknown; message?: unknown; expose?: unknown }
  const code = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : undefined
  if (code === undefined || code < 400 || code > 599) return error
  // Like Express: 5xx messages stay on the server unless the error says they may be shown.
  const shown = (code < 500 || expose === true) && typeof message === 'string' ? message : undefined
  return new HandshakeError(code, shown)
}

function flatten(headers: OutgoingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || OWN_HEADERS.has(name.toLowerCase())) continue
    flat[name] = Array.isArray(value) ? value.join(', ') : String(value)
  }
  return flat
}

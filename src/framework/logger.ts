/**
 * The fields of a log line: `connectionId`, `gateway` and `remoteAddress` where a connection is
 * concerned, `err` for an error (pino serializes that key as an error), and what else says where.
 */
export type LogFields = Record<string, unknown>

/**
 * Where the app reports what it cannot hand to a handler: an object of fields, then a message,
 * on four levels. pino (and bunyan) loggers are Loggers as they are; a winston logger is
 * recognised and called as winston expects (`logger.error(message, fields)`); `console` is the
 * default. `debug` receives peers' protocol errors.
 *
 * @example
 * bootstrap(AppModule, { logger: pino() })
 * // {"level":50,"connectionId":7,"gateway":"ChatGateway","remoteAddress":"10.0.0.5","err":{...},"msg":"gatewire: ChatGateway.say failed"}
 */
export interface Logger {
  error(fields: LogFields, message: string): void
  warn(fields: LogFields, message: string): void
  info?(fields: LogFields, message: string): void
  debug?(fields: LogFields, message: string): void
}

const SILENT: Logger = { error() {}, warn() {} }

/** Errors and warnings to the console, message first; `debug` (peers' protocol errors) stays quiet by default. */
const CONSOLE: Logger = {
  error: (fields, message) => console.error(message, fields),
  warn: (fields, message) => console.warn(message, fields),
}

/** `undefined` → console (without debug), `false` → silent; a winston logger gets its own argument order. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return SILENT
  if (logger === undefined) return CONSOLE
  return isWinston(logger) ? winstonOrder(logger) : logger
}

type WinstonLike = Record<'error' | 'warn' | 'info' | 'debug', (message: string, meta: LogFields) => void>

/**
 * winston's level methods take the message first: given an object first, winston logs the
 * object as the message and drops the string. Its loggers are told apart by their transports.
 */
function isWinston(logger: Logger): boolean {
  const candidate = logger as unknown as { transports?: unknown; add?: unknown; log?: unknown }
  return Array.isArray(candidate.transports) && typeof candidate.add === 'function' && typeof candidate.log === 'function'
}

function winstonOrder(logger: Logger): Logger {
  const w = logger as unknown as WinstonLike
  // winston's JSON format writes an Error as {}: its fields are copied out.
  const meta = (fields: LogFields): LogFields => {
    const err = fields.err
    if (!(err instanceof Error)) return fields
    return { ...fields, err: { ...err, name: err.name, message: err.message, stack: err.stack } }
  }
  return {
    error: (fields, message) => w.error(message, meta(fields)),
    warn: (fields, message) => w.warn(message, meta(fields)),
    info: (fields, message) => w.info(message, meta(fields)),
    debug: (fields, message) => w.debug(message, meta(fields)),
  }
}

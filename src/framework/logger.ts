/** Where the app reports what it cannot hand to a handler: `console` by default. */
export interface Logger {
  error(message: string, ...details: unknown[]): void
  warn(message: string, ...details: unknown[]): void
  debug?(message: string, ...details: unknown[]): void
}

const SILENT: Logger = { error() {}, warn() {} }

/** `undefined` → console, `false` → silent. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return SILENT
  return logger ?? console
}

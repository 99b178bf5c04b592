/** Where the app reports what it cannot hand to a handler: `console` by default. */
export interface Logger {
  error(message: string, ...details: unknown[]): void
  warn(message: string, ...details: unknown[]): void
  debug?(message: string, ...details: unknown[]): void
}

const SILENT: Logger = { error() {}, warn() {} }

/** Errors and warnings to the console; `debug` (peers' protocol errors) stays quiet by default. */
const CONSOLE: Logger = {
  error: (message, ...details) => console.error(message, ...details),
  warn: (message, ...details) => console.warn(message, ...details),
}

/** `undefined` → console (without debug), `false` → silent. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return SILENT
  return logger ?? CONSOLE
}

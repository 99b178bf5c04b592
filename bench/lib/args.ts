/** `--port N` from argv (the contract every echo server in this harness follows). */
export function portArg(argv: readonly string[] = process.argv.slice(2)): number {
  const value = stringArg('port', argv)
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port N is required (got ${String(value)})`)
  }
  return port
}

/** `--name value` or `--name=value`; undefined when absent. */
export function stringArg(name: string, argv: readonly string[] = process.argv.slice(2)): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === `--${name}`) return argv[i + 1]
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3)
  }
  return undefined
}

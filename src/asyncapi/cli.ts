#!/usr/bin/env node
// `npx gatewire asyncapi <module-file> [--export Name] [--options Name] [--title T] [--version V]`:
// prints the AsyncAPI 3.0 document of the app whose root module the file exports. The app is
// bootstrapped (providers and gateways are built) but never listens.
import { resolve } from 'node:path'
import { bootstrap, type BootstrapOptions, type Class } from '../framework'
import { getModuleRecord } from '../framework/store'
import type { AsyncApiOptions } from './asyncapi-document'

const USAGE = `usage: gatewire asyncapi <module-file> [--export Name] [--options Name] [--title T] [--version V] [--description D]

  <module-file>   a .ts file (loaded with ts-node, which must be installed) or a compiled .js file
  --export Name   the root @Module class to document (default: the file's only exported @Module)
  --options Name  an exported BootstrapOptions object to bootstrap with (limits show in the document)
  --title, --version, --description   the document's info (default title: the module's name)
`

class UsageError extends Error {}

/** Runs the CLI; returns the exit code. Output and errors go to the given streams. */
export function runCli(args: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  try {
    const { file, flags } = parseArgs(args)
    const exports = load(file)
    const root = pickModule(exports, flags.export, file)
    let options: BootstrapOptions | undefined
    if (flags.options !== undefined) {
      options = exports[flags.options] as BootstrapOptions | undefined
      if (options === null || typeof options !== 'object') throw new UsageError(`${file} exports no object named ${flags.options}`)
    }
    const info: AsyncApiOptions = { title: flags.title, version: flags.version, description: flags.description }
    const document = bootstrap(root, { ...options, logger: false }).asyncapi(info)
    out.write(JSON.stringify(document, null, 2) + '\n')
    return 0
  } catch (e) {
    err.write(e instanceof UsageError ? `gatewire: ${e.message}\n\n${USAGE}` : `gatewire: ${(e as Error).stack ?? String(e)}\n`)
    return e instanceof UsageError ? 2 : 1
  }
}

interface Flags {
  export?: string
  options?: string
  title?: string
  version?: string
  description?: string
}

function parseArgs(args: readonly string[]): { file: string; flags: Flags } {
  const [command, ...rest] = args
  if (command !== 'asyncapi') throw new UsageError(command === undefined ? 'no command' : `unknown command ${JSON.stringify(command)}`)
  const flags: Flags = {}
  let file: string | undefined
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    if (arg.startsWith('--')) {
      const name = arg.slice(2)
      if (!['export', 'options', 'title', 'version', 'description'].includes(name)) throw new UsageError(`unknown option ${arg}`)
      const value = rest[++i]
      if (value === undefined) throw new UsageError(`${arg} needs a value`)
      flags[name as keyof Flags] = value
    } else if (file === undefined) {
      file = arg
    } else {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`)
    }
  }
  if (file === undefined) throw new UsageError('no module file given')
  return { file, flags }
}

function load(file: string): Record<string, unknown> {
  const path = resolve(file)
  if (/\.[cm]?ts$/.test(path) && !(Symbol.for('ts-node.register.instance') in process)) {
    let tsNode: { register(options: object): void }
    try {
      tsNode = require('ts-node') as typeof tsNode
    } catch {
      throw new UsageError(`${file} is TypeScript: install ts-node (npm install -D ts-node), or pass the compiled .js file`)
    }
    // Types are the compiler's business; decorator metadata is all the document needs.
    tsNode.register({ transpileOnly: true })
  }
  return require(path) as Record<string, unknown>
}

function pickModule(exports: Record<string, unknown>, name: string | undefined, file: string): Class {
  if (name !== undefined) {
    const found = exports[name]
    if (typeof found !== 'function' || getModuleRecord(found) === undefined) {
      throw new UsageError(`${file} exports no @Module() class named ${name}`)
    }
    return found as Class
  }
  const modules = Object.entries(exports).filter(([, value]) => typeof value === 'function' && getModuleRecord(value) !== undefined)
  if (modules.length === 1) return modules[0][1] as Class
  if (modules.length === 0) throw new UsageError(`${file} exports no @Module() class`)
  throw new UsageError(`${file} exports several @Module() classes (${modules.map(([n]) => n).join(', ')}): choose one with --export`)
}

if (require.main === module) process.exitCode = runCli(process.argv.slice(2), process.stdout, process.stderr)

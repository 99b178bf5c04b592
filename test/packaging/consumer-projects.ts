// The projects a user of the published package would write, as file maps the packaging test
// writes next to an installed tarball. They live here as text, not as .ts files of the repo,
// because they import 'gatewire' by its package name, which only resolves once it is installed.

/** A consumer project: its files, relative to its own folder. */
export interface ConsumerProject {
  /** Folder name, also the name the test reports. */
  readonly name: string
  readonly files: Readonly<Record<string, string>>
}

/** An entry point as a consumer imports it: `gatewire`, `gatewire/core`, ... */
export interface EntrySpecifier {
  /** The `exports` key: `.`, `./core`, ... */
  readonly key: string
  /** What a consumer writes: `gatewire`, `gatewire/core`, ... */
  readonly specifier: string
}

/** A TypeScript consumer's options that every variant shares (what README's Install asks for). */
const SHARED_COMPILER_OPTIONS = {
  target: 'ES2022',
  lib: ['ES2022'],
  types: ['node'],
  strict: true,
  // Checking gatewire's own declarations is the point: a missing or broken .d.ts must fail here
  // (an import that does not resolve inside a .d.ts is silent under skipLibCheck).
  skipLibCheck: false,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  rootDir: 'src',
  outDir: 'out',
}

// One gateway for the TypeScript consumers. `conn: Connection` has no parameter decorator, so it
// only reaches the handler when the consumer's compiler emitted design:paramtypes.
const APP_TS = `import { Connection, Gateway, Module, OnText, Param } from 'gatewire'

@Gateway('/echo/:room')
export class EchoGateway {
  @OnText()
  onText(text: string, conn: Connection, @Param('room') room: string): void {
    conn.send(\`\${room}:\${text.toUpperCase()}\`)
  }
}

@Module({ gateways: [EchoGateway] })
export class AppModule {}
`

// The gateway served by bootstrap() and reached with the core client of 'gatewire/core'.
const MAIN_TS = `import { bootstrap } from 'gatewire'
import { connect } from 'gatewire/core'
import { AppModule } from './app.js'

async function main(): Promise<void> {
  const app = await bootstrap(AppModule, { logger: false }).listen(0, '127.0.0.1')
  const address = app.address()
  if (address === null || typeof address === 'string') throw new Error('main: the app has no TCP address')
  const client = connect(\`ws://127.0.0.1:\${address.port}/echo/lobby\`)
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('main: no reply within 5 s')), 5000)
      client.once('connect', () => client.send('hi'))
      client.once('text', (text) => { clearTimeout(timer); resolve(text) })
      client.once('error', (error) => { clearTimeout(timer); reject(error) })
    })
    console.log(\`main: \${reply}\`)
  } finally {
    client.terminate()
    await app.close()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
`

// A gatewire/testing test as a user writes one, under Node's own runner (no mocha to install).
const APP_TEST_TS = `import { test } from 'node:test'
import { strict as assert } from 'node:assert'
import { createTestApp, type TestApp } from 'gatewire/testing'
import { AppModule } from './app.js'

test('the echo gateway answers through gatewire/testing', async () => {
  const t: TestApp = await createTestApp(AppModule)
  try {
    const client = await t.connect('/echo/lobby')
    client.send('hi')
    assert.equal(await client.nextMessage(), 'lobby:HI')
    await t.expectRejected('/nowhere', 404)
  } finally {
    await t.close()
  }
})
`

/**
 * Imports every entry point (the list comes from package.json `exports`), so that one without
 * types fails the compile (TS2307, or TS7016 under `strict` when only the JavaScript is there)
 * and one without its runtime file fails when this runs.
 */
function entriesTs(entries: readonly EntrySpecifier[]): string {
  const imports = entries.map((entry, i) => `import * as entry${i} from '${entry.specifier}'`)
  const table = entries.map((entry, i) => `  '${entry.specifier}': entry${i},`)
  return `${imports.join('\n')}

const entries: Record<string, object> = {
${table.join('\n')}
}
for (const [specifier, namespace] of Object.entries(entries)) {
  if (Object.keys(namespace).length === 0) throw new Error(\`\${specifier} exports nothing\`)
}
console.log(\`entries: \${Object.keys(entries).length} loaded\`)
`
}

/**
 * A TypeScript consumer: the shared sources, its package type, a tsconfig for TypeScript 5.9 and
 * one for TypeScript 7 (`ts7` overrides; an `undefined` option is left out).
 */
function typeScriptConsumer(
  name: string,
  type: 'commonjs' | 'module',
  options: Record<string, unknown>,
  ts7: Record<string, unknown>,
  entries: readonly EntrySpecifier[],
): ConsumerProject {
  const tsconfig = (compilerOptions: Record<string, unknown>): string =>
    JSON.stringify({ compilerOptions: { ...SHARED_COMPILER_OPTIONS, ...compilerOptions }, include: ['src'] }, null, 2)
  return {
    name,
    files: {
      'package.json': JSON.stringify({ name: `consumer-${name}`, private: true, type }, null, 2),
      'tsconfig.json': tsconfig(options),
      'tsconfig.ts7.json': tsconfig({ ...options, ...ts7, outDir: 'out-ts7' }),
      'src/app.ts': APP_TS,
      'src/main.ts': MAIN_TS,
      'src/app.test.ts': APP_TEST_TS,
      'src/entries.ts': entriesTs(entries),
    },
  }
}

/** CommonJS TypeScript with the default (node10) resolution: the usual CommonJS/NestJS set-up. */
export function cjsNode10(entries: readonly EntrySpecifier[]): ConsumerProject {
  // TypeScript 7 removed node10; with module commonjs its default resolution is bundler.
  const options = { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }
  return typeScriptConsumer('cjs-node10', 'commonjs', options, { moduleResolution: undefined }, entries)
}

/** ESM TypeScript (`"type": "module"`) with nodenext resolution. */
export function esmNodeNext(entries: readonly EntrySpecifier[]): ConsumerProject {
  // skipLibCheck as `tsc --init` writes it: cjs-node10 already checks every declaration file, and
  // checking the optional peers' types (fastify, Nest) twice would double the test's longest step.
  const options = { module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: true }
  return typeScriptConsumer('esm-nodenext', 'module', options, {}, entries)
}

/**
 * Plain ESM JavaScript: decorators applied as functions (parameters marked, since nothing emits
 * design:paramtypes), and every entry's named exports compared between `import` and `require`,
 * so a CommonJS export that Node's ESM loader cannot see fails here.
 */
export function esmMjs(entries: readonly EntrySpecifier[]): ConsumerProject {
  const specifiers = JSON.stringify(entries.map((entry) => entry.specifier))
  return {
    name: 'esm-mjs',
    files: {
      'package.json': JSON.stringify({ name: 'consumer-esm-mjs', private: true }, null, 2),
      'app.mjs': `import { Conn, Gateway, Module, OnText, Payload } from 'gatewire'

export class EchoGateway {
  onText(text, conn) {
    conn.send(text.toUpperCase())
  }
}
// What TypeScript does for @Payload() text, @Conn() conn and @OnText(): parameters first.
Payload()(EchoGateway.prototype, 'onText', 0)
Conn()(EchoGateway.prototype, 'onText', 1)
OnText()(EchoGateway.prototype, 'onText', Object.getOwnPropertyDescriptor(EchoGateway.prototype, 'onText'))
Gateway('/echo')(EchoGateway)

export class AppModule {}
Module({ gateways: [EchoGateway] })(AppModule)
`,
      'app.test.mjs': `import { test } from 'node:test'
import { strict as assert } from 'node:assert'
import { createTestApp } from 'gatewire/testing'
import { AppModule } from './app.mjs'

test('the echo gateway answers through gatewire/testing', async () => {
  const t = await createTestApp(AppModule)
  try {
    const client = await t.connect('/echo')
    client.send('hi')
    assert.equal(await client.nextMessage(), 'HI')
  } finally {
    await t.close()
  }
})
`,
      'entries.mjs': `import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const problems = []
for (const specifier of ${specifiers}) {
  const esm = await import(specifier)
  const missing = Object.keys(require(specifier)).filter((name) => name !== '__esModule' && !(name in esm))
  if (missing.length > 0) problems.push(\`\${specifier}: import cannot see \${missing.join(', ')}\`)
}
if (problems.length > 0) throw new Error(problems.join('\\n'))
console.log('entries: named exports match')
`,
    },
  }
}

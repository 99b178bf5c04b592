import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { runInThisContext } from 'node:vm'
import ts from 'typescript'
import { bootstrap, Connection, DefinitionError, type Class } from '../../src'
import { declaresParameters } from '../../src/framework/missing-metadata'
import { createTestApp, type TestApp } from '../../src/testing'
import { thrown } from '../helpers/thrown'

const FIXTURE = join(__dirname, '..', 'fixtures', 'no-metadata-app.ts')

/** The fixture compiled as tsx/esbuild/vitest compile it: decorators, but no design:* metadata. */
function loadWithoutMetadata(): Record<string, any> {
  const { outputText } = ts.transpileModule(readFileSync(FIXTURE, 'utf8'), {
    fileName: FIXTURE,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      experimentalDecorators: true,
      emitDecoratorMetadata: false,
      useDefineForClassFields: false,
      esModuleInterop: true,
    },
  })
  const exports: Record<string, any> = {}
  const wrapper = runInThisContext(`(function (exports, require, module) {${outputText}\n})`, { filename: FIXTURE })
  wrapper(exports, createRequire(FIXTURE), { exports })
  return exports
}

function definitionError(fn: () => unknown): DefinitionError {
  return thrown(DefinitionError, fn, 'bootstrap() succeeded although the handler would have received the wrong arguments')
}

describe('missing decorator metadata', () => {
  const fixture = loadWithoutMetadata()
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('compiles the fixture with no design:paramtypes, as esbuild would', () => {
    // Guards the tests below: with metadata present they would prove nothing.
    expect(Reflect.getMetadata('design:paramtypes', fixture.UnmarkedGateway.prototype, 'closed')).to.equal(undefined)
    expect(Reflect.getMetadata('design:paramtypes', fixture.Timetable)).to.equal(undefined)
    expect(fixture.UnmarkedGateway.prototype.closed.length).to.equal(1)
  })

  it('fails bootstrap() for a handler with an undecorated parameter, naming the class, the member and both fixes', () => {
    const err = definitionError(() => bootstrap(fixture.UnmarkedModule as Class))
    expect(err.className).to.equal('UnmarkedGateway')
    expect(err.member).to.equal('closed')
    expect(err.message).to.match(/^UnmarkedGateway\.closed: /)
    expect(err.message).to.include('design:paramtypes')
    expect(err.message).to.include('"emitDecoratorMetadata"')
    expect(err.message).to.include('@Conn()')
    expect(err.message).to.include('parameter #0 has none')
    expect(err.message).to.include('(code, reason, connection)')
  })

  it('fails bootstrap() for a handler whose only parameter has a default value (length 0)', () => {
    const err = definitionError(() => bootstrap(fixture.DefaultedModule as Class))
    expect(err.message).to.match(/^DefaultedGateway\.closed: .*emitDecoratorMetadata/)
  })

  it('fails bootstrap() for an @OnMessage payload whose class it cannot see, which would go unvalidated', () => {
    const err = definitionError(() => bootstrap(fixture.UntypedPayloadModule as Class))
    expect(err.message).to.match(/^UntypedPayloadGateway\.say: /)
    expect(err.message).to.include('@Payload(Dto)').and.include('@Payload({ validate: false })')
  })

  it('fails bootstrap() for a provider with an undecorated constructor parameter, even one no gateway uses', () => {
    const err = definitionError(() => bootstrap(fixture.ProviderModule as Class))
    expect(err.className).to.equal('Timetable')
    expect(err.member).to.equal('constructor')
    expect(err.message).to.include('"emitDecoratorMetadata"')
    expect(err.message).to.include('@Inject(token)')
  })

  it('runs handlers and injects constructors whose parameters are all decorated, without metadata', async () => {
    t = await createTestApp(fixture.MarkedModule as Class)
    expect(t.app.get<{ clock: unknown }>(fixture.InjectedGateway).clock).to.be.instanceOf(fixture.Clock)
    const closed = new Promise<unknown[]>((resolve) => (fixture.observed.closed = (...args: unknown[]) => resolve(args)))
    const client = await t.connect('/marked')
    client.sendJson({ event: 'say', data: { text: 'hi' } })
    expect(await client.nextJson()).to.deep.equal({ event: 'said', data: 'hi' })
    client.sendJson({ event: 'say', data: { text: 3 } })
    expect(((await client.nextJson()) as { event: string }).event, 'a Say is validated').to.equal('error')
    client.sendJson({ event: 'raw', data: [1, 2] })
    expect(await client.nextJson()).to.deep.equal({ event: 'raw', data: [1, 2] })
    client.close(4000, 'bye')
    const [conn, code, reason] = await closed
    expect(conn).to.be.instanceOf(Connection)
    expect(code).to.equal(4000)
    expect(reason).to.equal('bye')
  })
})

describe('declaresParameters', () => {
  it('sees parameters that Function#length does not count', () => {
    class Methods {
      none() {}
      one(_a: number) {}
      defaulted(_a = 1) {}
      rest(..._a: number[]) {}
      [Symbol.for('f(x)')](_a = 1) {}
      [Symbol.for('g')]() {}
    }
    const p = Methods.prototype as unknown as Record<string | symbol, Function>
    expect(declaresParameters(p.none)).to.equal(false)
    expect(declaresParameters(p.one)).to.equal(true)
    expect(declaresParameters(p.defaulted)).to.equal(true)
    expect(declaresParameters(p.rest)).to.equal(true)
    expect(declaresParameters(p[Symbol.for('f(x)')])).to.equal(true)
    expect(declaresParameters(p[Symbol.for('g')])).to.equal(false)
  })

  it('counts a class by its constructor only', () => {
    class NoConstructor {
      method(_a: number) {}
    }
    class WithOne {
      constructor(readonly a: number) {}
    }
    expect(declaresParameters(NoConstructor)).to.equal(false)
    expect(declaresParameters(WithOne)).to.equal(true)
  })
})

import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { imports, sources } from '../helpers/source-files'

const ROOT = join(__dirname, '..', '..')

describe('framework layering', () => {
  const framework = sources(join(ROOT, 'src', 'framework'))

  it('reaches the core only through its public entries, never frame-level modules', () => {
    for (const file of framework) {
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) continue
        const target = relative(join(ROOT, 'src'), join(file, '..', spec))
        if (target.startsWith('protocol') || target.startsWith('transport')) {
          expect(['protocol', 'transport'], `${relative(ROOT, file)} imports ${spec}`).to.include(target)
        }
      }
    }
  })

  it('imports no runtime packages but reflect-metadata, class-validator and class-transformer', () => {
    for (const file of framework) {
      for (const spec of imports(file)) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue
        expect(['reflect-metadata', 'class-validator', 'class-transformer'], `${relative(ROOT, file)} imports ${spec}`).to.include(spec)
      }
    }
  })

  it('reads and writes metadata only in store.ts, and imports reflect-metadata only in the entry', () => {
    for (const file of framework) {
      const text = readFileSync(file, 'utf8')
      const name = relative(join(ROOT, 'src', 'framework'), file)
      if (name !== 'store.ts') expect(text, name).to.not.match(/Reflect\.\w*Metadata/)
      if (name !== 'index.ts') expect(imports(file), name).to.not.include('reflect-metadata')
    }
  })

  it('keeps the core free of framework imports', () => {
    for (const dir of ['protocol', 'transport']) {
      for (const file of sources(join(ROOT, 'src', dir))) {
        for (const spec of imports(file)) expect(spec, relative(ROOT, file)).to.not.match(/framework|testing/)
      }
    }
  })

  it('keeps the broker free of transport and framework imports, and of packages', () => {
    // Brokers are imported by the transport (the interface, the in-process broker) and by
    // gatewire/redis; anything they imported back would make a cycle or load the core twice.
    const files = sources(join(ROOT, 'src', 'broker'))
    expect(files.map((file) => relative(ROOT, file))).to.include('src/broker/broker.ts')
    for (const file of files) {
      for (const spec of imports(file)) {
        const where = relative(ROOT, file)
        // Its own modules, and the pure codec (UTF-8 validation) at most.
        if (spec.startsWith('.')) expect(spec, `${where} imports ${spec}`).to.match(/^\.\/[a-z-]+$|^\.\.\/protocol\/[a-z0-9-]+$/)
        else expect(spec, `${where} imports ${spec}`).to.match(/^node:/)
      }
    }
  })
})

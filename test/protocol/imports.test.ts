import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { imports, sources } from '../helpers/source-files'

const PROTOCOL = join(__dirname, '..', '..', 'src', 'protocol')

describe('protocol imports', () => {
  it('are pure: node:buffer and node:crypto only, node:zlib only under extensions/, nothing outside src/protocol', () => {
    const files = sources(PROTOCOL)
    expect(files.map((f) => relative(PROTOCOL, f))).to.include.members(['frame-parser.ts', 'extensions/raw-zlib.ts'])
    let zlibUsers = 0
    for (const file of files) {
      const name = relative(PROTOCOL, file)
      const allowed = name.startsWith('extensions/') ? ['node:buffer', 'node:crypto', 'node:zlib'] : ['node:buffer', 'node:crypto']
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) {
          expect(relative(PROTOCOL, join(file, '..', spec)), `${name} imports ${spec}`).to.not.match(/^\.\./)
          continue
        }
        expect(allowed, `${name} imports ${spec}`).to.include(spec)
        if (spec === 'node:zlib') zlibUsers++
      }
    }
    // The check above is not vacuous: the codec step does use zlib.
    expect(zlibUsers).to.be.greaterThan(0)
  })

  it('use no timers: zlib work in the codec is synchronous', () => {
    for (const file of sources(PROTOCOL)) {
      expect(readFileSync(file, 'utf8'), relative(PROTOCOL, file)).to.not.match(/\b(setTimeout|setInterval|setImmediate|queueMicrotask|process\.nextTick)\(/)
    }
  })
})

import { expect } from 'chai'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const TRANSPORT = join(__dirname, '..', '..', 'src', 'transport')

describe('transport imports', () => {
  it('takes codec values from their defining modules, not the protocol index', () => {
    // The index re-exports compile to getters; reading one on every message (a frame builder,
    // a mask function) is a generic property lookup on the per-message path.
    const files = readdirSync(TRANSPORT).filter((name) => name.endsWith('.ts'))
    expect(files).to.include.members(['sender.ts', 'connection.ts', 'server.ts', 'client.ts'])
    for (const name of files) {
      const text = readFileSync(join(TRANSPORT, name), 'utf8')
      const specs = [...text.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1])
      expect(specs, name).to.not.include('../protocol')
    }
    // The same for the topics (a publish is a per-message path too), one directory down.
    const pubsub = readdirSync(join(TRANSPORT, 'pubsub')).filter((name) => name.endsWith('.ts'))
    expect(pubsub).to.include.members(['topic-registry.ts', 'published-frame.ts'])
    for (const name of pubsub) {
      const text = readFileSync(join(TRANSPORT, 'pubsub', name), 'utf8')
      const specs = [...text.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1])
      expect(specs, `pubsub/${name}`).to.not.include('../../protocol')
    }
    // The per-message modules do take codec values (the check above is not vacuous for them).
    for (const name of ['sender.ts', 'connection.ts']) {
      const text = readFileSync(join(TRANSPORT, name), 'utf8')
      expect(text, name).to.match(/from '\.\.\/protocol\/[a-z-]+'/)
    }
  })
})

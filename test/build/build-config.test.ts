import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'

const ROOT = join(__dirname, '..', '..')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

describe('npm run build (tsconfig.build.json)', function () {
  // The fixtures the independent suites run (`npm run echo`, `echo:framework`, `echo-client`,
  // `rooms`) and the benchmarks are `npm run -s build && node dist/...`: a type error anywhere in
  // what that config compiles stops them all, although `npm run typecheck` (tests included,
  // with mocha's types) may pass.
  this.timeout(180_000)

  it('type-checks src, the fixtures, the benchmarks and the example app without mocha types', async () => {
    let output = ''
    try {
      await promisify(execFile)(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json'), '--noEmit', '--incremental', 'false'], {
        cwd: ROOT,
        timeout: 170_000,
      })
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error)
    }
    expect(output, 'tsc -p tsconfig.build.json reported errors').to.equal('')
  })
})

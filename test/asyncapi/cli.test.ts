import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { AppModule, appOptions } from '../../example-app/app-module'
import { bootstrap } from '../../src'

const ROOT = join(__dirname, '..', '..')
const CLI = join(ROOT, 'src', 'asyncapi', 'cli.ts')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

describe('gatewire asyncapi (CLI)', () => {
  const children: ChildProcess[] = []
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill()
  })

  /** Runs the CLI as `npx gatewire` would, its TypeScript through ts-node. */
  function run(...args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CLI, ...args], { cwd: ROOT })
      children.push(child)
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      child.once('error', reject)
      child.once('close', (code) => resolve({ code, stdout, stderr }))
    })
  }

  it('prints the document of the module a TypeScript file exports, the same as app.asyncapi()', async () => {
    const result = await run('asyncapi', 'example-app/app-module.ts', '--options', 'appOptions', '--title', 'chat', '--version', '3.2.1')
    expect(result.stderr).to.equal('')
    expect(result.code).to.equal(0)
    const expected = bootstrap(AppModule, appOptions).asyncapi({ title: 'chat', version: '3.2.1' })
    expect(JSON.parse(result.stdout)).to.deep.equal(expected)
  })

  it('takes the module named by --export and defaults the title to its name', async () => {
    const result = await run('asyncapi', 'example-app/chat-module.ts', '--export', 'ChatModule')
    expect(result.code, result.stderr).to.equal(0)
    const document = JSON.parse(result.stdout)
    expect(document.info.title).to.equal('ChatModule')
    expect(Object.keys(document.channels)).to.deep.equal(['ChatGateway'])
  })

  it('exits with 2 and says why when the file exports no @Module class', async () => {
    const result = await run('asyncapi', 'example-app/chat-events.ts')
    expect(result.code).to.equal(2)
    expect(result.stderr).to.include('exports no @Module() class').and.include('usage: gatewire asyncapi')
    expect(result.stdout).to.equal('')
  })

  it('exits with 2 on an unknown command or option', async () => {
    expect((await run('openapi', 'x.ts')).stderr).to.include('unknown command "openapi"')
    const result = await run('asyncapi', 'example-app/app-module.ts', '--port', '1')
    expect(result.code).to.equal(2)
    expect(result.stderr).to.include('unknown option --port')
  })

  it('exits with 1 and the error when the file cannot be loaded', async () => {
    const result = await run('asyncapi', 'example-app/no-such-file.ts')
    expect(result.code).to.equal(1)
    expect(result.stderr).to.include('Cannot find module')
  })
})

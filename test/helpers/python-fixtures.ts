// Python's `websockets` (Debian's python3-websockets) as an independent peer: the interpreter,
// the fixture scripts in test/fixtures/python/, and a runner that registers the child for
// releaseAll().
import { spawn } from 'node:child_process'
import * as path from 'node:path'
import { track } from './transport-harness'

export const PYTHON = '/usr/bin/python3'
export const PYTHON_FIXTURES = path.join(__dirname, '..', 'fixtures', 'python')

/** Runs a python fixture; resolves with its stdout once it exits (rejects on a non-zero exit). */
export function runPython(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [path.join(PYTHON_FIXTURES, script), ...args])
    track(() => void child.kill())
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${script} exited with ${code}:\n${stderr}`))))
  })
}

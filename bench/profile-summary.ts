import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

// Summarises a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --profile`): the
// functions with the most self time, and the share of time idle, in GC and in native code.
// Usage: node dist/bench/profile-summary.js <file.cpuprofile> [top N]

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export function summariseProfile(file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]))
  const selfTime = new Map<string, number>()
  let total = 0
  // A sample's weight is the time until the next sample (timeDeltas[i + 1]).
  for (let i = 0; i < profile.samples.length; i++) {
    const weight = profile.timeDeltas[i + 1] ?? 0
    const node = byId.get(profile.samples[i])
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    const where = url === '' ? '' : ` ${url.replace(/^file:\/\//, '').split('/').slice(-2).join('/')}:${lineNumber + 1}`
    const key = `${functionName === '' ? '(anonymous)' : functionName}${where}`
    selfTime.set(key, (selfTime.get(key) ?? 0) + weight)
    total += weight
  }
  const idle = selfTime.get('(idle)') ?? 0
  const busy = total - idle
  const lines = [
    `${basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy; self time as % of busy time`,
  ]
  const sorted = [...selfTime].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1])
  for (const [key, time] of sorted.slice(0, top)) {
    lines.push(`${((100 * time) / busy).toFixed(1).padStart(6)}%  ${key}`)
  }
  return lines.join('\n')
}

if (require.main === module) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile> [top N]\n')
    process.exit(2)
  }
  process.stdout.write(`${summariseProfile(file, Number(process.argv[3] ?? 25))}\n`)
}

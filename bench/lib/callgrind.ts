import { spawnSync } from 'node:child_process'
import { connect } from 'node:net'

// What the callgrind benchmarks (instructions.ts, fanout-instructions.ts) share: waiting for a
// server slowed down by valgrind, and zeroing or dumping its counters.

/** Resolves once 127.0.0.1:`port` accepts a connection (at most 120 s: valgrind starts slowly). */
export async function waitListening(port: number, alive: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 1200; attempt++) {
    if (!alive()) throw new Error('the server exited before listening')
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => (s.destroy(), r(true)))
      s.once('error', () => r(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`not listening on ${port} after 120 s`)
}

/** `callgrind_control --zero|--dump PID`. */
export function callgrindControl(flag: string, pid: number): void {
  const run = spawnSync('callgrind_control', [flag, String(pid)], { encoding: 'utf8', timeout: 120_000 })
  if (run.status !== 0) throw new Error(`callgrind_control ${flag} failed: ${run.stderr ?? ''}${run.stdout ?? ''}`)
}

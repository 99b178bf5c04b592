// The control messages of the fan-out benchmark (bench/fanout.ts), shared by its servers: the
// generator's control connection asks a server to publish, or to report its heap.

export type FanoutCommand = { kind: 'publish'; count: number; size: number } | { kind: 'memory' }

/** Parses `publish COUNT SIZE` or `memory`; undefined for anything else. */
export function parseCommand(text: string): FanoutCommand | undefined {
  if (text === 'memory') return { kind: 'memory' }
  const match = /^publish (\d+) (\d+)$/.exec(text)
  if (match === null) return undefined
  return { kind: 'publish', count: Number(match[1]), size: Number(match[2]) }
}

const payloads = new Map<number, Buffer>()

/** The binary payload every server publishes for `size` (built once per size). */
export function payloadOf(size: number): Buffer {
  let payload = payloads.get(size)
  if (payload === undefined) {
    payload = Buffer.alloc(size)
    for (let i = 0; i < size; i++) payload[i] = 0x61 + (i % 26)
    payloads.set(size, payload)
  }
  return payload
}

/** JSON `{ heapUsed, rss }` after a full GC (the server runs with --expose-gc). */
export function memoryReport(): string {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
  const { heapUsed, rss } = process.memoryUsage()
  return JSON.stringify({ heapUsed, rss, gc: gc !== undefined })
}

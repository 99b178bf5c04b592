import { writeFileSync } from 'node:fs'

// Preloaded (`node --expose-gc -r dist/bench/servers/gc-hook.js <server>`) into servers in the
// idle-memory mode only: SIGUSR2 runs a full garbage collection, so RSS is read after garbage
// from connection setup is gone, and (when BENCH_MEMORY_FILE is set) writes
// process.memoryUsage() there, so the report can split RSS into JS heap and off-heap memory.
// It changes nothing else in the server.
const maybeGc = (globalThis as { gc?: () => void }).gc
const memoryFile = process.env.BENCH_MEMORY_FILE
process.on('SIGUSR2', () => {
  if (maybeGc !== undefined) {
    maybeGc()
    maybeGc()
  }
  if (memoryFile !== undefined) writeFileSync(memoryFile, JSON.stringify(process.memoryUsage()))
})

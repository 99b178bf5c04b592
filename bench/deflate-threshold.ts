import { performance } from 'node:perf_hooks'
import { constants, deflateRaw } from 'node:zlib'
import { RawZlib } from '../src/protocol/extensions/raw-zlib'
import { chatMessages } from './lib/chat-corpus'

// Where compressing a message off the main thread starts to pay (compression.asyncThreshold):
// per message size, the main thread's time for a synchronous deflate (RawZlib, as
// PerMessageDeflate.compress runs it) against an asynchronous one (node:zlib's one-shot
// deflateRaw, as compressAsync runs it), whose main-thread share is read from the event loop's
// utilisation while one job at a time runs; and that job's latency. Level 1, memLevel 8, window 15.
//   npm run -s build && node dist/bench/deflate-threshold.js [--quick]

const quick = process.argv.includes('--quick')
const SIZES = [1024, 4096, 8192, 16384, 32768, 65536, 262144, 1048576]
const BYTES_PER_SIZE = (quick ? 4 : 64) << 20

async function main(): Promise<void> {
  const text = chatMessages(2000, 100, 2048, 11).join('\n')
  const corpus = Buffer.from(text.repeat(Math.ceil((1 << 20) / text.length) + 1))
  const sync = new RawZlib('deflate', { level: 1, memLevel: 8, windowBits: 15 })
  const options = { level: 1, memLevel: 8, windowBits: 15, finishFlush: constants.Z_SYNC_FLUSH }
  const lines = ['| message | synchronous µs | asynchronous µs (main thread) | asynchronous µs (latency) |', '|---:|---:|---:|---:|']
  for (const size of SIZES) {
    const data = corpus.subarray(0, size)
    const n = Math.max(quick ? 5 : 20, Math.min(2000, Math.floor(BYTES_PER_SIZE / size)))
    let start = performance.now()
    for (let i = 0; i < n; i++) {
      sync.process(data, 0, data.length)
      sync.reset()
    }
    const syncUs = ((performance.now() - start) / n) * 1000
    const before = performance.eventLoopUtilization()
    start = performance.now()
    for (let i = 0; i < n; i++) {
      await new Promise<void>((done, fail) => deflateRaw(data, options, (error) => (error ? fail(error) : done())))
    }
    const latencyUs = ((performance.now() - start) / n) * 1000
    const busyUs = (performance.eventLoopUtilization(before).active / n) * 1000
    lines.push(`| ${size.toLocaleString('en-US')} B | ${syncUs.toFixed(1)} | ${busyUs.toFixed(1)} | ${latencyUs.toFixed(1)} |`)
  }
  sync.close()
  process.stdout.write(`${lines.join('\n')}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`deflate-threshold: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})

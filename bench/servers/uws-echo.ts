import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { portArg } from '../lib/args'
import { BENCH_NODE_MODULES } from '../lib/bench-deps'

// uWebSockets.js (C++ behind a Node addon) as an echo server: the reference the benchmark issue
// compares against. Its own distribution is on GitHub only (not reachable from this machine), so
// the harness uses the official v20 binaries as repackaged on npm by `uws-pack` (in
// bench/package.json, installed into bench/node_modules by the bench scripts). That package is
// ESM-only and its exports map hides the binaries, so the addon for this platform and Node ABI
// is loaded by path.

interface UwsSocket {
  send(message: ArrayBuffer, isBinary: boolean): number
  end(code?: number): void
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp
  listen(host: string, port: number, callback: (listenSocket: unknown) => void): UwsApp
}
interface Uws {
  App(): UwsApp
}

/** Path of the addon for this process, or undefined when uws-pack is not installed. */
export function uwsAddonPath(): string | undefined {
  const file = join(BENCH_NODE_MODULES, 'uws-pack', 'dist', 'bin', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)
  return existsSync(file) ? file : undefined
}

if (require.main === module) {
  const addon = uwsAddonPath()
  if (addon === undefined) {
    throw new Error(`bench/node_modules/uws-pack has no uWebSockets.js binary for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules})`)
  }
  const uws = require(addon) as Uws
  const MiB = 1024 * 1024
  uws
    .App()
    .ws('/*', {
      compression: 0, // DISABLED, as for every other server here
      maxPayloadLength: 64 * MiB,
      // Echoes queue while the generator keeps its window in flight: without room they would be dropped.
      maxBackpressure: 128 * MiB,
      idleTimeout: 0,
      sendPingsAutomatically: false,
      message: (ws: UwsSocket, message: ArrayBuffer, isBinary: boolean) => {
        ws.send(message, isBinary)
      },
    })
    .listen('127.0.0.1', portArg(), (listenSocket) => {
      if (!listenSocket) {
        process.stderr.write(`uWebSockets.js could not listen on 127.0.0.1:${portArg()}\n`)
        process.exit(1)
      }
      process.stdout.write(`uWebSockets.js echo listening on 127.0.0.1:${portArg()}\n`)
    })

  // Exit normally on SIGTERM, so `--cpu-prof` (npm run bench -- --profile) writes its profile.
  process.once('SIGTERM', () => process.exit(0))
}

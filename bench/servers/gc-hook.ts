// Preloaded (`node --expose-gc -r dist/bench/servers/gc-hook.js <server>`) into servers in the
// idle-memory mode only: SIGUSR2 runs a full garbage collection, so RSS is read after garbage
// from connection setup is gone. It changes nothing else in the server.
const maybeGc = (globalThis as { gc?: () => void }).gc
process.on('SIGUSR2', () => {
  if (maybeGc !== undefined) {
    maybeGc()
    maybeGc()
  }
})

import type { Socket } from 'node:net'
import { getSystemErrorName } from 'node:util'

/**
 * Writes to a TCP socket's native handle, skipping Node's Writable machinery, when the socket
 * has nothing queued of its own. A fan-out writes one buffer to each of a thousand sockets per
 * batch; through `socket.write` each of those writes costs a WriteWrap object, the Writable's
 * state updates, `_unrefTimer` and a nextTick for the after-write callback (measured with perf
 * on the 1,000-subscriber fan-out: about 40% of gatewire's user-space time per delivery, the
 * kernel's share being the same as uWebSockets.js's). Here a write that the kernel takes at
 * once, the common case, costs the native call alone and reuses one request object.
 *
 * This relies on Node internals that have been stable since Node 12 (`stream_wrap`'s WriteWrap
 * and streamBaseState, `handle.writeBuffer`), read once through `process.binding`; when any of
 * them is missing, directWrite always returns false and callers use `socket.write`.
 *
 * Order and accounting stay right:
 * - only when the Writable has nothing queued or in flight, is not corked and is connected,
 *   so these bytes cannot overtake bytes given to `socket.write` before;
 * - bytes the kernel does not take at once are queued by libuv, which writes its queue in
 *   order (later `socket.write`s, and the empty write behind a drain probe, go behind them);
 *   the writer counts them (DirectWriter.directQueued, part of bufferedAmount), and the socket emits
 *   'drain' once they are written, as a Writable would;
 * - errors destroy the socket, as a failed `socket.write` does.
 */

interface WriteRequest {
  handle: unknown
  oncomplete: ((this: WriteRequest, status: number) => void) | null
  async: boolean
  bytes: number
  buffer: Buffer | null
  callback: unknown
  socket: Socket | null
  owner: DirectWriter | null
}

/** Whoever writes directly keeps count of the bytes libuv still holds for it. */
export interface DirectWriter {
  /** Bytes of asynchronous direct writes not yet written to the kernel. */
  directQueued: number
}

interface StreamHandle {
  writeBuffer(request: WriteRequest, data: Buffer): number
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest
  streamBaseState: Int32Array
  kBytesWritten: number
  kLastWriteWasAsync: number
}

const binding = loadBinding()
/** A request whose last write completed at once: it holds nothing and can be used again. */
let spare: WriteRequest | null = null

function loadBinding(): StreamWrapBinding | null {
  try {
    // process.binding warns only under --pending-deprecation; emitWarning is silenced for the
    // one call so that a user's warning handlers never see gatewire's internals.
    const processWithBinding = process as unknown as { binding?: (name: string) => unknown }
    if (typeof processWithBinding.binding !== 'function') return null
    const emit = process.emitWarning
    process.emitWarning = () => undefined
    let candidate: Partial<StreamWrapBinding>
    try {
      candidate = processWithBinding.binding('stream_wrap') as Partial<StreamWrapBinding>
    } finally {
      process.emitWarning = emit
    }
    if (
      typeof candidate.WriteWrap !== 'function' ||
      !(candidate.streamBaseState instanceof Int32Array) ||
      typeof candidate.kBytesWritten !== 'number' ||
      typeof candidate.kLastWriteWasAsync !== 'number'
    ) {
      return null
    }
    return candidate as StreamWrapBinding
  } catch {
    return null
  }
}

interface SocketInternals {
  _handle: StreamHandle | null
  connecting: boolean
  writableLength: number
  writableCorked: number
  writable: boolean
}

/** Whether direct writes are possible in this process (the internals were found). */
export const directWriteAvailable = binding !== null

/**
 * Writes `data` to `socket`'s handle when the socket has nothing else queued; returns false
 * (nothing done) when the caller must use `socket.write`. Only for plain TCP sockets (the
 * caller checks: a TLS socket's handle encrypts, and its Writable has state of its own).
 */
export function directWrite(socket: Socket, data: Buffer, owner: DirectWriter): boolean {
  const internals = socket as unknown as SocketInternals
  const handle = internals._handle
  if (
    binding === null ||
    handle === null ||
    internals.writableLength !== 0 ||
    internals.writableCorked !== 0 ||
    internals.connecting ||
    !internals.writable
  ) {
    return false
  }
  const request = spare ?? newRequest(binding)
  spare = null
  request.handle = handle
  const status = handle.writeBuffer(request, data)
  const state = binding.streamBaseState
  if (status !== 0) {
    request.handle = null
    spare = request
    socket.destroy(writeError(status))
    return true
  }
  if (state[binding.kLastWriteWasAsync] === 0) {
    request.handle = null
    spare = request
    return true
  }
  // libuv keeps the rest and calls oncomplete when it is written; the bytes must stay alive.
  request.buffer = data
  request.socket = socket
  request.owner = owner
  owner.directQueued += data.length
  return true
}

function newRequest(stream: StreamWrapBinding): WriteRequest {
  const request = new stream.WriteWrap()
  request.oncomplete = onComplete
  request.async = false
  request.bytes = 0
  request.buffer = null
  request.callback = null
  request.socket = null
  request.owner = null
  return request
}

/** libuv wrote (or failed to write) the rest of an asynchronous direct write. */
function onComplete(this: WriteRequest, status: number): void {
  const socket = this.socket
  const owner = this.owner
  const bytes = this.buffer === null ? 0 : this.buffer.length
  this.socket = null
  this.owner = null
  this.buffer = null
  this.handle = null
  if (owner !== null) owner.directQueued -= bytes
  if (socket === null || owner === null || socket.destroyed) return
  if (status < 0) {
    socket.destroy(writeError(status))
    return
  }
  if (owner.directQueued !== 0) return
  // Like a Writable whose queue emptied: whoever waits for output to drain hears it. Bytes
  // given to socket.write meanwhile are behind ours: then once they are written (the Writable
  // emits 'drain' itself only for a write that went past its high-water mark).
  // A socket that is ending takes no more writes (a write after end() destroys it).
  if ((socket as unknown as SocketInternals).writableLength === 0) socket.emit('drain')
  else if (socket.writable) socket.write(EMPTY, () => drained(socket, owner))
}

const EMPTY = Buffer.alloc(0)

function drained(socket: Socket, owner: DirectWriter): void {
  if (!socket.destroyed && owner.directQueued === 0 && (socket as unknown as SocketInternals).writableLength === 0) socket.emit('drain')
}

/** The error `socket.write` would give for a libuv status (errno), e.g. EPIPE. */
function writeError(status: number): Error {
  let code: string
  try {
    code = getSystemErrorName(status)
  } catch {
    code = `E${-status}`
  }
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' })
}

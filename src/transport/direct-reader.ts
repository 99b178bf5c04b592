import { Socket } from 'node:net'
import { maskableBuffer } from '../protocol/maskable-buffer'

/** The size of the shared read buffer: Node's own read size (it reads 64 KiB at a time). */
const READ_BUFFER_SIZE = 64 * 1024

/**
 * What a directly reading socket calls: shared functions, so a connection pays no closure for
 * them (lib/internal/stream_base_commons.js, onStreamRead).
 */
export interface DirectReadHooks {
  /**
   * `n` bytes were read into `buffer`, with the socket as `this`: the shared read buffer (see
   * DirectReader.isShared), whose bytes are the next read's once this returns, or a buffer
   * `next` gave. Returning false stops reading (as pause() does).
   */
  onRead(this: Socket, n: number, buffer: Buffer): boolean
  /**
   * Where the socket's next read lands: DirectReader.buffer() or a buffer of the reader's own (a
   * large message's). Node calls it without `this`, right after each onRead of the same socket.
   */
  next(): Buffer
}

/**
 * The read buffer of every directly reading socket, shared by the process. Reads are handled
 * one at a time on the main thread and each is parsed before the next lands, so one buffer
 * serves every socket: nothing is allocated per read (Node's own reads allocate 64 KiB, shrink
 * it to the read's size and wrap it in an ArrayBuffer and a Buffer, each time). Allocated here
 * and nowhere else, so that it can come from elsewhere (e.g. a WebAssembly memory) in one place.
 */
let readBuffer: Buffer | null = null

/**
 * Lets a socket that http.Server (or anything else) accepted read into buffers we choose instead
 * of Node's: the shared read buffer, parsed in place, or the final buffer of a large message, so
 * the kernel copies each read where it belongs (64 MiB echo: 1024 reads of 64 KiB and a copy of
 * the message become ~45 reads).
 *
 * It uses the mechanism behind `net.Socket`'s `onread` option (Node ≥ 12.1), which Node only
 * offers to sockets it creates itself: `handle.useUserBuffer()`, plus the three private fields
 * `onread` sets, found on the socket by their symbols' descriptions. Where any of that is
 * missing (another Node, a TLS socket, a Duplex that is not a plain TCP socket) `start` returns
 * false and the socket keeps its ordinary 'data' events. Once switched, a socket stays switched
 * (the handle's read listener cannot be removed); net.Socket's pause() and resume() stop and
 * restart its reads as before, and 'end' and errors are reported as before.
 */
export class DirectReader {
  private constructor() {}

  /** The shared read buffer (allocated on first use, never replaced). */
  static buffer(): Buffer {
    // In the WebAssembly memory where unmasking runs as SIMD code, in place, where there is one.
    return (readBuffer ??= maskableBuffer(READ_BUFFER_SIZE) ?? Buffer.allocUnsafeSlow(READ_BUFFER_SIZE))
  }

  /** Whether `buffer` is the shared read buffer, whose bytes are only valid during the read callback. */
  static isShared(buffer: Buffer): boolean {
    return buffer === readBuffer
  }

  /** Whether `socket` reads directly (switched by start). */
  static reads(socket: Socket): boolean {
    const fields = onreadFields(socket)
    return fields !== null && (socket as unknown as Record<symbol, unknown>)[fields.buffer] != null
  }

  /**
   * Switches `socket` to direct reads, the next one into `first` (null: the shared buffer).
   * False, with nothing changed, when this socket or Node does not allow it, when bytes are already buffered in the socket's stream (they must be parsed first)
   * or when the socket is paused (its handle may still be reading into the stream's buffer).
   * True, with nothing changed, when it reads directly already.
   */
  static start(socket: Socket, hooks: DirectReadHooks, first: Buffer | null): boolean {
    const fields = onreadFields(socket)
    const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void } })._handle
    if (fields === null || handle == null || typeof handle.useUserBuffer !== 'function') return false
    const slots = socket as unknown as Record<symbol, unknown>
    // Switched already (its handle's buffer is the one it was given then), or by its creator's own onread.
    if (slots[fields.buffer] != null) return slots[fields.callback] === hooks.onRead
    if ((socket as { encrypted?: boolean }).encrypted === true || socket.readableLength !== 0 || socket.isPaused()) return false
    // net.Socket's own fields: setting them adds nothing to the socket (it has them, null, from birth).
    first ??= DirectReader.buffer()
    slots[fields.buffer] = first
    slots[fields.callback] = hooks.onRead
    slots[fields.generator] = hooks.next
    handle.useUserBuffer(first)
    return true
  }
}

interface OnreadFields {
  buffer: symbol
  callback: symbol
  generator: symbol
}

/** undefined until looked up; null when this Node keeps them otherwise. */
let fields: OnreadFields | null | undefined

/** The symbols of lib/net.js's kBuffer, kBufferCb and kBufferGen, which every net.Socket has as own properties. */
function onreadFields(socket: Socket): OnreadFields | null {
  // Only a net.Socket (or a TLS socket) has them; another Duplex says nothing about this Node.
  if (!(socket instanceof Socket)) return null
  if (fields !== undefined) return fields
  const symbols = Object.getOwnPropertySymbols(socket)
  const find = (description: string): symbol | undefined => symbols.find((symbol) => symbol.description === description)
  const buffer = find('kBuffer')
  const callback = find('kBufferCb')
  const generator = find('kBufferGen')
  fields = buffer !== undefined && callback !== undefined && generator !== undefined ? { buffer, callback, generator } : null
  return fields
}

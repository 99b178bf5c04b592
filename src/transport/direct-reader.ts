import { Socket } from 'node:net'

/** The read size outside large messages: Node's own (it reads 64 KiB at a time). */
const READ_BUFFER_SIZE = 64 * 1024

/** Where a socket's reads go, and what is told of them (implemented by the connection). */
export interface DirectReadTarget {
  /** The bytes of an ordinary read (a chunk of its own, like a 'data' event's). */
  onData(chunk: Buffer): void
  /** `n` bytes were read into the buffer payloadTarget() gave for this read. */
  onPayloadRead(n: number): void
  /** Where the next read should land, if the payload of a large message is under way. */
  payloadTarget(): Buffer | null
}

/**
 * Lets a socket that http.Server accepted read straight into the buffer of a large message,
 * instead of reading 64 KiB at a time into buffers of Node's that are then copied: the kernel
 * copies each read into the message's final buffer, in reads as large as the socket has
 * queued (64 MiB echo: 1024 reads of 64 KiB and a copy of the message become ~130 reads).
 *
 * It uses the mechanism behind `net.Socket`'s `onread` option (Node ≥ 12.1), which Node only
 * offers to sockets it creates itself: `handle.useUserBuffer()`, plus the three private fields
 * `onread` sets, found on the socket by their symbols' descriptions. Where any of that is
 * missing (another Node, a TLS socket, a socket that is not plain TCP) `start` returns null
 * and the socket keeps its ordinary 'data' events. Once switched, a socket stays switched (the
 * handle's read listener cannot be removed): outside large messages it reads into a 64 KiB
 * buffer shared by every switched socket of the process, as Node's reads would.
 */
/**
 * The read buffer of every switched socket outside large messages, shared by the process: each
 * read is copied out of it before the next read of any socket lands (a handle keeps the buffer
 * it was given until its next read, so a buffer handed over to one connection could still be
 * written by another's), and a connection that once received a large message keeps no buffer
 * of its own.
 */
let sharedReadBuffer: Buffer | null = null

export class DirectReader {
  /** The buffer given for the current read when it is a payload target, else null. */
  private target: Buffer | null = null

  private constructor(private readonly sink: DirectReadTarget) {}

  /**
   * Switches `socket` to direct reads, the next one into `first` (a payload target). Null,
   * with nothing changed, when this socket or Node does not allow it, or when bytes are
   * already buffered in the socket's stream (they must be parsed first).
   */
  static start(socket: Socket, sink: DirectReadTarget, first: Buffer): DirectReader | null {
    const fields = onreadFields(socket)
    const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void } })._handle
    if (fields === null || handle == null || typeof handle.useUserBuffer !== 'function') return null
    if ((socket as { encrypted?: boolean }).encrypted === true || socket.readableLength !== 0 || socket.isPaused()) return null
    const reader = new DirectReader(sink)
    reader.target = first
    const slots = socket as unknown as Record<symbol, unknown>
    slots[fields.buffer] = first
    slots[fields.callback] = (n: number, buffer: Buffer): void => reader.onRead(n, buffer)
    slots[fields.generator] = (): Buffer => reader.next()
    handle.useUserBuffer(first)
    return reader
  }

  private onRead(n: number, buffer: Buffer): void {
    if (buffer === this.target) {
      this.sink.onPayloadRead(n)
    } else {
      // Copied out, as Node's own reads copy into a buffer of the read's size: the parser may
      // keep views of a chunk, and the shared buffer is every switched socket's next read.
      const chunk = Buffer.allocUnsafe(n)
      buffer.copy(chunk, 0, 0, n)
      this.sink.onData(chunk)
    }
  }

  /** The buffer for the next read (Node calls this after each read). */
  private next(): Buffer {
    const target = this.sink.payloadTarget()
    this.target = target
    return target ?? (sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_SIZE))
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
  if (fields !== undefined) return fields
  // Only a net.Socket (or a TLS socket) has them; another Duplex says nothing about this Node.
  if (!(socket instanceof Socket)) return null
  const symbols = Object.getOwnPropertySymbols(socket)
  const find = (description: string): symbol | undefined => symbols.find((symbol) => symbol.description === description)
  const buffer = find('kBuffer')
  const callback = find('kBufferCb')
  const generator = find('kBufferGen')
  fields = buffer !== undefined && callback !== undefined && generator !== undefined ? { buffer, callback, generator } : null
  return fields
}

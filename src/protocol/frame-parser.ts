import { isAscii, isUtf8 } from 'node:buffer'
import { CloseCode, MAX_CONTROL_PAYLOAD, Opcode } from './constants'
import { isValidCloseCode } from './close-code'
import { applyMaskWord, unmaskAscii } from './mask'
import { ProtocolError } from './protocol-error'
import { Utf8Validator } from './utf8-validator'

/** What the parser reports. Callbacks run synchronously inside `push()`. */
export interface FrameHandler {
  /**
   * A whole, UTF-8-validated text message. `source[start, end)` holds its UTF-8 bytes; they
   * stay unchanged (the parser never writes to them again), so they may be kept and reused —
   * unless `transient`: then `source` is a chunk given to pushTransient(), whose bytes are only
   * valid until that call returns.
   */
  onText(text: string, source: Buffer, start: number, end: number, transient: boolean): void
  /**
   * A whole ASCII text message that arrived in pieces (a one-frame message spanning socket
   * reads): `pieces` are its bytes in order, `length` bytes in all, unchanged from now on like
   * onText's source. `text` is built from the pieces (a V8 cons string), so the bytes are never
   * joined unless somebody needs them joined.
   */
  onTextPieces(text: string, pieces: readonly Buffer[], length: number): void
  /** A whole binary message (when binary messages are not streamed). */
  onBinary(data: Buffer): void
  /** Streamed binary messages: start, each payload piece as it arrives, end. */
  onBinaryStart(): void
  onBinaryChunk(chunk: Buffer): void
  onBinaryEnd(): void
  onPing(payload: Buffer): void
  onPong(payload: Buffer): void
  /** A close frame: code 1005 (NoStatus) when it carried none. The parser stops after it. */
  onClose(code: number, reason: string): void
  /** The peer broke the protocol; reported once, after which the parser ignores input. */
  onError(error: ProtocolError): void
}

/**
 * Decompresses the payload of compressed messages (RSV1 set, RFC 7692 §6.1) between frame
 * reading and UTF-8 validation. Implemented by the permessage-deflate extension.
 */
export interface MessageInflater {
  /**
   * Inflates data[start, end), the next payload bytes of a compressed message: `first` marks
   * its first bytes, `last` its final ones (the inflater completes the message, §7.2.2).
   * Returns the output, never more than `limit` bytes: past that, or on corrupt data, a
   * ProtocolError (1009, 1007) and nothing more is inflated. `transient`: `data` is reused once
   * this returns (FrameParser.pushTransient), so nothing kept past the call may view it.
   */
  inflate(data: Buffer, start: number, end: number, first: boolean, last: boolean, limit: number, transient?: boolean): Buffer | ProtocolError
  /** The message being inflated will not be completed. */
  abort(): void
}

export interface FrameParserOptions {
  /** True on a server: client frames MUST be masked, and server frames MUST NOT (RFC 6455 §5.1). */
  expectMasked: boolean
  /** Largest message accepted, in payload bytes (fragments added up); larger fails with 1009. */
  maxMessageSize: number
  /** Deliver binary messages as onBinaryStart/Chunk/End instead of one onBinary. */
  streamBinary?: boolean
  /** RSV bits (0x40 | 0x20 | 0x10) a negotiated extension allows; default none (RFC 6455 §5.2). */
  allowedRsv?: number
  /**
   * What each fragment after the first costs, in bytes, against a budget of its own: the
   * larger of maxMessageSize and MIN_FRAGMENT_BUDGET. Past it the message fails with 1009, so a
   * flood of tiny (or empty) fragments is bounded while a message of exactly maxMessageSize
   * is accepted however it is fragmented. Default 64.
   */
  fragmentOverhead?: number
  /**
   * The negotiated permessage-deflate extension: RSV1 marks a compressed message (first frame
   * only), whose inflated size counts against maxMessageSize.
   */
  inflater?: MessageInflater
}

const enum State {
  Header,
  Payload,
  /** After a close frame or an error: input is ignored. */
  Done,
}

/**
 * An incremental RFC 6455 frame parser. Fed whatever chunks the socket delivers (a single byte
 * works), it never concatenates a backlog: a header that spans chunks is assembled in a
 * 14-byte scratch buffer, payload bytes are taken as views of the chunks, unmasked in place,
 * and copied at most once, when a message made of several pieces is completed. All checks that
 * can be made on a header are made before its payload is buffered.
 *
 * The chunks pushed are modified (unmasked in place) and views of them are handed out, unless
 * they are pushed with pushTransient(): then nothing the parser keeps or hands out views them
 * (but onText's source, flagged), so the caller may reuse the chunk as soon as the call returns.
 */
export class FrameParser {
  streamBinary: boolean
  private readonly handler: FrameHandler
  private readonly expectMasked: boolean
  private readonly maxMessageSize: number
  private readonly allowedRsv: number
  private readonly fragmentOverhead: number
  private readonly fragmentBudget: number

  private state = State.Header
  /** The chunk being parsed is transient (pushTransient): copy whatever outlives the call. */
  private transient = false
  /** Allocated the first time a header arrives split across chunks. */
  private scratch: Buffer | null = null
  private scratchLength = 0

  // Current frame.
  private fin = false
  private opcode = 0
  private payloadLength = 0
  private remaining = 0
  private masked = false
  /** The frame's masking key as keyWord(): a number, not a buffer per connection. */
  private maskKey = 0

  // Current data message (possibly fragmented).
  private messageOpcode = 0
  /** Payload bytes of the current message so far (its frames' announced lengths). */
  private messageSize = 0
  /** What its fragments after the first have cost (fragmentOverhead each). */
  private fragmentCost = 0
  private messageStreamed = false
  /** Pieces of a message that spans chunks or fragments (null until one does). */
  private pieces: Buffer[] | null = null
  private piecesLength = 0
  /** A one-frame message spanning chunks, gathered in place (see readPayload). */
  private assembly: Buffer | null = null
  private assemblyLength = 0
  /**
   * Before a large message's assembly exists (under a quarter of it in): the buffer the payload
   * target offers for the next pieces, and how much of it is filled (see payloadTarget).
   */
  private pieceTarget: Buffer | null = null
  private pieceTargetFilled = 0
  /** What payloadTarget() returned last (see isPayloadTarget). */
  private offered: Buffer | null = null
  /** Inflates compressed messages, when permessage-deflate was negotiated. */
  private readonly inflater: MessageInflater | null
  /** The current message is compressed (RSV1 on its first frame). */
  private compressed = false
  /** Bytes inflated so far for the current compressed message. */
  private inflated = 0
  /** The inflater holds a message begun and not ended (its first bytes went in, its last not yet). */
  private inflating = false
  /** Created for the first text message that is not plain ASCII. */
  private utf8: Utf8Validator | null = null
  /**
   * Payload bytes of the current text message that the unmasking pass found ASCII. When that is
   * all of a message gathered from several pieces, it is decoded as Latin-1, a plain copy,
   * instead of a UTF-8 decoding pass (64 KiB: ~60k instructions). Counted, not flagged, so
   * bytes that reach the message any other way (unmasked, or decompressed) mean UTF-8.
   */
  private asciiBytes = 0
  /**
   * The text so far of a one-frame ASCII message kept as pieces (see startsAsciiText), or null.
   * Each piece is decoded on its own (Latin-1, one copy) and the strings are concatenated, which
   * V8 does without copying: the bytes are never gathered into one buffer only to be copied
   * again into the string (a 64 KiB text echo: one copy of the message instead of two).
   */
  private asciiText: string | null = null

  // A control frame whose payload spans chunks.
  private control: Buffer | null = null
  private controlLength = 0

  constructor(handler: FrameHandler, options: FrameParserOptions) {
    this.handler = handler
    this.expectMasked = options.expectMasked
    this.maxMessageSize = options.maxMessageSize
    this.streamBinary = options.streamBinary ?? false
    this.inflater = options.inflater ?? null
    // RFC 7692 §6: permessage-deflate uses RSV1.
    this.allowedRsv = (options.allowedRsv ?? 0) | (this.inflater !== null ? 0x40 : 0)
    this.fragmentOverhead = options.fragmentOverhead ?? 64
    this.fragmentBudget = Math.max(this.maxMessageSize, MIN_FRAGMENT_BUDGET)
  }

  /** True once a close frame was received or an error reported. */
  get done(): boolean {
    return this.state === State.Done
  }

  /** Feeds the next chunk of bytes from the peer. */
  push(chunk: Buffer): void {
    this.transient = false
    this.parse(chunk, chunk.length)
  }

  /**
   * Feeds `chunk[0, length)`, which the caller reuses once this returns (a read buffer shared by
   * many sockets): it is still unmasked in place and text is decoded from it, but every byte
   * kept past this call is copied first — a binary message or a streamed piece handed out, a
   * control frame's payload, pieces of a message that spans chunks (a partial header is always
   * copied) — and onText says its source is transient. Compressed input is inflated during the
   * call (the inflater is told the input is transient too).
   */
  pushTransient(chunk: Buffer, length: number): void {
    this.transient = true
    this.parse(chunk, length)
    this.transient = false
  }

  private parse(chunk: Buffer, length: number): void {
    let pos = 0
    while (pos < length) {
      if (this.state === State.Payload) {
        pos = this.readPayload(chunk, pos, length)
      } else if (this.state === State.Header) {
        pos = this.readHeader(chunk, pos, length)
      } else {
        return
      }
    }
  }

  /**
   * Where the next payload bytes of the current message may be read straight to, or null. Only
   * a one-frame uncompressed binary message of at least MIN_PAYLOAD_TARGET bytes offers one:
   * the rest of its final buffer once that exists (see readPayload), before that a buffer for
   * its next pieces. A transport can then let the socket read into it (no copy out of a read
   * buffer, and reads as large as the kernel has queued) and report each read with
   * pushTarget(). A target never reaches past the message, so the next frame's bytes never
   * land in it.
   */
  payloadTarget(): Buffer | null {
    return (this.offered = this.findPayloadTarget())
  }

  /** Whether `buffer` is what payloadTarget() returned last (so a read into it is reported with pushTarget()). */
  isPayloadTarget(buffer: Buffer): boolean {
    return buffer === this.offered
  }

  /**
   * Payload bytes of the current data message, or of the last one once it is complete (its
   * frames' announced lengths): a transport may read differently for a peer that sends large
   * messages.
   */
  get messageBytes(): number {
    return this.messageSize
  }

  private findPayloadTarget(): Buffer | null {
    if (this.payloadLength < MIN_PAYLOAD_TARGET || this.state !== State.Payload || this.opcode !== Opcode.Binary || !this.fin) return null
    const assembly = this.assembly
    if (assembly !== null) return assembly.subarray(this.assemblyLength, this.assemblyLength + this.remaining)
    if (this.compressed || this.messageStreamed || this.payloadLength - this.remaining !== this.piecesLength) return null
    // Under a quarter in, the final buffer would be more than 4x the bytes received: the next
    // pieces go to buffers that grow with what has arrived (never more than it, or 64 KiB),
    // to be gathered with the rest at the quarter (gatherPieces), as pieces from chunks are.
    let target = this.pieceTarget
    if (target === null || this.pieceTargetFilled === target.length) {
      target = this.pieceTarget = Buffer.allocUnsafe(Math.min(this.remaining, Math.max(MIN_PIECE_TARGET, this.piecesLength)))
      this.pieceTargetFilled = 0
    }
    return target.subarray(this.pieceTargetFilled, Math.min(target.length, this.pieceTargetFilled + this.remaining))
  }

  /**
   * `n` bytes were written to the start of the last payloadTarget(): they are unmasked in
   * place, and the message is delivered when they complete it. Ignored once the parser stopped.
   */
  pushTarget(n: number): void {
    if (this.state !== State.Payload) return
    const assembly = this.assembly
    const target = assembly ?? this.pieceTarget
    const pos = assembly !== null ? this.assemblyLength : this.pieceTargetFilled
    if (target === null || n > target.length - pos || n > this.remaining) {
      throw new RangeError(`pushTarget(${n}): fewer bytes were offered`)
    }
    if (this.masked) applyMaskWord(target, this.maskKey, this.payloadLength - this.remaining, pos, pos + n)
    this.remaining -= n
    if (assembly !== null) {
      this.assemblyLength = pos + n
    } else {
      this.pieceTargetFilled = pos + n
      ;(this.pieces ??= []).push(target.subarray(pos, pos + n))
      this.piecesLength += n
      if (this.remaining !== 0 && this.piecesLength * 4 >= this.payloadLength) this.gatherPieces()
    }
    if (this.remaining === 0) this.endFrame(EMPTY)
  }

  /** Stops parsing: later input is ignored (used when the connection is being torn down). */
  stop(): void {
    this.state = State.Done
    if (this.inflating) {
      this.inflating = false
      this.inflater!.abort()
    }
    this.pieces = null
    this.pieceTarget = null
    this.offered = null
    this.asciiText = null
    this.assembly = null
    this.control = null
  }

  private readHeader(chunk: Buffer, pos: number, limit: number): number {
    const available = limit - pos
    let source: Buffer
    let at: number
    if (this.scratchLength === 0 && available >= 2) {
      const size = headerSize(chunk[pos + 1])
      if (available >= size) {
        source = chunk
        at = pos
        pos += size
      } else {
        chunk.copy((this.scratch ??= Buffer.allocUnsafe(14)), 0, pos, limit)
        this.scratchLength = available
        return limit
      }
    } else {
      // Assemble the header in the scratch buffer, byte count known once the second byte is in.
      const scratch = (this.scratch ??= Buffer.allocUnsafe(14))
      let need = this.scratchLength < 2 ? 2 : headerSize(scratch[1])
      while (pos < limit && this.scratchLength < need) {
        scratch[this.scratchLength++] = chunk[pos++]
        if (this.scratchLength === 2) need = headerSize(scratch[1])
      }
      if (this.scratchLength < need) return pos
      this.scratchLength = 0
      source = scratch
      at = 0
    }
    this.startFrame(source, at)
    return pos
  }

  /** Validates a complete header at source[at] and sets up the payload state. */
  private startFrame(source: Buffer, at: number): void {
    const b0 = source[at]
    const b1 = source[at + 1]
    const fin = (b0 & 0x80) !== 0
    const rsv = b0 & 0x70
    const opcode = b0 & 0x0f
    const masked = (b1 & 0x80) !== 0
    let length = b1 & 0x7f
    let next = at + 2

    if ((rsv & ~this.allowedRsv) !== 0) {
      return this.fail(CloseCode.ProtocolError, 'RSV bits set without a negotiated extension')
    }
    // RFC 7692 §6.1: RSV1 marks the first frame of a compressed data message, nothing else.
    if (rsv & 0x40 && this.inflater !== null && opcode !== Opcode.Text && opcode !== Opcode.Binary) {
      return this.fail(
        CloseCode.ProtocolError,
        opcode === Opcode.Continuation ? 'RSV1 set on a continuation frame' : 'RSV1 set on a control frame',
      )
    }
    if (masked !== this.expectMasked) {
      return this.fail(
        CloseCode.ProtocolError,
        masked ? 'a server must not mask its frames' : 'a client must mask its frames',
      )
    }
    if (length === 126) {
      length = (source[next] << 8) | source[next + 1]
      next += 2
    } else if (length === 127) {
      const high = source.readUInt32BE(next)
      // RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0.
      if (high & 0x80000000) {
        return this.fail(CloseCode.ProtocolError, '64-bit payload length with the top bit set')
      }
      length = high * 0x100000000 + source.readUInt32BE(next + 4)
      next += 8
    }

    if (opcode >= 0x8) {
      if (opcode !== Opcode.Close && opcode !== Opcode.Ping && opcode !== Opcode.Pong) {
        return this.fail(CloseCode.ProtocolError, `reserved opcode 0x${opcode.toString(16)}`)
      }
      // RFC 6455 §5.5: control frames MUST NOT be fragmented and carry at most 125 bytes.
      if (!fin) return this.fail(CloseCode.ProtocolError, 'fragmented control frame')
      if (length > MAX_CONTROL_PAYLOAD) {
        return this.fail(CloseCode.ProtocolError, 'control frame payload over 125 bytes')
      }
    } else if (opcode === Opcode.Continuation) {
      if (this.messageOpcode === 0) {
        return this.fail(CloseCode.ProtocolError, 'continuation frame without a message to continue')
      }
      this.messageSize += length
      if (this.messageSize > this.maxMessageSize) {
        return this.fail(CloseCode.MessageTooBig, `message over the ${this.maxMessageSize}-byte limit`)
      }
      this.fragmentCost += this.fragmentOverhead
      if (this.fragmentCost > this.fragmentBudget) {
        return this.fail(CloseCode.MessageTooBig, 'message in too many fragments')
      }
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.messageOpcode !== 0) {
        return this.fail(CloseCode.ProtocolError, 'new data frame inside a fragmented message')
      }
      if (length > this.maxMessageSize) {
        return this.fail(CloseCode.MessageTooBig, `message over the ${this.maxMessageSize}-byte limit`)
      }
      this.messageOpcode = opcode
      this.messageSize = length
      this.fragmentCost = 0
      this.asciiBytes = 0
      // Only permessage-deflate gives RSV1 this meaning; another extension allowed by allowedRsv keeps its payload.
      this.compressed = (rsv & 0x40) !== 0 && this.inflater !== null
      this.inflated = 0
      if (opcode === Opcode.Binary && this.streamBinary) {
        this.messageStreamed = true
        this.handler.onBinaryStart()
        if (this.state === State.Done) return
      }
    } else {
      return this.fail(CloseCode.ProtocolError, `reserved opcode 0x${opcode.toString(16)}`)
    }

    this.fin = fin
    this.opcode = opcode
    this.payloadLength = length
    this.remaining = length
    this.masked = masked
    if (masked) {
      this.maskKey = (source[next] << 24) | (source[next + 1] << 16) | (source[next + 2] << 8) | source[next + 3]
    }
    if (length === 0) {
      // An empty final frame still completes a compressed message (§7.2.2).
      if (this.compressed && opcode < 0x8 && fin) this.inflatePiece(EMPTY, 0, 0)
      if (this.state !== State.Done) this.endFrame(EMPTY)
    } else {
      this.state = State.Payload
    }
  }

  private readPayload(chunk: Buffer, pos: number, limit: number): number {
    const take = Math.min(this.remaining, limit - pos)
    const end = pos + take
    const isText = this.messageOpcode === Opcode.Text && this.opcode < 0x8
    // Text bytes as they arrive (not compressed ones): ASCII is valid UTF-8 and decodes as Latin-1.
    const textBytes = isText && !this.compressed
    let ascii = false
    if (this.masked) {
      const phase = this.payloadLength - this.remaining
      if (textBytes && take < NATIVE_ASCII_MIN) ascii = unmaskAscii(chunk, this.maskKey, phase, pos, end)
      else applyMaskWord(chunk, this.maskKey, phase, pos, end)
    }
    if (textBytes && (take >= NATIVE_ASCII_MIN || (!this.masked && this.asciiText !== null))) {
      // A native (SIMD) check after the plain unmasking beats checking in the unmasking loop here;
      // unmasked pieces (client side) have no loop to check in, so a text kept as pieces asks.
      ascii = isAscii(pos === 0 && end === chunk.length ? chunk : chunk.subarray(pos, end))
    }
    this.remaining -= take
    const opcode = this.opcode
    if (this.compressed && opcode < 0x8) {
      this.inflatePiece(chunk, pos, end)
      if (this.remaining === 0 && this.state !== State.Done) this.endFrame(EMPTY)
      return end
    }
    if (opcode >= 0x8) {
      if (this.remaining === 0 && this.control === null) {
        // A transient chunk's bytes are copied: the payload goes to listeners (and to a pong that may wait).
        this.endFrame(this.transient ? copyOf(chunk, pos, end) : chunk.subarray(pos, end))
      } else {
        if (this.control === null) {
          this.control = Buffer.allocUnsafe(this.payloadLength)
          this.controlLength = 0
        }
        chunk.copy(this.control, this.controlLength, pos, end)
        this.controlLength += take
        if (this.remaining === 0) {
          const payload = this.control
          this.control = null
          this.endFrame(payload)
        }
      }
      return end
    }
    if (isText && !(ascii && (this.utf8 === null || this.utf8.end()))) {
      // Fail fast: the bytes seen so far must already be a valid UTF-8 prefix. (ASCII bytes
      // after a complete character are, and the unmasking pass already told us they are ASCII.)
      ascii = false
      if (!(this.utf8 ??= new Utf8Validator()).push(chunk, pos, end)) {
        this.fail(CloseCode.InvalidPayload, 'invalid UTF-8 in a text message')
        return end
      }
    }
    if (ascii) this.asciiBytes += take
    if (this.messageStreamed) {
      this.handler.onBinaryChunk(this.transient ? copyOf(chunk, pos, end) : chunk.subarray(pos, end))
      if (this.state === State.Done) return end
    } else if (this.remaining === 0 && this.fin && this.pieces === null && this.assembly === null) {
      // Fast path: a whole message in one piece is delivered as a view, never copied.
      const messageOpcode = this.messageOpcode
      this.state = State.Header
      this.messageOpcode = 0
      if (messageOpcode === Opcode.Text) {
        if (this.utf8 !== null && !this.utf8.end()) {
          this.utf8.reset()
          this.fail(CloseCode.InvalidPayload, 'text message ends inside a UTF-8 character')
          return end
        }
        // Decode straight from the chunk: no view object for the common small text message.
        // The chunk range goes along, so an echo or a broadcast of this string can copy its
        // bytes instead of encoding it again.
        this.handler.onText(ascii ? chunk.latin1Slice(pos, end) : chunk.utf8Slice(pos, end), chunk, pos, end, this.transient)
      } else {
        // A transient chunk's bytes are copied: the receiver may keep the Buffer.
        this.handler.onBinary(this.transient ? copyOf(chunk, pos, end) : chunk.subarray(pos, end))
      }
      return end
    } else if (this.asciiText !== null ? this.continuesAsciiText(ascii, take) : ascii && this.fin && this.startsAsciiText(take)) {
      ;(this.pieces ??= []).push(this.transient ? copyOf(chunk, pos, end) : chunk.subarray(pos, end))
      this.piecesLength += take
      this.asciiText += chunk.latin1Slice(pos, end)
    } else if (this.assembly !== null) {
      chunk.copy(this.assembly, this.assemblyLength, pos, end)
      this.assemblyLength += take
    } else if (this.fin && this.pieces === null && this.payloadLength - this.remaining === take && take * 4 >= this.payloadLength) {
      // The first piece of a one-frame message that spans chunks, and at least a quarter of it:
      // gather the message in a buffer of its final size, one copy per piece and no joining.
      // (The quarter bounds what a header alone can make us allocate to 4x the bytes received.)
      this.assembly = Buffer.allocUnsafe(this.payloadLength)
      chunk.copy(this.assembly, 0, pos, end)
      this.assemblyLength = take
    } else {
      this.addPiece(chunk.subarray(pos, end))
      if (this.fin && this.remaining !== 0 && this.piecesLength * 4 >= this.payloadLength && this.piecesLength === this.payloadLength - this.remaining) {
        this.gatherPieces()
      }
    }
    if (this.remaining === 0) this.endFrame(EMPTY)
    return end
  }

  /**
   * Whether the first piece (`take` bytes, ASCII) of a one-frame text message that spans chunks
   * starts the pieces-and-strings path (asciiText): messages up to ASCII_PIECES_MAX (larger
   * ones are gathered in place), pieces of at least ASCII_PIECE_MIN bytes.
   */
  private startsAsciiText(take: number): boolean {
    if (
      this.pieces !== null ||
      this.assembly !== null ||
      this.payloadLength - this.remaining !== take ||
      this.payloadLength > ASCII_PIECES_MAX ||
      take < ASCII_PIECE_MIN
    ) {
      return false
    }
    this.asciiText = ''
    return true
  }

  /**
   * Whether the next piece stays on the asciiText path: ASCII, and the last one or at least
   * ASCII_PIECE_MIN bytes (so a peer dribbling a message in tiny reads cannot make us keep an
   * object and a string per few bytes). Otherwise the message continues as ordinary pieces:
   * everything so far is ASCII, a valid UTF-8 prefix, and is in `pieces` already.
   */
  private continuesAsciiText(ascii: boolean, take: number): boolean {
    if (ascii && (take >= ASCII_PIECE_MIN || this.remaining === 0)) return true
    this.asciiText = null
    return false
  }

  /**
   * A one-frame message whose first pieces were each under a quarter of it (a large message
   * read 64 KiB at a time) has now received a quarter: its pieces move into a buffer of its
   * final size and the rest is copied there as it arrives. Each byte is still copied once,
   * but a 64 MiB message no longer holds its pieces and their join at the same time (peak
   * 128 MiB), nor joins 1024 pieces at the end. The quarter keeps what a header alone can
   * make us allocate to 4x the bytes received.
   */
  private gatherPieces(): void {
    const assembly = Buffer.allocUnsafe(this.payloadLength)
    let at = 0
    for (const piece of this.pieces!) {
      assembly.set(piece, at)
      at += piece.length
    }
    this.pieces = null
    this.piecesLength = 0
    this.pieceTarget = null
    this.assembly = assembly
    this.assemblyLength = at
  }

  /**
   * Inflates the next payload bytes of a compressed message, then treats the output as the
   * payload of an uncompressed one: UTF-8 validated as it comes, streamed or kept.
   */
  private inflatePiece(chunk: Buffer, pos: number, end: number): void {
    const last = this.fin && this.remaining === 0
    const first = !this.inflating
    const out = this.inflater!.inflate(chunk, pos, end, first, last, this.maxMessageSize - this.inflated, this.transient)
    // The inflater has released the message when it ended or failed.
    if (out instanceof ProtocolError) {
      this.inflating = false
      return this.fail(out.closeCode, out.message)
    }
    this.inflating = !last
    this.inflated += out.length
    if (out.length === 0) return
    if (this.messageOpcode === Opcode.Text) {
      // Whole messages are checked at once (natively); pieces incrementally, failing fast.
      const whole = first && last
      if (whole ? !isUtf8(out) : !(this.utf8 ??= new Utf8Validator()).push(out, 0, out.length)) {
        if (!whole) this.utf8!.reset()
        return this.fail(CloseCode.InvalidPayload, 'invalid UTF-8 in a text message')
      }
    }
    if (this.messageStreamed) this.handler.onBinaryChunk(out)
    else {
      ;(this.pieces ??= []).push(out)
      this.piecesLength += out.length
    }
  }

  /**
   * Keeps a payload piece until its message is complete. A piece that is a small part of
   * the chunk it views is copied, so tiny fragments cannot pin large socket buffers.
   */
  private addPiece(piece: Buffer): void {
    if (this.transient || piece.length * 2 < piece.buffer.byteLength) {
      piece = Buffer.from(piece)
    }
    ;(this.pieces ??= []).push(piece)
    this.piecesLength += piece.length
  }

  private endFrame(controlPayload: Buffer): void {
    const opcode = this.opcode
    this.state = State.Header
    if (opcode >= 0x8) {
      if (opcode === Opcode.Ping) this.handler.onPing(controlPayload)
      else if (opcode === Opcode.Pong) this.handler.onPong(controlPayload)
      else this.endClose(controlPayload)
      return
    }
    if (!this.fin) return
    const messageOpcode = this.messageOpcode
    this.messageOpcode = 0
    if (this.messageStreamed) {
      this.messageStreamed = false
      this.handler.onBinaryEnd()
      return
    }
    const asciiText = this.asciiText
    if (asciiText !== null) {
      const pieces = this.pieces!
      const length = this.piecesLength
      this.asciiText = null
      this.pieces = null
      this.piecesLength = 0
      this.handler.onTextPieces(asciiText, pieces, length)
      return
    }
    const assembly = this.assembly
    if (assembly !== null) {
      this.assembly = null
      this.assemblyLength = 0
      this.deliver(messageOpcode, assembly)
      return
    }
    const pieces = this.pieces
    const data = pieces === null ? EMPTY : pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, this.piecesLength)
    if (pieces !== null) {
      this.pieces = null
      this.piecesLength = 0
      this.pieceTarget = null
    }
    this.deliver(messageOpcode, data)
  }

  private deliver(messageOpcode: number, data: Buffer): void {
    if (messageOpcode === Opcode.Text) {
      if (this.utf8 !== null && !this.utf8.end()) {
        this.utf8.reset()
        return this.fail(CloseCode.InvalidPayload, 'text message ends inside a UTF-8 character')
      }
      this.handler.onText(this.asciiBytes === data.length ? data.latin1Slice(0, data.length) : data.utf8Slice(0, data.length), data, 0, data.length, false)
    } else {
      this.handler.onBinary(data)
    }
  }

  private endClose(payload: Buffer): void {
    let code: number = CloseCode.NoStatus
    let reason = ''
    if (payload.length === 1) {
      return this.fail(CloseCode.ProtocolError, 'close frame with a 1-byte payload')
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0)
      if (!isValidCloseCode(code)) {
        return this.fail(CloseCode.ProtocolError, `invalid close code ${code}`)
      }
      const reasonBytes = payload.subarray(2)
      if (!isWholeUtf8(reasonBytes)) {
        return this.fail(CloseCode.ProtocolError, 'close reason is not valid UTF-8')
      }
      reason = reasonBytes.toString('utf8')
    }
    this.stop()
    this.handler.onClose(code, reason)
  }

  private fail(closeCode: number, message: string): void {
    this.stop()
    this.messageOpcode = 0
    this.messageStreamed = false
    this.handler.onError(new ProtocolError(closeCode, message))
  }
}

const EMPTY = Buffer.alloc(0)

/** The smallest message whose buffer payloadTarget() offers. */
const MIN_PAYLOAD_TARGET = 1024 * 1024
/** The smallest buffer payloadTarget() allocates for pieces (a Node socket read's size). */
const MIN_PIECE_TARGET = 64 * 1024
/** One-frame ASCII texts up to this size that span chunks are kept as pieces (see asciiText). */
const ASCII_PIECES_MAX = 1024 * 1024
/** The smallest piece, but the last, of a text kept as pieces: at most 257 pieces per message. */
const ASCII_PIECE_MIN = 4 * 1024

/**
 * Text pieces from this many bytes are unmasked plainly and then checked by buffer.isAscii
 * (simdutf) instead of by the unmasking loop: under callgrind, 4.6% fewer instructions per
 * 64 KiB text echo; at 1 KiB and 4 KiB the view and the native call cost more than they save.
 */
const NATIVE_ASCII_MIN = 8 * 1024

/**
 * The smallest fragment budget (see fragmentOverhead): with a small maxMessageSize, a message
 * may still arrive in 1024 fragments (at the default overhead) before it fails.
 */
const MIN_FRAGMENT_BUDGET = 64 * 1024

/** A copy of chunk[start, end), for what must outlive a transient chunk. */
function copyOf(chunk: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start)
  chunk.copy(copy, 0, start, end)
  return copy
}

function isWholeUtf8(bytes: Buffer): boolean {
  const validator = new Utf8Validator()
  return validator.push(bytes) && validator.end()
}

/** Header size from the second header byte: 2, + 2 or 8 for an extended length, + 4 if masked. */
function headerSize(b1: number): number {
  const length = b1 & 0x7f
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0)
}

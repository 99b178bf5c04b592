import { expect } from 'chai'
import { FrameParser, type FrameHandler, type FrameParserOptions } from '../../src/protocol/frame-parser'
import { ProtocolError } from '../../src/protocol/protocol-error'

/** One callback of the parser, as recorded (payloads copied, so later input cannot alter them). */
export type FrameEvent =
  | { type: 'text'; text: string }
  | { type: 'binary'; data: Buffer }
  | { type: 'binaryStart' }
  | { type: 'binaryChunk'; data: Buffer }
  | { type: 'binaryEnd' }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; code: number; error: ProtocolError }

/** A FrameHandler that records every callback in order. */
export class FrameRecorder implements FrameHandler {
  readonly events: FrameEvent[] = []
  /** How many texts came as onTextPieces. */
  pieceTexts = 0

  onText(text: string, source: Buffer, start: number, end: number): void {
    // The parser's promise: source[start, end) holds the message's UTF-8 bytes.
    const bytes = source.toString('hex', start, end)
    if (bytes !== Buffer.from(text).toString('hex')) {
      throw new Error(`onText source bytes ${bytes} do not encode ${JSON.stringify(text)}`)
    }
    this.events.push({ type: 'text', text })
  }
  onTextPieces(text: string, pieces: readonly Buffer[], length: number): void {
    // The same promise for a text delivered as pieces: their bytes, in order, encode it.
    const joined = Buffer.concat(pieces)
    if (joined.length !== length || joined.toString('hex') !== Buffer.from(text).toString('hex')) {
      throw new Error(`onTextPieces pieces (${joined.length} of ${length} bytes) do not encode the text`)
    }
    this.pieceTexts++
    this.events.push({ type: 'text', text })
  }
  onBinary(data: Buffer): void {
    this.events.push({ type: 'binary', data: Buffer.from(data) })
  }
  onBinaryStart(): void {
    this.events.push({ type: 'binaryStart' })
  }
  onBinaryChunk(chunk: Buffer): void {
    this.events.push({ type: 'binaryChunk', data: Buffer.from(chunk) })
  }
  onBinaryEnd(): void {
    this.events.push({ type: 'binaryEnd' })
  }
  onPing(payload: Buffer): void {
    this.events.push({ type: 'ping', data: Buffer.from(payload) })
  }
  onPong(payload: Buffer): void {
    this.events.push({ type: 'pong', data: Buffer.from(payload) })
  }
  onClose(code: number, reason: string): void {
    this.events.push({ type: 'close', code, reason })
  }
  onError(error: ProtocolError): void {
    this.events.push({ type: 'error', code: error.closeCode, error })
  }

  get errors(): ProtocolError[] {
    return this.events.flatMap((event) => (event.type === 'error' ? [event.error] : []))
  }
}

/** Server side by default: client frames must be masked. */
export const SERVER: FrameParserOptions = { expectMasked: true, maxMessageSize: 1 << 20 }
/** Client side: server frames must not be masked. */
export const CLIENT: FrameParserOptions = { expectMasked: false, maxMessageSize: 1 << 20 }

/** Bytes from a hex string; spaces and line breaks are ignored. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex')
}

export function createParser(options: FrameParserOptions = SERVER): { parser: FrameParser; recorder: FrameRecorder } {
  const recorder = new FrameRecorder()
  return { parser: new FrameParser(recorder, options), recorder }
}

/**
 * Parses `chunks` (copied first: the parser unmasks its input in place) and returns the events.
 */
export function parse(chunks: Buffer | Buffer[], options: FrameParserOptions = SERVER): FrameEvent[] {
  const { parser, recorder } = createParser(options)
  for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) parser.push(Buffer.from(chunk))
  return recorder.events
}

/** The input cut in two at `at`, both halves copied. */
export function splitAt(bytes: Buffer, at: number): Buffer[] {
  return [Buffer.from(bytes.subarray(0, at)), Buffer.from(bytes.subarray(at))]
}

/** The input one byte per chunk. */
export function bytewise(bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i++) chunks.push(Buffer.from(bytes.subarray(i, i + 1)))
  return chunks
}

/**
 * Merges consecutive binaryChunk events, so streamed messages compare equal however the input
 * was split (the pieces differ, their concatenation must not).
 */
export function mergeChunks(events: readonly FrameEvent[]): FrameEvent[] {
  const merged: FrameEvent[] = []
  for (const event of events) {
    const last = merged[merged.length - 1]
    if (event.type === 'binaryChunk' && last !== undefined && last.type === 'binaryChunk') {
      merged[merged.length - 1] = { type: 'binaryChunk', data: Buffer.concat([last.data, event.data]) }
    } else {
      merged.push(event)
    }
  }
  return merged
}

/** Events in a form chai compares quickly and prints readably (payloads as hex). */
export function describeEvents(events: readonly FrameEvent[]): unknown[] {
  return events.map((event) => {
    switch (event.type) {
      case 'binary':
      case 'binaryChunk':
      case 'ping':
      case 'pong':
        return { type: event.type, hex: event.data.toString('hex') }
      case 'error':
        return { type: 'error', code: event.code }
      default:
        return event
    }
  })
}

/** Asserts two event lists are the same, comparing payloads with Buffer.equals. */
export function expectSameEvents(actual: readonly FrameEvent[], expected: readonly FrameEvent[], label = ''): void {
  const a = mergeChunks(actual)
  const e = mergeChunks(expected)
  const same =
    a.length === e.length &&
    a.every((event, i) => {
      const other = e[i]
      if (event.type !== other.type) return false
      if ('data' in event && 'data' in other) return event.data.equals(other.data)
      if (event.type === 'error' && other.type === 'error') return event.code === other.code
      return JSON.stringify(event) === JSON.stringify(other)
    })
  if (!same) {
    // Let chai print the difference.
    expect(describeEvents(a), label).to.deep.equal(describeEvents(e))
  }
}

/**
 * Feeds `bytes` whole, in two chunks at every split point, and one byte at a time, and asserts
 * every way yields `expected`. Returns the number of ways tried.
 */
export function expectAtEverySplit(
  bytes: Buffer,
  expected: readonly FrameEvent[],
  options: FrameParserOptions = SERVER,
): number {
  expectSameEvents(parse(bytes, options), expected, 'whole')
  for (let at = 1; at < bytes.length; at++) {
    expectSameEvents(parse(splitAt(bytes, at), options), expected, `split at ${at}`)
  }
  expectSameEvents(parse(bytewise(bytes), options), expected, 'one byte at a time')
  return bytes.length + 1
}

/** Expects exactly one error, with `code`, and no event after it. */
export function expectOneError(events: readonly FrameEvent[], code: number): ProtocolError {
  const errors = events.filter((event) => event.type === 'error')
  expect(errors, `errors in ${JSON.stringify(describeEvents(events))}`).to.have.length(1)
  const last = events[events.length - 1]
  expect(last.type, 'the error is the last event').to.equal('error')
  const error = (last as { error: ProtocolError }).error
  expect(error).to.be.instanceOf(ProtocolError)
  expect(error.closeCode).to.equal(code)
  return error
}

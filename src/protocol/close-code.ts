import { CloseCode } from './constants'

/**
 * RFC 6455 §7.4: whether `code` may appear in a close frame on the wire. 1000–1003 and
 * 1007–1014 are defined; 3000–3999 are registered and 4000–4999 private. 1004 is reserved,
 * 1005/1006/1015 are reserved for reporting and MUST NOT be sent.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) ||
      (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999))
  )
}

/** Builds a close frame payload: 2-byte code + UTF-8 reason (≤ 123 bytes so the frame stays ≤ 125). */
export function encodeClosePayload(code: number | undefined, reason: string = ''): Buffer {
  if (code === undefined || code === CloseCode.NoStatus) {
    if (reason !== '') throw new RangeError('a close reason requires a close code')
    return Buffer.alloc(0)
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new RangeError(`invalid close code ${code}: use 1000–1003, 1007–1014 or 3000–4999`)
  }
  const reasonLength = Buffer.byteLength(reason)
  // RFC 6455 §5.5: control frame payload ≤ 125 bytes, 2 of which are the code.
  if (reasonLength > 123) throw new RangeError('close reason must be at most 123 bytes of UTF-8')
  const payload = Buffer.allocUnsafe(2 + reasonLength)
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  return payload
}

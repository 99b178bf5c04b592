export { Opcode, CloseCode, WEBSOCKET_GUID, MAX_CONTROL_PAYLOAD } from './constants'
export { ProtocolError } from './protocol-error'
export { HandshakeError } from './handshake-error'
export { isValidCloseCode, encodeClosePayload } from './close-code'
export { Utf8Validator, isValidUtf8 } from './utf8-validator'
export { applyMask, applyMaskWord, keyWord, unmaskAscii, MaskKeyPool } from './mask'
export { writeFrameHeader, encodeFrameHeader, encodeFrame, frameHeaderSize, MAX_HEADER_SIZE } from './frame-builder'
export type { FrameHeaderFields } from './frame-builder'
export { FrameParser } from './frame-parser'
export type { FrameHandler, FrameParserOptions } from './frame-parser'
export {
  acceptKey,
  createClientKey,
  isToken,
  parseProtocolHeader,
  negotiateProtocol,
  validateUpgradeRequest,
  buildAcceptResponse,
  buildRejectResponse,
  validateServerResponse,
} from './handshake'
export type { ValidUpgrade, HeaderBag, HeaderValue } from './handshake'
export { resolveCompressionOptions } from './extensions/compression-options'
export type { CompressionOptions, ResolvedCompressionOptions } from './extensions/compression-options'

// Buffer methods Node has shipped since v0.x that @types/node does not declare. They skip the
// argument normalisation of toString()/write(), which shows in per-message profiles.
declare global {
  interface Buffer {
    utf8Slice(start: number, end: number): string
    utf8Write(text: string, offset: number, length: number): number
    /** One byte per character: for bytes known to be ASCII, the same string as utf8Slice, faster. */
    latin1Slice(start: number, end: number): string
    /** Writes each character's low byte: for a string known to be ASCII, its UTF-8 bytes. */
    latin1Write(text: string, offset: number, length: number): number
  }
}
export {}

/**
 * A bounded table of strings that many connections hold with the same content (`Host`,
 * `Upgrade: websocket`, `Sec-WebSocket-Version: 13`, the peer address behind a proxy ...):
 * each handshake parses its own copy, and an idle connection keeps it for its whole life (about
 * 24–40 B each, several per connection). `share` returns the copy seen first instead.
 *
 * Bounded in entries and in length, so hostile values cost at most the table: when it is full it
 * starts over (strings already shared stay valid; they are ordinary strings).
 */
export class StringTable {
  private readonly strings = new Map<string, string>()

  constructor(
    private readonly maxEntries: number,
    private readonly maxLength: number,
  ) {}

  /** Strings in the table now. */
  get size(): number {
    return this.strings.size
  }

  /** The table's string equal to `value`, or `value` itself (which then goes into the table). */
  share(value: string): string {
    if (value.length > this.maxLength) return value
    const shared = this.strings.get(value)
    if (shared !== undefined) return shared
    if (this.strings.size >= this.maxEntries) this.strings.clear()
    this.strings.set(value, value)
    return value
  }
}

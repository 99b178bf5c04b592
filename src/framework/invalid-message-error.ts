/** One failed property of a message, as listed in an error reply. */
export interface MessageFieldError {
  /** Dotted path inside `data` (`'text'`, `'author.name'`, `'items.0.id'`), or `'data'` itself. */
  readonly property: string
  /** class-validator constraint name → message, e.g. `{ isString: 'text must be a string' }`. */
  readonly constraints: Readonly<Record<string, string>>
}

/**
 * A text message the gateway could not route or validate: invalid JSON, no event, an unknown
 * event, or data that failed validation. Answered per the gateway's `invalidMessage` policy.
 */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError'
  constructor(
    /** The event the message named, or `null` when it named none. */
    readonly event: string | null,
    message: string,
    readonly errors: readonly MessageFieldError[] = [],
  ) {
    super(message)
  }
}

/**
 * Runs `flush` once, a macrotask after the first schedule() of a tick: whatever is changed in
 * the meantime (many subscribes, joins) goes out in one batch.
 */
export class DeferredFlush {
  private scheduled = false

  constructor(private readonly flush: () => void) {}

  schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.flush()
    })
  }

  get pending(): boolean {
    return this.scheduled
  }
}

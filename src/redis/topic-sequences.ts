/**
 * The next sequence number per topic this instance publishes to, in bounded memory: an app that
 * publishes to millions of distinct topics (one per user) must not keep a number for each
 * forever. Two generations of at most `capacity` topics each: a topic used since the last
 * rotation keeps its count; one unused for a whole generation is forgotten and starts again at 1
 * (a receiver sees the sequence restart, as after a publisher restart).
 */
export class TopicSequences {
  private current = new Map<string, number>()
  private previous = new Map<string, number>()

  constructor(private readonly capacity = 65_536) {}

  /** 1 for a topic's first message, then 2, 3, ... */
  next(topic: string): number {
    let last = this.current.get(topic)
    if (last === undefined) {
      last = this.previous.get(topic) ?? 0
      if (this.current.size >= this.capacity) {
        this.previous = this.current
        this.current = new Map()
      }
    }
    this.current.set(topic, last + 1)
    return last + 1
  }

  /** Topics remembered (at most twice the capacity). */
  get size(): number {
    return this.current.size + this.previous.size
  }
}

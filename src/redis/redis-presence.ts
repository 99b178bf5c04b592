import type { PresenceMember } from '../broker/broker'
import { DeferredFlush } from './deferred-flush'

/** The presence scripts (presence-scripts.ts) as ioredis defines them on the command client. */
export interface PresenceCommands {
  gwPresenceJoin(hash: string, alive: string, ...args: string[]): Promise<unknown>
  gwPresenceRemove(hash: string, alive: string, instance: string): Promise<unknown>
  gwPresenceRead(hash: string, alive: string): Promise<string[]>
  hdel(key: string, ...fields: string[]): Promise<number>
}

export interface RedisPresenceSettings {
  readonly prefix: string
  readonly instanceId: string
  readonly expiryMs: number
  readonly maxDataBytes: number
  /** The command client when it is connected, else null. */
  readonly client: () => PresenceCommands | null
  /** A write failed while connected (retried at the next heartbeat or reconnect). */
  readonly onWriteError: (topic: string, error: Error) => void
}

/**
 * This instance's side of presence: its members (the truth Redis is synced from), the changes
 * not yet written (net effect per tick, one batch in flight at a time), the rewrite after a
 * reconnect and the heartbeat that keeps the instance alive in every topic it has members in.
 */
export class RedisPresence {
  /** topic → member → data as JSON. */
  private readonly members = new Map<string, Map<string, string>>()
  /** topic → members whose presence changed since the last flush. */
  private readonly changed = new Map<string, Set<string>>()
  /** Topics whose whole membership of this instance must be rewritten (after a failure or a reconnect). */
  private readonly resync = new Set<string>()
  private inFlight: Promise<void> | null = null
  private readonly flusher = new DeferredFlush(() => this.flush())
  private heartbeat: NodeJS.Timeout | null = null
  private beating = false

  constructor(private readonly settings: RedisPresenceSettings) {}

  join(topic: string, member: string, data: unknown): void {
    const json = JSON.stringify(data === undefined ? null : data)
    if (json === undefined) throw new TypeError(`gatewire/redis: presence data of '${member}' in '${topic}' is not JSON-serialisable`)
    if (Buffer.byteLength(json) > this.settings.maxDataBytes) {
      throw new RangeError(`gatewire/redis: presence data of '${member}' in '${topic}' is over ${this.settings.maxDataBytes} bytes as JSON`)
    }
    let members = this.members.get(topic)
    if (members === undefined) this.members.set(topic, (members = new Map()))
    members.set(member, json)
    this.changedFor(topic, member)
  }

  leave(topic: string, member: string): void {
    const members = this.members.get(topic)
    if (members === undefined || !members.delete(member)) return
    if (members.size === 0) this.members.delete(topic)
    this.changedFor(topic, member)
  }

  /** Everyone in `topic` on live instances: one script call. */
  async read(client: PresenceCommands, topic: string): Promise<PresenceMember[]> {
    const [hash, alive] = this.keys(topic)
    const flat = await client.gwPresenceRead(hash, alive)
    const members: PresenceMember[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]
      const cut = field.indexOf('\0')
      let data: unknown
      try {
        data = JSON.parse(flat[i + 1])
      } catch {
        continue // Not written by a broker of ours: leave it out rather than fail the whole answer.
      }
      members.push(Object.freeze({ id: field.slice(cut + 1), instance: field.slice(0, cut), data }))
    }
    return members
  }

  /** The command connection is (again) up: Redis may have restarted or missed writes, rewrite ours. */
  connected(): void {
    for (const topic of this.members.keys()) this.resync.add(topic)
    this.flusher.schedule()
    if (this.heartbeat === null) {
      this.heartbeat = setInterval(() => this.beat(), Math.max(100, Math.floor(this.settings.expiryMs / 3)))
      this.heartbeat.unref()
    }
  }

  /** True while changes wait to be written or a batch is in flight. */
  get pending(): boolean {
    return this.changed.size > 0 || this.resync.size > 0 || this.inFlight !== null || this.flusher.pending
  }

  /** The batch in flight, if any. */
  get writing(): Promise<void> | null {
    return this.inFlight
  }

  /** Removes every member of this instance from Redis (close()) and stops the heartbeat. */
  async removeAll(client: PresenceCommands | null): Promise<void> {
    this.stop()
    const topics = new Set([...this.members.keys(), ...this.resync, ...this.changed.keys()])
    this.members.clear()
    this.changed.clear()
    this.resync.clear()
    if (client === null) return
    await Promise.allSettled(
      [...topics].map((topic) => {
        const [hash, alive] = this.keys(topic)
        return client.gwPresenceRemove(hash, alive, this.settings.instanceId)
      }),
    )
  }

  stop(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat)
    this.heartbeat = null
  }

  private keys(topic: string): [string, string] {
    // `{t:…}` is never empty, so both keys always hash on it and share a Redis Cluster slot.
    const prefix = this.settings.prefix
    return [`${prefix}presence:{t:${topic}}`, `${prefix}presence-alive:{t:${topic}}`]
  }

  private changedFor(topic: string, member: string): void {
    let changed = this.changed.get(topic)
    if (changed === undefined) this.changed.set(topic, (changed = new Set()))
    changed.add(member)
    this.flusher.schedule()
  }

  private flush(): void {
    const client = this.settings.client()
    if (client === null || this.inFlight !== null || (this.changed.size === 0 && this.resync.size === 0)) return
    const { instanceId } = this.settings
    const expiry = String(this.settings.expiryMs)
    const sent: Promise<unknown>[] = []
    const track = (topic: string, write: Promise<unknown>): void => {
      sent.push(write.catch((error: Error) => this.failed(topic, error)))
    }
    for (const topic of this.resync) {
      const [hash, alive] = this.keys(topic)
      const members = this.members.get(topic)
      if (members === undefined) track(topic, client.gwPresenceRemove(hash, alive, instanceId))
      else track(topic, client.gwPresenceJoin(hash, alive, instanceId, expiry, '1', ...this.fields(members.keys(), members)))
      this.changed.delete(topic)
    }
    this.resync.clear()
    for (const [topic, changed] of this.changed) {
      const [hash, alive] = this.keys(topic)
      const members = this.members.get(topic)
      const joined: string[] = []
      const left: string[] = []
      for (const member of changed) {
        if (members?.has(member)) joined.push(member)
        else left.push(instanceId + '\0' + member)
      }
      if (joined.length > 0 && members !== undefined) track(topic, client.gwPresenceJoin(hash, alive, instanceId, expiry, '0', ...this.fields(joined, members)))
      if (left.length > 0) track(topic, client.hdel(hash, ...left))
    }
    this.changed.clear()
    this.inFlight = Promise.all(sent).then(() => {
      this.inFlight = null
      // Failed writes wait for the next heartbeat or connect, so a write Redis keeps refusing
      // cannot spin; new changes go at once.
      if (this.changed.size > 0) this.flusher.schedule()
    })
  }

  private failed(topic: string, error: Error): void {
    this.resync.add(topic)
    if (this.settings.client() !== null) this.settings.onWriteError(topic, error)
  }

  private fields(ids: Iterable<string>, members: Map<string, string>): string[] {
    const out: string[] = []
    for (const id of ids) out.push(this.settings.instanceId + '\0' + id, members.get(id) as string)
    return out
  }

  /** Keeps this instance alive in every topic it has members in (one script call per topic). */
  private beat(): void {
    const client = this.settings.client()
    if (client === null) return
    if (this.resync.size > 0) this.flusher.schedule()
    if (this.beating || this.members.size === 0) return
    this.beating = true
    const expiry = String(this.settings.expiryMs)
    const beats = [...this.members.keys()].map((topic) => {
      const [hash, alive] = this.keys(topic)
      return client.gwPresenceJoin(hash, alive, this.settings.instanceId, expiry, '0').catch((error: Error) => this.failed(topic, error))
    })
    void Promise.all(beats).then(() => {
      this.beating = false
    })
  }
}

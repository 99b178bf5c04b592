import { randomInt } from 'node:crypto'
import { Inject, Injectable, type RoomMember } from '../src'
import { CHAT_CONFIG, type ChatConfig } from './chat-config'
import type { ChatMessage, RoomSummary } from './chat-events'

/**
 * What every joined member shows in the chat's directory room (its presence data), on every
 * instance: the room it is in, its nickname, and the instance it is connected to.
 */
export interface DirectoryEntry {
  readonly room: string
  readonly nick: string
  /** `RoomService.node` of the member's instance. */
  readonly node: string
}

export type DirectoryMember = RoomMember<DirectoryEntry>

/** Ids are this many per instance: the instance's random base keeps them apart from other instances'. */
const IDS_PER_INSTANCE = 2 ** 32

/**
 * The chat's state, independent of any connection. Who is where comes from the directory's
 * presence (across every instance, read by the gateway); this service turns it into member
 * lists and head counts. The last messages of each room are kept here, per instance: a
 * message said on another instance is delivered live but not recorded here.
 *
 * A provider, so the gateway (and anything else) gets the one instance injected.
 */
@Injectable()
export class RoomService {
  /** Tells this instance's directory entries from other instances' (connection ids are only unique per process). */
  readonly node: string
  private readonly histories = new Map<string, ChatMessage[]>()
  private lastId: number

  constructor(@Inject(CHAT_CONFIG) private readonly config: ChatConfig) {
    // Message and file ids must not collide across instances: each starts at a random multiple
    // of 2^32 (2^20 bases, all within Number.MAX_SAFE_INTEGER).
    const base = randomInt(1, 2 ** 20)
    this.lastId = base * IDS_PER_INSTANCE
    this.node = base.toString(36)
  }

  /** The presence data of `nick` in `room` on this instance. */
  entry(room: string, nick: string): DirectoryEntry {
    return { room, nick, node: this.node }
  }

  /** Whether `member` is the directory entry of `connectionId` on this instance. */
  isOwn(member: DirectoryMember, connectionId: string): boolean {
    return member.id === connectionId && member.data?.node === this.node
  }

  /** Nicknames present in `room`, sorted, once however many tabs (or instances) they use. */
  members(room: string, directory: readonly DirectoryMember[]): string[] {
    const nicks = new Set<string>()
    for (const { data } of directory) if (data?.room === room) nicks.add(data.nick)
    return [...nicks].sort((a, b) => a.localeCompare(b))
  }

  /** The configured rooms, then the others someone is in, each with how many people are in it. */
  list(directory: readonly DirectoryMember[]): RoomSummary[] {
    const nicks = new Map<string, Set<string>>()
    for (const name of this.config.rooms) nicks.set(name, new Set())
    const others: string[] = []
    for (const { data } of directory) {
      if (typeof data?.room !== 'string') continue
      let inRoom = nicks.get(data.room)
      if (inRoom === undefined) {
        nicks.set(data.room, (inRoom = new Set()))
        others.push(data.room)
      }
      inRoom.add(data.nick)
    }
    return [...this.config.rooms, ...others.sort()].map((name) => ({ name, members: nicks.get(name)?.size ?? 0 }))
  }

  /** Adds a message to the room's history (keeping the last `historySize`) and returns it. */
  record(room: string, nick: string, text: string, via: ChatMessage['via']): ChatMessage {
    const message: ChatMessage = { id: this.nextId(), room, nick, text, at: Date.now(), via }
    let history = this.histories.get(room)
    if (history === undefined) this.histories.set(room, (history = []))
    history.push(message)
    if (history.length > this.config.historySize) history.splice(0, history.length - this.config.historySize)
    return message
  }

  /** The last `limit` messages of `room` said on this instance, oldest first. */
  history(room: string, limit: number = this.config.historySize): ChatMessage[] {
    const history = this.histories.get(room) ?? []
    return limit <= 0 ? [] : history.slice(-limit)
  }

  /**
   * This instance has no member of `room` left: a room that is not a configured one loses its
   * history, so that rooms made up by clients cannot grow memory for good.
   */
  emptied(room: string): void {
    if (!this.config.rooms.includes(room)) this.histories.delete(room)
  }

  /** Ids for messages and files, unique across instances for the life of the app. */
  nextId(): number {
    return ++this.lastId
  }
}

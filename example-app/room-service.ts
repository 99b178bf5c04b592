import { Inject, Injectable } from '../src'
import { CHAT_CONFIG, type ChatConfig } from './chat-config'
import type { ChatMessage, RoomSummary } from './chat-events'

/** One room: who is in it (a nickname may be there from several tabs) and what was said last. */
class Room {
  readonly presence = new Map<string, number>()
  readonly history: ChatMessage[] = []
}

/**
 * The chat's state, independent of any connection: rooms, presence and the last messages of
 * each room. A provider, so the gateway (and anything else) gets the one instance injected.
 */
@Injectable()
export class RoomService {
  private readonly rooms = new Map<string, Room>()
  private lastId = 0

  constructor(@Inject(CHAT_CONFIG) private readonly config: ChatConfig) {
    for (const name of config.rooms) this.rooms.set(name, new Room())
  }

  /** Counts `nick` into `room`, creating the room on first use. */
  enter(room: string, nick: string): void {
    let state = this.rooms.get(room)
    if (state === undefined) this.rooms.set(room, (state = new Room()))
    state.presence.set(nick, (state.presence.get(nick) ?? 0) + 1)
  }

  /** Counts `nick` out of `room`; an empty room that is not a configured one is forgotten. */
  leave(room: string, nick: string): void {
    const state = this.rooms.get(room)
    if (state === undefined) return
    const count = state.presence.get(nick) ?? 0
    if (count > 1) state.presence.set(nick, count - 1)
    else state.presence.delete(nick)
    if (state.presence.size === 0 && !this.config.rooms.includes(room)) this.rooms.delete(room)
  }

  /** Nicknames present in `room`, sorted. */
  members(room: string): string[] {
    return [...(this.rooms.get(room)?.presence.keys() ?? [])].sort((a, b) => a.localeCompare(b))
  }

  /** Adds a message to the room's history (keeping the last `historySize`) and returns it. */
  record(room: string, nick: string, text: string, via: ChatMessage['via']): ChatMessage {
    const message: ChatMessage = { id: this.nextId(), room, nick, text, at: Date.now(), via }
    const history = this.rooms.get(room)?.history
    if (history !== undefined) {
      history.push(message)
      if (history.length > this.config.historySize) history.splice(0, history.length - this.config.historySize)
    }
    return message
  }

  /** The last `limit` messages of `room`, oldest first. */
  history(room: string, limit: number = this.config.historySize): ChatMessage[] {
    const history = this.rooms.get(room)?.history ?? []
    return limit <= 0 ? [] : history.slice(-limit)
  }

  /** The configured rooms, then the others in use, each with how many people are in it. */
  list(): RoomSummary[] {
    const configured = this.config.rooms
    const others = [...this.rooms.keys()].filter((name) => !configured.includes(name)).sort()
    return [...configured, ...others].map((name) => ({ name, members: this.rooms.get(name)?.presence.size ?? 0 }))
  }

  /** Ids for messages and files, unique for the life of the app. */
  nextId(): number {
    return ++this.lastId
  }
}

import { InjectionToken } from '../src'

/** How the chat behaves; provided under `CHAT_CONFIG` and injected where it is needed. */
export interface ChatConfig {
  /** Rooms listed even when nobody is in them, in this order. */
  readonly rooms: readonly string[]
  /** Messages kept per room for newcomers. */
  readonly historySize: number
}

export const CHAT_CONFIG = new InjectionToken<ChatConfig>('CHAT_CONFIG')

export const DEFAULT_CHAT_CONFIG: ChatConfig = Object.freeze({
  rooms: Object.freeze(['lobby', 'random', 'help']),
  historySize: 50,
})

/**
 * Limits of the chat protocol. They are constants rather than configuration because decorators
 * (`@MaxLength`, the gateway's `maxMessageSize`) read them when the classes are defined.
 */
export const ChatLimits = Object.freeze({
  /** Characters in one chat message, after trimming. */
  maxTextLength: 500,
  /** Bytes in one shared file (one binary message). */
  maxFileSize: 4 * 1024 * 1024,
  /** Characters in a shared file's name. */
  maxFileNameLength: 120,
  /** Messages a joining client may ask to see. */
  maxHistory: 50,
  /** Characters in a nickname. */
  maxNickLength: 24,
})

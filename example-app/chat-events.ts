// The chat.v2 protocol: JSON events `{"event": name, "data": ...}` in both directions.
// Client → server events are class-validator DTOs: gatewire converts and validates `data`
// before the handler runs, and answers an `error` event listing what failed.
import { Transform } from 'class-transformer'
import { IsArray, IsBoolean, IsInt, IsMimeType, IsNotEmpty, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator'
import type { TypedConnection } from '../src'
import { ChatLimits } from './chat-config'

const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value)

/** `join`: become a member of the connection's room (its path) and get the recent history. */
export class JoinRoom {
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(ChatLimits.maxHistory)
  history?: number
}

/** `say`: a chat message to the room. */
export class Say {
  @Transform(trim)
  @IsString()
  @IsNotEmpty({ message: 'say something: the message is empty' })
  @MaxLength(ChatLimits.maxTextLength, { message: `a message is at most ${ChatLimits.maxTextLength} characters` })
  text!: string
}

/** `typing`: the member started or stopped typing. */
export class Typing {
  @IsBoolean()
  typing!: boolean
}

/** `file`: announces the binary message that follows, which carries the file's bytes. */
export class ShareFile {
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(ChatLimits.maxFileNameLength)
  // A name to show and to save as: no directories, no control characters.
  @Matches(/^[^/\\\u0000-\u001f\u007f]+$/, { message: 'name must not contain slashes or control characters' })
  name!: string

  @IsMimeType()
  type!: string

  @IsInt()
  @Min(1, { message: 'the file is empty' })
  @Max(ChatLimits.maxFileSize, { message: `a file is at most ${ChatLimits.maxFileSize / (1024 * 1024)} MiB` })
  size!: number
}

/** A chat message as the server keeps and sends it. */
export interface ChatMessage {
  readonly id: number
  readonly room: string
  readonly nick: string
  readonly text: string
  /** Milliseconds since the epoch. */
  readonly at: number
  /** The protocol its author spoke. */
  readonly via: 'chat.v1' | 'chat.v2'
}

/** A shared file, announced to the room right before its bytes (one binary message). */
export interface SharedFile {
  readonly id: number
  readonly room: string
  readonly nick: string
  readonly name: string
  readonly type: string
  readonly size: number
  readonly at: number
}

/**
 * The data of `joined`, the reply to `join`. A class only so that `app.asyncapi()` can describe
 * it (`@OnMessage('join', { reply: ... })`): the server builds it, nothing validates it.
 */
export class Joined {
  @IsString() room!: string
  @IsString() nick!: string
  @IsString({ each: true }) members!: string[]
  /** The last messages of the room, oldest first. */
  @IsArray() history!: ChatMessage[]
  @IsObject() limits!: typeof ChatLimits
}

/** Who is in a room, and who just came or went. */
export interface Presence {
  readonly room: string
  readonly members: readonly string[]
  readonly joined?: string
  readonly left?: string
}

export interface RoomSummary {
  readonly name: string
  readonly members: number
}

/** Every event the server sends (besides gatewire's own `error` event). */
export type ServerEvent =
  | {
      event: 'joined'
      data: {
        room: string
        nick: string
        members: readonly string[]
        history: readonly ChatMessage[]
        limits: typeof ChatLimits
      }
    }
  | { event: 'message'; data: ChatMessage }
  | { event: 'presence'; data: Presence }
  | { event: 'typing'; data: { room: string; nick: string; typing: boolean } }
  | { event: 'file'; data: SharedFile }
  | { event: 'rooms'; data: readonly RoomSummary[] }

/** What the guards and handlers keep on each chat connection (`conn.data`). */
export interface Member {
  /** Set by the nickname guard. */
  nick: string
  /** Set by the room guard, from the path. */
  room: string
  /** After `join` (chat.v2) or on connect (chat.v1). */
  joined?: boolean
  /** The `file` announcement waiting for its bytes. */
  pendingFile?: ShareFile
}

export type MemberConnection = TypedConnection<Member>

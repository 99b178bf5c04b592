import { Conn, Gateway, GatewayConnections, OnBinary, OnClose, OnConnect, OnMessage, OnText, UseGuards, WsException } from '../src'
import { ChatLimits } from './chat-config'
import { JoinRoom, Say, ShareFile, Typing, type Member, type MemberConnection, type ServerEvent } from './chat-events'
import { legacyLine } from './legacy-line'
import { requireNickname } from './require-nickname'
import { RoomService } from './room-service'
import { validRoom } from './valid-room'

const V1 = 'chat.v1'

/**
 * The chat: one room per path, two protocol versions side by side.
 *
 * - `chat.v2` (preferred): JSON events validated by DTOs; a file is a `file` event announcing
 *   name, type and size, followed by one binary message with its bytes, relayed the same way.
 * - `chat.v1` (legacy): plain text lines; connecting joins the room.
 *
 * Every client gets its own connection per room; presence and history live in `RoomService`.
 */
@Gateway('/chat/:room', {
  protocols: ['chat.v2', V1],
  // A shared file is one binary message; JSON events are far smaller.
  maxMessageSize: ChatLimits.maxFileSize,
  // Properties an event does not define are refused, not silently dropped.
  validator: { whitelist: true, forbidNonWhitelisted: true },
  // permessage-deflate with the defaults: chat events are JSON text that shrinks well, and
  // without context takeover an idle member's connection holds no zlib memory.
  compression: true,
})
@UseGuards(validRoom, requireNickname)
export class ChatGateway {
  constructor(
    private readonly rooms: RoomService,
    private readonly connections: GatewayConnections<Member>,
  ) {}

  @OnMessage('join')
  join(request: JoinRoom, conn: MemberConnection): ServerEvent {
    const { room, nick } = conn.data
    if (conn.data.joined !== true) this.enter(conn)
    const history = this.rooms.history(room, request.history ?? ChatLimits.maxHistory)
    return { event: 'joined', data: { room, nick, members: this.rooms.members(room), history, limits: ChatLimits } }
  }

  @OnMessage('say')
  say(message: Say, conn: MemberConnection): void {
    const { room, nick } = joined(conn)
    this.toRoom(room, { event: 'message', data: this.rooms.record(room, nick, message.text, 'chat.v2') })
  }

  @OnMessage('typing')
  typing(state: Typing, conn: MemberConnection): void {
    const { room, nick } = joined(conn)
    this.toRoom(room, { event: 'typing', data: { room, nick, typing: state.typing } }, { except: conn })
  }

  @OnMessage('file')
  announceFile(file: ShareFile, conn: MemberConnection): void {
    joined(conn).pendingFile = file
  }

  @OnBinary()
  shareFile(bytes: Buffer, conn: MemberConnection): void {
    const member = joined(conn)
    const file = member.pendingFile
    member.pendingFile = undefined
    if (file === undefined) throw new WsException('announce a file with a "file" event before sending its bytes')
    if (bytes.length !== file.size) {
      throw new WsException(`"${file.name}" was announced with ${file.size} bytes, but ${bytes.length} arrived`)
    }
    const { room, nick } = member
    const shared = { id: this.rooms.nextId(), room, nick, name: file.name, type: file.type, size: file.size, at: Date.now() }
    this.toRoom(room, { event: 'file', data: shared }, { bytes })
  }

  @OnConnect({ protocol: V1 })
  legacyJoin(conn: MemberConnection): void {
    this.enter(conn)
    const { room, nick } = conn.data
    conn.sendText(`* welcome to #${room}, ${nick}; here: ${this.rooms.members(room).join(', ')}`)
    for (const message of this.rooms.history(room, 20)) conn.sendText(legacyLine({ event: 'message', data: message })!)
  }

  @OnText({ protocol: V1 })
  legacySay(line: string, conn: MemberConnection): string | undefined {
    const { room, nick } = conn.data
    const text = line.trim()
    if (text === '' || text.length > ChatLimits.maxTextLength) return `! a message is 1 to ${ChatLimits.maxTextLength} characters`
    this.toRoom(room, { event: 'message', data: this.rooms.record(room, nick, text, V1) })
    return undefined
  }

  @OnBinary({ protocol: V1 })
  legacyBinary(): never {
    throw new WsException(1003, 'chat.v1 is text only: share files over chat.v2')
  }

  @OnClose()
  leave(@Conn() conn: MemberConnection): void {
    if (conn.data.joined !== true) return
    conn.data.joined = false
    const { room, nick } = conn.data
    this.rooms.leave(room, nick)
    this.toRoom(room, { event: 'presence', data: { room, members: this.rooms.members(room), left: nick } })
    this.announceRooms()
  }

  private enter(conn: MemberConnection): void {
    conn.data.joined = true
    const { room, nick } = conn.data
    this.rooms.enter(room, nick)
    this.toRoom(room, { event: 'presence', data: { room, members: this.rooms.members(room), joined: nick } }, { except: conn })
    this.announceRooms()
  }

  /**
   * Sends an event to the members of `room`: as JSON to chat.v2, as a text line to chat.v1.
   * `bytes` follow the event as a binary message, for chat.v2 only.
   */
  private toRoom(room: string, event: ServerEvent, options: { except?: MemberConnection; bytes?: Buffer } = {}): void {
    const { except, bytes } = options
    const inRoom = (c: MemberConnection): boolean => c.data.joined === true && c.data.room === room && c !== except
    const v2 = (c: MemberConnection): boolean => inRoom(c) && c.protocol !== V1
    this.connections.broadcastEvent(event.event, event.data, v2)
    // Sent right after its announcement on each connection, so the two stay adjacent.
    if (bytes !== undefined) this.connections.broadcast(bytes, v2)
    const line = legacyLine(event)
    if (line !== undefined) this.connections.broadcast(line, (c) => inRoom(c) && c.protocol === V1)
  }

  /** Rooms and head counts changed: tell every chat.v2 client, joined or not, for its room list. */
  private announceRooms(): void {
    this.connections.broadcastEvent('rooms', this.rooms.list(), (c) => c.protocol !== V1)
  }
}

/** The connection's member data, once it has joined its room. */
function joined(conn: MemberConnection): Member {
  if (conn.data.joined !== true) throw new WsException('join the room first: send a "join" event')
  return conn.data
}

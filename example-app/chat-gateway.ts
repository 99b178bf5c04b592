import { Conn, Gateway, GatewayConnections, OnBinary, OnClose, OnConnect, OnMessage, OnText, UseGuards, WsException, type Room } from '../src'
import { ChatLimits } from './chat-config'
import { Joined, JoinRoom, Say, ShareFile, Typing, type Member, type MemberConnection, type RoomSummary, type ServerEvent } from './chat-events'
import { legacyLine } from './legacy-line'
import { requireNickname } from './require-nickname'
import { RoomService, type DirectoryEntry, type DirectoryMember } from './room-service'
import { validRoom } from './valid-room'

const V1 = 'chat.v1'

// The gateway's framework rooms besides the chat rooms (':' and '@' never occur in a chat room's
// name, see validRoom). Every joined member is in DIRECTORY with { room, nick, node } as presence
// data: member lists and head counts are read from there. Every chat.v2 connection, joined or
// not, is in ROOM_LISTS, where head counts go.
const DIRECTORY = '@directory'
const ROOM_LISTS = '@room-lists'
// A chat room's events go to one framework room per protocol, so that each event's frame is
// built once per protocol: JSON for chat.v2, a text line for chat.v1.
const delivery = (room: string, protocol: string | undefined): string => `${protocol === V1 ? V1 : 'chat.v2'}:${room}`

/**
 * The chat: one room per path, two protocol versions side by side.
 *
 * - `chat.v2` (preferred): JSON events validated by DTOs. A client shares a file with a `file`
 *   event announcing name, type and size, followed by one binary message with its bytes; the
 *   room receives it as one binary message that carries both (`fileFrame`), since two messages
 *   published by two instances at once could interleave between the announcements and the bytes.
 * - `chat.v1` (legacy): plain text lines; connecting joins the room.
 *
 * Everything goes through framework rooms, so with a shared broker (`REDIS_URL`) several
 * instances serve one chat: members, presence and head counts are those of every instance.
 * The history is per instance (in `RoomService`).
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

  /** Every chat.v2 connection hears of rooms and head counts, joined or not. */
  @OnConnect()
  listen(conn: MemberConnection): void {
    this.connections.room(ROOM_LISTS).join(conn)
  }

  @OnMessage('join', { reply: { event: 'joined', data: Joined } })
  async join(request: JoinRoom, conn: MemberConnection): Promise<ServerEvent> {
    const { room, nick } = conn.data
    const members = conn.data.joined === true ? this.rooms.members(room, await this.directory()) : await this.enter(conn)
    const history = this.rooms.history(room, request.history ?? ChatLimits.maxHistory)
    return { event: 'joined', data: { room, nick, members, history, limits: ChatLimits } }
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
    this.toRoom(room, { event: 'file', data: shared }, { frame: fileFrame(shared, bytes) })
  }

  @OnConnect({ protocol: V1 })
  async legacyJoin(conn: MemberConnection): Promise<void> {
    let members: string[]
    try {
      members = await this.enter(conn)
    } catch {
      // chat.v1 has no error event: 1013 (Try Again Later) says it all.
      throw new WsException(1013, 'who is here is unknown for now: try again later')
    }
    const { room, nick } = conn.data
    conn.sendText(`* welcome to #${room}, ${nick}; here: ${members.join(', ')}`)
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
  async leave(@Conn() conn: MemberConnection): Promise<void> {
    if (conn.data.joined !== true) return
    conn.data.joined = false
    const { room, nick } = conn.data
    // The connection has left its rooms by now (subscriptions end on close).
    if (this.delivery(room, V1).localSize + this.delivery(room, 'chat.v2').localSize === 0) this.rooms.emptied(room)
    // Brokers apply a leave in the background: this read may still list the connection.
    const directory = (await this.directory()).filter((member) => !this.rooms.isOwn(member, conn.id))
    this.toRoom(room, { event: 'presence', data: { room, members: this.rooms.members(room, directory), left: nick } })
    this.announceRooms(directory)
  }

  /** Head counts of every room, on every instance (one presence read). */
  async roomList(): Promise<RoomSummary[]> {
    return this.rooms.list(await this.directory())
  }

  /**
   * Makes `conn` a member of its room: reads who is there, then (in the same tick, so that no
   * message of this instance falls between the history and the live ones) joins the room and
   * the directory and tells the others. Returns the members, the newcomer included.
   */
  private async enter(conn: MemberConnection): Promise<string[]> {
    const { room, nick } = conn.data
    const entry = this.rooms.entry(room, nick)
    // Read before joining: the directory cannot list the newcomer yet, so it is added here.
    const directory: DirectoryMember[] = [...(await this.directory()), { id: conn.id, instance: '', data: entry }]
    const members = this.rooms.members(room, directory)
    // Closed while the directory was read: nothing to join, nobody to tell.
    if (conn.readyState !== 1) return members
    conn.data.joined = true
    this.delivery(room, conn.protocol).join(conn)
    this.connections.room<DirectoryEntry>(DIRECTORY).join(conn, entry)
    this.toRoom(room, { event: 'presence', data: { room, members, joined: nick } }, { except: conn })
    this.announceRooms(directory)
    return members
  }

  private async directory(): Promise<DirectoryMember[]> {
    try {
      return [...(await this.connections.room<DirectoryEntry>(DIRECTORY).presence()).members]
    } catch (err) {
      // A broker that cannot answer (Redis down): the client is told, not left waiting.
      throw new WsException(`who is here is unknown for now (${(err as Error).message}); try again`)
    }
  }

  private delivery(room: string, protocol: string | undefined): Room {
    return this.connections.room(delivery(room, protocol))
  }

  /**
   * Sends an event to the members of `room` on every instance: as JSON to chat.v2 (or, when
   * given, the binary `frame` that carries it), as a text line to chat.v1.
   */
  private toRoom(room: string, event: ServerEvent, options: { except?: MemberConnection; frame?: Buffer } = {}): void {
    const { except, frame } = options
    const v2 = this.delivery(room, 'chat.v2')
    if (frame !== undefined) v2.send(frame, { except })
    else v2.sendEvent(event.event, event.data, { except })
    const line = legacyLine(event)
    if (line !== undefined) this.delivery(room, V1).send(line, { except })
  }

  /** Rooms and head counts changed: tell every chat.v2 client on every instance, joined or not. */
  private announceRooms(directory: readonly DirectoryMember[]): void {
    this.connections.room(ROOM_LISTS).sendEvent('rooms', this.rooms.list(directory))
  }
}

/**
 * A shared file as chat.v2 members receive it, one binary message: a 4-byte big-endian length,
 * that many bytes of the `file` event's data as UTF-8 JSON, then the file's bytes. One publish,
 * so every member gets the description and the bytes together whichever instance sent them.
 */
export function fileFrame(file: object, bytes: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(file))
  const frame = Buffer.allocUnsafe(4 + json.length + bytes.length)
  frame.writeUInt32BE(json.length, 0)
  json.copy(frame, 4)
  bytes.copy(frame, 4 + json.length)
  return frame
}

/** The connection's member data, once it has joined its room. */
function joined(conn: MemberConnection): Member {
  if (conn.data.joined !== true) throw new WsException('join the room first: send a "join" event')
  return conn.data
}

import type { GuardFunction } from '../src'
import { ChatLimits } from './chat-config'

/** Letters, digits, spaces and `_ . -`, starting with a letter or digit. */
const NICKNAME = new RegExp(`^[\\p{L}\\p{N}][\\p{L}\\p{N} _.-]{0,${ChatLimits.maxNickLength - 1}}$`, 'u')

/**
 * Handshake guard: the chat needs a nickname, from the `nick` query parameter or else the
 * `nick` cookie. Without a valid one the upgrade is refused with HTTP 401, before any
 * WebSocket exists; with one, it becomes `conn.data.nick`.
 *
 * @example
 * new WebSocket('ws://localhost:8001/chat/lobby?nick=ada', 'chat.v2')
 */
export const requireNickname: GuardFunction = (ctx) => {
  const nick = (ctx.query.get('nick') ?? ctx.cookies.nick ?? '').trim()
  if (nick === '') ctx.reject(401, 'a nickname is required: add ?nick=<name> or a nick cookie')
  if (!NICKNAME.test(nick)) {
    ctx.reject(401, `a nickname is 1 to ${ChatLimits.maxNickLength} letters, digits, spaces, "_", "." or "-"`)
  }
  ctx.data.nick = nick
}

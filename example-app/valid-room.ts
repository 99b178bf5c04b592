import type { GuardFunction } from '../src'

/** Lowercase letters, digits and dashes, like a channel name. */
const ROOM = /^[a-z0-9][a-z0-9-]{0,31}$/

/**
 * Handshake guard: `/chat/:room` only serves well-formed room names (HTTP 404 otherwise, as
 * for any path that serves nothing); the room becomes `conn.data.room` for broadcasts.
 */
export const validRoom: GuardFunction = (ctx) => {
  const room = ctx.params.room
  if (!ROOM.test(room)) ctx.reject(404, 'a room name is 1 to 32 lowercase letters, digits or "-"')
  ctx.data.room = room
}

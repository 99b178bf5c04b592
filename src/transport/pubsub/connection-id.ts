import type { Connection } from '../connection'

/**
 * Ids are handed out on first use and kept beside the connection rather than in it: a
 * connection that never needs one (no presence, nobody asks) costs nothing for it.
 */
const ids = new WeakMap<object, string>()
let last = 0

/** A short id for `connection`, unique within this process (presence tells instances apart). */
export function connectionId(connection: Connection<object>): string {
  let id = ids.get(connection)
  if (id === undefined) ids.set(connection, (id = (++last).toString(36)))
  return id
}

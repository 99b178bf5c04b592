import type { ServerEvent } from './chat-events'

/**
 * chat.v1, the protocol before JSON events, is one plain text line per message both ways. This
 * renders a chat.v2 event as the line a chat.v1 client shows, or `undefined` for the events v1
 * has no line for (typing, room lists).
 *
 * @example
 * legacyLine({ event: 'message', data: message })   // '[14:03] ada: hello'
 */
export function legacyLine(event: ServerEvent): string | undefined {
  switch (event.event) {
    case 'message':
      // UTC, so that every client reads the same time.
      return `[${new Date(event.data.at).toISOString().slice(11, 16)}] ${event.data.nick}: ${event.data.text}`
    case 'presence':
      if (event.data.joined !== undefined) return `* ${event.data.joined} joined #${event.data.room}`
      if (event.data.left !== undefined) return `* ${event.data.left} left #${event.data.room}`
      return undefined
    case 'file':
      return `* ${event.data.nick} shared ${event.data.name} (${formatSize(event.data.size)}, for chat.v2 clients)`
    default:
      return undefined
  }
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

// Test helpers for the example app's chat protocol, on top of gatewire/testing.
import type { TestApp, TestClient } from '../../src/testing'

export interface Event<T = any> {
  event: string
  data: T
}

/**
 * Reads messages until a JSON event named `name` arrives and returns it; other events on the
 * way (room lists, presence) are skipped. Fails after `timeout` like every gatewire/testing wait.
 */
export async function nextEvent<T = any>(client: TestClient, name: string, timeout = 2000): Promise<Event<T>> {
  const deadline = Date.now() + timeout
  for (;;) {
    const message = await client.nextMessage(Math.max(1, deadline - Date.now()))
    if (typeof message !== 'string') throw new Error(`expected the "${name}" event, got ${message.length} bytes of binary`)
    const parsed = JSON.parse(message) as Event<T>
    if (parsed.event === name) return parsed
  }
}

/** Connects to `/chat/<room>` as `nick` over chat.v2, joins, and returns the client and its `joined` event. */
export async function joinAs(t: TestApp, nick: string, room = 'lobby', history?: number): Promise<{ client: TestClient; joined: Event }> {
  const client = await t.connect(`/chat/${room}?nick=${encodeURIComponent(nick)}`, { protocols: ['chat.v2'] })
  client.sendEvent('join', history === undefined ? {} : { history })
  return { client, joined: await nextEvent(client, 'joined') }
}

/**
 * Reads a shared file as chat.v2 members receive it (docs/example-app.md, "Files"): a 4-byte
 * big-endian length, that many bytes of the description as JSON, then the file's bytes.
 */
export function readFileFrame<T = any>(frame: Buffer): { file: T; bytes: Buffer } {
  if (frame.length < 4) throw new Error(`a file frame of ${frame.length} bytes has no length`)
  const length = frame.readUInt32BE(0)
  if (4 + length > frame.length) throw new Error(`a file frame of ${frame.length} bytes announces ${length} bytes of description`)
  return { file: JSON.parse(frame.subarray(4, 4 + length).toString('utf8')) as T, bytes: frame.subarray(4 + length) }
}

/** Reads messages until a binary one arrives (events on the way are skipped) and reads it as a shared file. */
export async function nextFile<T = any>(client: TestClient, timeout = 2000): Promise<{ file: T; bytes: Buffer }> {
  const deadline = Date.now() + timeout
  for (;;) {
    const message = await client.nextMessage(Math.max(1, deadline - Date.now()))
    if (typeof message !== 'string') return readFileFrame<T>(message)
  }
}

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

// The JSON chat workload of the compression benchmark: realistic chat events of 100 B – 2 KiB
// (room, author, text in words, mentions, ids and timestamps), from a seeded generator so every
// server and every run is given the same messages.

const WORDS = (
  'the a to and of in is it you that for on with this be are we have not at can your will just so ' +
  'deploy build release meeting tomorrow today review ticket bug fix merge branch server client ' +
  'latency memory thanks please sounds good lunch coffee weekend update status blocked waiting ' +
  'customer dashboard metrics alert incident rollback config database cache query index migration'
).split(' ')
const NAMES = ['ada', 'grace', 'linus', 'margaret', 'ken', 'barbara', 'dennis', 'frances', 'edsger', 'radia']
const ROOMS = ['general', 'random', 'engineering', 'support', 'release-train']

/** A small xorshift PRNG: deterministic messages without Math.random. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x100000000
  }
}

/** `count` chat events as JSON strings, sizes spread evenly over [minBytes, maxBytes]. */
export function chatMessages(count: number, minBytes = 100, maxBytes = 2048, seed = 7): string[] {
  const random = prng(seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]
  const messages: string[] = []
  for (let i = 0; i < count; i++) {
    const target = minBytes + Math.floor(random() * (maxBytes - minBytes))
    const event = {
      type: 'message',
      id: `msg_${(1e9 + i * 7919).toString(36)}`,
      room: pick(ROOMS),
      author: { id: 1000 + Math.floor(random() * 9000), name: pick(NAMES) },
      ts: 1764800000000 + i * 1337,
      text: '',
      mentions: random() < 0.3 ? [pick(NAMES)] : [],
    }
    let json = JSON.stringify(event)
    let text = ''
    while (json.length < target) {
      text += (text === '' ? '' : ' ') + pick(WORDS)
      event.text = text
      json = JSON.stringify(event)
    }
    messages.push(json)
  }
  return messages
}

// The case groups the tests and the runner report on, with Autobahn's names for them.
export const groups: ReadonlyArray<readonly [string, string]> = [
  ['1', 'framing'],
  ['2', 'pings/pongs'],
  ['3', 'reserved bits'],
  ['4', 'opcodes'],
  ['5', 'fragmentation'],
  ['6', 'UTF-8 handling'],
  ['7', 'close handling'],
  ['9', 'limits/performance'],
  ['10', 'auto-fragmentation'],
  ['12', 'permessage-deflate: payloads'],
  ['13', 'permessage-deflate: parameters'],
]

/** Cases Autobahn grades INFORMATIONAL whatever happens (behaviour the spec leaves open). */
export const informationalCases = new Set(['7.1.6', '7.13.1', '7.13.2'])

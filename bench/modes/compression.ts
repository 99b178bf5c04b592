import { compressionBench } from '../compression'
import type { Mode } from '../run/modes'
import { options } from '../run/options'

// permessage-deflate: its own module with its own servers (bench/compression.ts); this mode
// runs it and puts its markdown section in the report.

let section: string[] = []

export const compressionMode: Mode = {
  name: 'compression',
  title: 'permessage-deflate',
  run: async () => {
    section = [await compressionBench({ quick: options.quick, pin: options.pin }), '']
  },
  section: () => section,
}

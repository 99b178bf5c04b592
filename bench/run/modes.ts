import { compressionMode } from '../modes/compression'
import { idleMode } from '../modes/idle'
import { largeMode } from '../modes/large'
import { latencyMode } from '../modes/latency'
import { throughputMode } from '../modes/throughput'
import { windowMode } from '../modes/window'
import type { ModeName } from './options'
import type { ServerSpec } from './servers'

/** One measurement mode of the runner: what it runs and the section it adds to the report. */
export interface Mode {
  name: ModeName
  /** What the runner's progress log calls it. */
  title: string
  /** Runs the mode on these servers, recording every outcome in bench/run/samples. */
  run: (specs: ServerSpec[]) => Promise<void>
  /** The mode's section of the report, from what was recorded. */
  section: (specs: ServerSpec[]) => string[]
  /** It also measures the references that do not echo (`idleOnly` servers). */
  withIdleReferences?: true
}

/** Every mode, in the order a run does them; adding a mode is one line here and one in MODE_NAMES. */
export const MODES: readonly Mode[] = [throughputMode, windowMode, latencyMode, largeMode, idleMode, compressionMode]

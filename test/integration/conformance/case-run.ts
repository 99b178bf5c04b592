// A case as it runs on one connection, and how it is graded. The grading follows Autobahn|
// Testsuite's: the observed events (echoed messages, pongs, timeouts) must equal one of the
// expected lists (OK or NON-STRICT), and the close is judged apart (who closed first, whether the
// closing handshake was clean, the peer's close code, who dropped TCP).
import type { CaseDeflate } from './deflate'
import type { FuzzingPeer, PeerHandler } from './fuzzing-peer'

export type Observed =
  | readonly ['message', Buffer, boolean]
  | readonly ['pong', Buffer]
  | readonly ['timeout', string]

export type Behavior = 'OK' | 'NON-STRICT' | 'FAILED' | 'INFORMATIONAL'
export type CloseBehavior = 'OK' | 'FAILED' | 'UNCLEAN' | 'WRONG CODE' | 'FAILED BY CLIENT' | 'INFORMATIONAL'
/** Our one-word verdict: the stricter of the two Autobahn columns (see `verdict`). */
export type Verdict = 'OK' | 'NON-STRICT' | 'FAILED' | 'INFORMATIONAL'

export interface ExpectedClose {
  /** Whether the fuzzer must be the one that sent the first close frame. */
  closedByMe: boolean
  /** Close codes the peer may send (no code at all is always accepted, as in Autobahn). */
  closeCode: number[]
  /** The closing handshake must complete and the server must close TCP. */
  requireClean: boolean
  /** UTF-8 cases: a connection closed by the wrong side fails the case itself. */
  closedByWrongEndpointIsFatal?: boolean
}

export interface CaseDefinition {
  /** "1.1.1" ... */
  id: string
  description: string
  expectation: string
  /** Part of the full run only (`npm run conformance`), not of `npm test`'s representative subset. */
  fullOnly?: boolean
  /** permessage-deflate to negotiate (groups 12 and 13); the connection fails the case without it. */
  deflate?: CaseDeflate
  /** Like Autobahn's onOpen: set expectations, send, arm timers. */
  onOpen(run: CaseRun): void
  /** Replaces the default "record the message" (the 9.x cases check sizes and contents). */
  onMessage?(run: CaseRun, payload: Buffer, binary: boolean): void
  /** Adjusts the grade after the common grading (7.x wrong code → FAILED, informational cases ...). */
  onConnectionLost?(run: CaseRun): void
}

export class CaseRun implements PeerHandler {
  /** Expected event lists by grade, tried in insertion order. */
  readonly expected = new Map<'OK' | 'NON-STRICT', Observed[]>()
  expectedClose: ExpectedClose = { closedByMe: true, closeCode: [1000], requireClean: true }
  readonly received: Observed[] = []
  behavior: Behavior = 'FAILED'
  behaviorClose: CloseBehavior = 'FAILED'
  result = 'Actual events differ from any expected.'
  resultClose = 'TCP connection was dropped without close handshake'
  /** The case closes by itself (or not at all): matching the expectation does not start a close. */
  suppressClose = false
  /** Scratch space for a case's own state (counters, the payload it sent ...). */
  readonly vars: Record<string, any> = {}
  p!: FuzzingPeer

  constructor(readonly definition: CaseDefinition) {}

  attach(peer: FuzzingPeer): void {
    this.p = peer
  }

  onOpen(): void {
    this.definition.onOpen(this)
  }

  onMessage(payload: Buffer, binary: boolean): void {
    if (this.definition.onMessage) {
      this.definition.onMessage(this, payload, binary)
      return
    }
    this.received.push(['message', payload, binary])
    this.finishWhenDone()
  }

  onPong(payload: Buffer): void {
    this.received.push(['pong', payload])
    this.finishWhenDone()
  }

  /** Once what was received matches every expected list, the fuzzer starts the close itself. */
  finishWhenDone(): void {
    for (const list of this.expected.values()) {
      if (!sameEvents(this.received, list)) return
    }
    if (this.expectedClose.closedByMe && !this.suppressClose) this.p.sendClose(this.expectedClose.closeCode[0])
  }

  onConnectionLost(): void {
    for (const [grade, list] of this.expected) {
      if (sameEvents(this.received, list)) {
        this.behavior = grade
        this.result = 'Actual events match at least one expected.'
        break
      }
    }
    const p = this.p
    const expected = this.expectedClose
    if (expected.closedByMe !== p.closedByMe) {
      this.behaviorClose = 'FAILED'
      this.resultClose = 'The connection was failed by the wrong endpoint'
    } else if (expected.requireClean && !p.wasClean) {
      this.behaviorClose = 'UNCLEAN'
      this.resultClose = `The spec requires the connection to be failed cleanly here (${p.wasNotCleanReason ?? 'unclean'})`
    } else if (p.remoteCloseCode !== null && !expected.closeCode.includes(p.remoteCloseCode)) {
      this.behaviorClose = 'WRONG CODE'
      this.resultClose = `The close code should have been ${expected.closeCode.join(',')} or empty`
    } else if (p.role === 'client' && p.droppedByMe) {
      this.behaviorClose = 'FAILED BY CLIENT'
      this.resultClose = 'It is preferred that the server close the TCP connection'
    } else {
      this.behaviorClose = 'OK'
      this.resultClose = 'Connection was properly closed'
    }
    if (expected.closedByWrongEndpointIsFatal && expected.closedByMe !== p.closedByMe) this.behavior = 'FAILED'
    this.definition.onConnectionLost?.(this)
  }

  /** 7.x: a wrong close code fails the case, not only its close column. */
  failOnWrongCode(): void {
    if (this.behaviorClose === 'WRONG CODE') {
      this.behavior = 'FAILED'
      this.result = this.resultClose
    }
  }

  informational(result: string): void {
    this.behavior = 'INFORMATIONAL'
    this.behaviorClose = 'INFORMATIONAL'
    this.result = result
  }
}

export function sameEvents(a: readonly Observed[], b: readonly Observed[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x[0] !== y[0]) return false
    if (x[0] === 'timeout') {
      if (x[1] !== y[1]) return false
    } else {
      if (!(x[1] as Buffer).equals(y[1] as Buffer)) return false
      if (x[0] === 'message' && x[2] !== y[2]) return false
    }
  }
  return true
}

export interface CaseResult {
  id: string
  /** What was tested: our server (graded by the fuzzing client) or our client. */
  side: 'server' | 'client'
  verdict: Verdict
  behavior: Behavior
  behaviorClose: CloseBehavior
  /** One line: why, with expected vs observed when they differ. */
  detail: string
  expected: string
  observed: string
  result: string
  resultClose: string
  closedByMe: boolean
  failedByMe: boolean
  droppedByMe: boolean
  wasClean: boolean
  localCloseCode: number | null
  remoteCloseCode: number | null
  /** Who closed the TCP connection. */
  tcpClosedBy: 'fuzzer' | 'peer'
  durationMs: number
  /** Findings stricter than Autobahn's grading (they do not change the verdict; tests assert on them). */
  strictNotes: string[]
  notes: string[]
}

/**
 * Autobahn's report shows the behaviour (Pass / Non-Strict / Fail / Info) and the close
 * behaviour in a second column. Our verdict folds both: a case whose close column is red
 * (failed by the wrong endpoint, unclean, wrong code) is FAILED, "failed by client" (the fuzzer
 * had to close TCP for the server) is NON-STRICT.
 */
export function verdict(behavior: Behavior, behaviorClose: CloseBehavior): Verdict {
  if (behavior === 'INFORMATIONAL') return 'INFORMATIONAL'
  if (behavior === 'FAILED') return 'FAILED'
  if (behaviorClose === 'FAILED' || behaviorClose === 'UNCLEAN' || behaviorClose === 'WRONG CODE') return 'FAILED'
  if (behaviorClose === 'FAILED BY CLIENT') return 'NON-STRICT'
  return behavior
}

export function summarize(run: CaseRun, side: 'server' | 'client'): CaseResult {
  const p = run.p
  const v = verdict(run.behavior, run.behaviorClose)
  const expected = [...run.expected].map(([grade, list]) => `${grade}: ${formatEvents(list)}`).join(' | ') || '(judged by the case)'
  const observed = formatEvents(run.received)
  const close = `closedByMe=${p.closedByMe} wasClean=${p.wasClean} remoteCode=${p.remoteCloseCode ?? '-'} tcpClosedBy=${p.droppedByMe ? 'fuzzer' : 'peer'}`
  const strictNotes: string[] = []
  if (!run.expectedClose.closedByMe && !run.p.closeFrameReceived && v !== 'INFORMATIONAL') {
    strictNotes.push('the peer failed the connection without sending a close frame')
  } else if (!run.expectedClose.closedByMe && run.p.closeFrameReceived && p.remoteCloseCode === null) {
    strictNotes.push('the peer failed the connection without a close status code')
  }
  let detail: string
  if (v === 'OK') {
    detail = `${run.result} ${close}`
  } else if (v === 'INFORMATIONAL') {
    detail = `${run.result} observed ${observed}; ${close}`
  } else {
    detail = `${run.behavior}: ${run.result} expected ${expected} observed ${observed}; close ${run.behaviorClose}: ${run.resultClose}; ${close}`
  }
  if (p.notes.length !== 0) detail += `; notes: ${p.notes.join('; ')}`
  return {
    id: run.definition.id,
    side,
    verdict: v,
    behavior: run.behavior,
    behaviorClose: run.behaviorClose,
    detail,
    expected,
    observed,
    result: run.result,
    resultClose: run.resultClose,
    closedByMe: p.closedByMe,
    failedByMe: p.failedByMe,
    droppedByMe: p.droppedByMe,
    wasClean: p.wasClean,
    localCloseCode: p.localCloseCode,
    remoteCloseCode: p.remoteCloseCode,
    tcpClosedBy: p.droppedByMe ? 'fuzzer' : 'peer',
    durationMs: p.endedAt - p.startedAt,
    strictNotes,
    notes: [...p.notes],
  }
}

/** A result for a case that never got an open connection. */
export function notOpened(definition: CaseDefinition, side: 'server' | 'client', reason: string): CaseResult {
  return {
    id: definition.id,
    side,
    verdict: 'FAILED',
    behavior: 'FAILED',
    behaviorClose: 'FAILED',
    detail: `The WebSocket opening handshake was never completed: ${reason}`,
    expected: '',
    observed: '',
    result: reason,
    resultClose: 'The WebSocket opening handshake was never completed!',
    closedByMe: false,
    failedByMe: false,
    droppedByMe: false,
    wasClean: false,
    localCloseCode: null,
    remoteCloseCode: null,
    tcpClosedBy: 'peer',
    durationMs: 0,
    strictNotes: [],
    notes: [],
  }
}

export function formatEvents(events: readonly Observed[]): string {
  if (events.length === 0) return '[]'
  const shown = events.slice(0, 6).map(formatEvent)
  if (events.length > 6) shown.push(`… ${events.length - 6} more`)
  return `[${shown.join(', ')}]`
}

function formatEvent(event: Observed): string {
  if (event[0] === 'timeout') return `timeout ${event[1]}`
  const bytes = event[1]
  if (event[0] === 'pong') return `pong(${formatBytes(bytes, false)})`
  return `${event[2] ? 'binary' : 'text'}(${formatBytes(bytes, !event[2])})`
}

function formatBytes(bytes: Buffer, text: boolean): string {
  if (bytes.length === 0) return '0 B'
  const head = bytes.subarray(0, 24)
  const printable = text && /^[\x20-\x7e]*$/.test(head.toString('latin1'))
  const shown = printable ? JSON.stringify(head.toString('latin1')) : head.toString('hex')
  return `${bytes.length} B ${shown}${bytes.length > head.length ? '…' : ''}`
}

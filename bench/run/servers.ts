import { join } from 'node:path'
import type { Protocol } from '../load-generator'
import { metricsOffServers } from '../metrics-cost'
import { cli, DIST, MiB, options } from './options'

// Every server the bench can measure, and the ones the targets are stated against.

export interface ServerSpec {
  id: string
  label: string
  protocol: Protocol
  script: string
  args: string[]
  env: Record<string, string | undefined>
  /** Largest message this server is given in the large-message mode, with the reason. */
  maxLarge?: { bytes: number; why: string }
  /** A reference that is measured in the idle mode only (it does not echo). */
  idleOnly?: true
}

const NO_NATIVE = { WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' }
const WITH_NATIVE = { WS_NO_BUFFER_UTIL: undefined, WS_NO_UTF_8_VALIDATE: undefined }

export const SERVERS: ServerSpec[] = [
  {
    id: 'raw-batched',
    label: 'raw TCP echo, writes batched per read (ceiling)',
    protocol: 'raw',
    script: join(DIST, 'bench/servers/raw-echo.js'),
    args: ['--mode', 'batched'],
    env: {},
  },
  {
    id: 'raw-per-message',
    label: 'raw TCP echo, one write per message',
    protocol: 'raw',
    script: join(DIST, 'bench/servers/raw-echo.js'),
    args: ['--mode', 'per-message'],
    env: {},
  },
  { id: 'ws', label: '`ws` without native addons', protocol: 'ws', script: join(DIST, 'bench/servers/ws-echo.js'), args: [], env: NO_NATIVE },
  {
    id: 'ws-bufferutil',
    label: '`ws` with `bufferutil`',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/ws-echo.js'),
    args: [],
    env: WITH_NATIVE,
  },
  {
    id: 'nodejs-websocket',
    label: '`nodejs-websocket`',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/nodejs-websocket-echo.js'),
    args: [],
    env: {},
    maxLarge: options.quick
      ? { bytes: 1 * MiB, why: 'capped at 1 MiB in --quick (its receive buffer is re-concatenated on every read: quadratic)' }
      : { bytes: 16 * MiB, why: 'capped at 16 MiB (quadratic receive path: ~10 s at 16 MiB, minutes at 64 MiB)' },
  },
  {
    id: 'gatewire',
    label: 'gatewire core (`npm run echo`)',
    protocol: 'ws',
    script: join(DIST, 'test/fixtures/echo-server.js'),
    args: [],
    env: {},
  },
  {
    id: 'gatewire-framework',
    label: 'gatewire framework (`npm run echo:framework`)',
    protocol: 'ws',
    script: join(DIST, 'test/fixtures/echo-framework.js'),
    args: [],
    env: {},
  },
  {
    // uWebSockets.js is published on GitHub only; uws-pack (in bench/package.json) repackages its
    // official v20 binaries on npm. Reported as not available when no binary fits this Node.
    id: 'uws',
    label: 'uWebSockets.js (C++; official v20 binary via `uws-pack`)',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/uws-echo.js'),
    args: [],
    env: {},
  },
  {
    // What a connection costs a Node server that takes its upgrades from http.Server before any
    // WebSocket code runs: the floor under ws and gatewire in the idle mode.
    id: 'http-upgrade',
    label: 'Node `http.Server` upgrade only, no WebSocket (idle reference)',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/upgrade-only.js'),
    args: [],
    env: {},
    idleOnly: true,
  },
  {
    // The same handshake answered from a net.Server, without Node's HTTP parser: the least any
    // Node WebSocket server pays per connection, whatever it does after the handshake.
    id: 'net-upgrade',
    label: 'Node `net.Server` handshake only, no WebSocket (idle reference)',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/net-upgrade-only.js'),
    args: [],
    env: {},
    idleOnly: true,
  },
]

if (cli['metrics-cost'] === true) SERVERS.push(...metricsOffServers(DIST))

// A/B against an earlier build: GATEWIRE_BASELINE_DIST=<a checkout's dist> adds its core echo as
// 'gatewire-baseline' (e.g. `git worktree add /tmp/old <commit> && (cd /tmp/old && npm ci && npm run build)`).
const baseline = process.env.GATEWIRE_BASELINE_DIST
if (baseline !== undefined && baseline !== '') {
  SERVERS.push({
    id: 'gatewire-baseline',
    label: `gatewire core, baseline build (${baseline})`,
    protocol: 'ws',
    script: join(baseline, 'test/fixtures/echo-server.js'),
    args: [],
    env: {},
  })
}

/** Servers that cannot run here, with the reason; they appear in the report as such. */
export const UNAVAILABLE: { label: string; why: string }[] = []

export const ceilingId = 'raw-batched'
export const wsId = 'ws'
export const uwsId = 'uws'
export const coreId = 'gatewire'
export const frameworkId = 'gatewire-framework'

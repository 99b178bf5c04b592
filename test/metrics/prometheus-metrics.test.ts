import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { Gateway, Module, OnText, type MetricsSnapshot } from '../../src'
import { prometheusMetrics } from '../../src/prometheus'
import { createTestApp, type TestApp } from '../../src/testing'
import { closePeers, connectPeer } from '../integration/framework/ws-peer'

interface Family {
  type: string
  help: string
  samples: { labels: Record<string, string>; value: number }[]
}

/**
 * The Prometheus text exposition format (0.0.4), as far as prom-client writes it: `# HELP`,
 * `# TYPE`, then `name{label="value",...} number` lines. Fails on any other line.
 */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const family = (name: string): Family => {
    let f = families.get(name)
    if (f === undefined) families.set(name, (f = { type: '', help: '', samples: [] }))
    return f
  }
  for (const line of text.split('\n')) {
    if (line === '') continue
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (m !== null) {
      family(m[1]).help = m[2]
      continue
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (m !== null) {
      family(m[1]).type = m[2]
      continue
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/.exec(line)
    if (m === null) throw new Error(`not a line of the Prometheus text format: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    for (const pair of (m[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
      const eq = pair.indexOf('=')
      labels[pair.slice(0, eq)] = JSON.parse(pair.slice(eq + 1)) as string
    }
    family(m[1]).samples.push({ labels, value: Number(m[3]) })
  }
  return families
}

@Gateway('/echo', { protocols: ['echo.v1'], maxMessageSize: 100 })
class Echo {
  @OnText() echo(text: string): string {
    return text
  }
}

@Module({ gateways: [Echo] })
class AppModule {}

/** The labels a sample may carry: all bounded by the app's code, never by its traffic. */
const BOUNDED_LABELS = new Set(['gateway', 'protocol', 'kind', 'status', 'code', 'state'])

describe('gatewire/prometheus', () => {
  let t: TestApp | undefined
  const children: ChildProcess[] = []
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill()
    closePeers()
    await t?.close()
    t = undefined
  })

  async function scrape(): Promise<Map<string, Family>> {
    const registry = new Registry()
    prometheusMetrics(t!.app, { registry })
    return parsePrometheus(await registry.metrics())
  }

  const value = (families: Map<string, Family>, name: string, labels: Record<string, string>): number | undefined =>
    families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

  it('exports what happened on real sockets as Prometheus text, named by the conventions', async () => {
    t = await createTestApp(AppModule, { logger: false })
    const peer = await connectPeer(`${t.url}/echo`, { protocols: ['echo.v1'] })
    peer.send('hello')
    expect(await peer.next()).to.equal('hello')
    await t.expectRejected('/nowhere', 404)
    const big = await connectPeer(`${t.url}/echo`)
    big.send('x'.repeat(101))
    expect((await big.closed).code).to.equal(1009)

    const families = await scrape()
    expect(value(families, 'gatewire_handshakes_total', { status: '101' })).to.equal(2)
    expect(value(families, 'gatewire_handshakes_total', { status: '404' })).to.equal(1)
    expect(value(families, 'gatewire_connections_open', { gateway: 'Echo', protocol: 'echo.v1' })).to.equal(1)
    expect(value(families, 'gatewire_messages_received_total', { gateway: 'Echo', kind: 'text' })).to.equal(1)
    expect(value(families, 'gatewire_messages_sent_total', { gateway: 'Echo', kind: 'text' })).to.equal(1)
    expect(value(families, 'gatewire_received_bytes_total', { gateway: 'Echo', kind: 'text' })).to.equal(5)
    expect(value(families, 'gatewire_sent_bytes_total', { gateway: 'Echo', kind: 'binary' })).to.equal(0)
    expect(value(families, 'gatewire_protocol_errors_total', { gateway: 'Echo', code: '1009' })).to.equal(1)
    expect(value(families, 'gatewire_close_frames_sent_total', { gateway: 'Echo', code: '1009' })).to.equal(1)
    expect(value(families, 'gatewire_ready', {})).to.equal(1)

    for (const [name, family] of families) {
      expect(name, 'prefix').to.match(/^gatewire_/)
      expect(family.help, `${name} has help`).to.not.equal('')
      if (family.type === 'counter') expect(name, 'a counter ends in _total').to.match(/_total$/)
      else expect(name, `${name} is a ${family.type}, not named like a counter`).to.not.match(/_total$/)
      if (/bytes/.test(name)) expect(name, 'bytes are the unit, before _total').to.match(/_bytes_total$/)
      for (const sample of family.samples) {
        for (const label of Object.keys(sample.labels)) expect(BOUNDED_LABELS, `${name} label ${label}`).to.include(label)
      }
    }
    // No broker configured: no broker metrics.
    expect([...families.keys()].filter((n) => n.startsWith('gatewire_broker_'))).to.deep.equal([])
  })

  it('reads the counters again on every scrape', async () => {
    t = await createTestApp(AppModule, { logger: false })
    const registry = new Registry()
    prometheusMetrics(t.app, { registry })
    const peer = await connectPeer(`${t.url}/echo`)
    peer.send('a')
    await peer.next()
    const first = parsePrometheus(await registry.metrics())
    peer.send('b')
    await peer.next()
    const second = parsePrometheus(await registry.metrics())
    expect(value(first, 'gatewire_messages_received_total', { kind: 'text' })).to.equal(1)
    expect(value(second, 'gatewire_messages_received_total', { kind: 'text' })).to.equal(2)
  })

  it("exports the broker's state and stats when the app has a broker", async () => {
    const snapshot: MetricsSnapshot = {
      handshakes: {},
      gateways: [],
      broker: { state: 'reconnecting', published: 10, received: 4, notDelivered: 3, reconnects: 2, topics: 5 },
    }
    const registry = new Registry()
    prometheusMetrics({ metrics: () => snapshot }, { registry })
    const families = parsePrometheus(await registry.metrics())
    expect(value(families, 'gatewire_broker_state', { state: 'reconnecting' })).to.equal(1)
    expect(value(families, 'gatewire_broker_state', { state: 'ready' })).to.equal(0)
    expect(value(families, 'gatewire_broker_not_delivered_total', {})).to.equal(3)
    expect(value(families, 'gatewire_broker_reconnects_total', {})).to.equal(2)
    expect(value(families, 'gatewire_broker_published_total', {})).to.equal(10)
    expect(value(families, 'gatewire_broker_topics', {})).to.equal(5)
    expect(families.get('gatewire_broker_reconnects_total')!.type).to.equal('counter')
  })

  it("is not loaded by import 'gatewire', nor is class-validator-jsonschema", async () => {
    const root = join(__dirname, '..', '..')
    const script =
      "require('./src'); const loaded = Object.keys(require.cache);" +
      "console.log(JSON.stringify(['prom-client', 'class-validator-jsonschema', '@asyncapi'].filter((p) => loaded.some((f) => f.includes('/node_modules/' + p + '/')))))"
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root })
    children.push(child)
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    let err = ''
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    expect(code, err).to.equal(0)
    expect(JSON.parse(out)).to.deep.equal([])
  })
})

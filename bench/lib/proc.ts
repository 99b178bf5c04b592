import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let cachedClockTicks: number | undefined

/** Clock ticks per second used by /proc/<pid>/stat (`getconf CLK_TCK`, almost always 100). */
export function clockTicks(): number {
  if (cachedClockTicks === undefined) {
    let ticks = 100
    try {
      const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()
      const parsed = Number(out)
      if (Number.isInteger(parsed) && parsed > 0) ticks = parsed
    } catch {
      // getconf missing: Linux has used 100 on every mainstream architecture for decades.
    }
    cachedClockTicks = ticks
  }
  return cachedClockTicks
}

/** The fields of /proc/<pid>/stat after the command name; index `n - 3` is field n of proc(5). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number, ticksPerSecond = clockTicks()): number {
  const fields = statFields(pid)
  // utime is field 14, stime field 15.
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / ticksPerSecond
}

/** Minor page faults a process has taken so far (field 10 of /proc/<pid>/stat); NaN when unreadable. */
export function processMinorFaults(pid: number): number {
  try {
    return Number(statFields(pid)[10 - 3])
  } catch {
    return Number.NaN
  }
}

/** A `VmRSS`/`VmHWM`-style field of /proc/<pid>/status, in KiB; undefined when unreadable. */
export function processStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

/** Own CPU seconds (user + system) since process start. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** Busy clock ticks per CPU (`cpu0`, `cpu1`, ...) and in all (`cpu`) from /proc/stat. */
export function cpuBusyTicks(): Map<string, number> {
  const busy = new Map<string, number>()
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    if (!line.startsWith('cpu')) continue
    const [name, ...fields] = line.trim().split(/\s+/)
    const n = fields.map(Number)
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    busy.set(name, n[0] + n[1] + n[2] + n[5] + n[6] + (n[7] ?? 0))
  }
  return busy
}

/** Read/write syscall counts and bytes of a process so far, from /proc/<pid>/io; undefined when unreadable. */
export interface ProcessIo {
  reads: number
  writes: number
  readBytes: number
  writtenBytes: number
}
export function processIo(pid: number): ProcessIo | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8')
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN)
    return { reads: field('syscr'), writes: field('syscw'), readBytes: field('rchar'), writtenBytes: field('wchar') }
  } catch {
    return undefined
  }
}

/** TCP counters of this network namespace (all sockets, loopback included), as `nstat` shows them. */
export interface TcpCounters {
  /** TcpExt TCPToZeroWindowAdv: times a receiver advertised a zero window (its buffer was full). */
  zeroWindowAdvertised: number
  /** Tcp RetransSegs: segments sent again (on loopback: tail-loss probes fired while a peer stalled). */
  retransmittedSegments: number
}
export function tcpCounters(): TcpCounters | undefined {
  const field = (file: string, table: string, name: string): number => {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${table}:`))
    if (lines.length < 2) return Number.NaN
    const index = lines[0].split(/\s+/).indexOf(name)
    return index < 1 ? Number.NaN : Number(lines[1].split(/\s+/)[index])
  }
  try {
    const counters = {
      zeroWindowAdvertised: field('/proc/net/netstat', 'TcpExt', 'TCPToZeroWindowAdv'),
      retransmittedSegments: field('/proc/net/snmp', 'Tcp', 'RetransSegs'),
    }
    return Number.isFinite(counters.zeroWindowAdvertised) && Number.isFinite(counters.retransmittedSegments) ? counters : undefined
  } catch {
    return undefined
  }
}

/**
 * glibc malloc setting for every process whose CPU is measured (throughput and latency servers,
 * codec micro-benchmarks; the same for all): keep up to 256 MiB free at the top of the heap
 * instead of returning it to the kernel. Node allocates a buffer per socket read (64 KiB, plus
 * one of the bytes read), i.e. ~1 GB/s at 1 KiB ×50, freed in bursts by the GC; with glibc's
 * default (dynamic) trim threshold the heap top was, depending on what the process had run
 * before, given back and faulted in again on every read: raw-batched at 1 KiB fell from ~1.4M
 * to ~250k msgs/CPU-s with 0.2 minor faults per message (after the 16 B run) against 0.002. The
 * parse micro-benchmark at 64 KiB (a fresh 64 KiB buffer per message) swung between 8 and
 * 200 µs per frame the same way. Setting the threshold also fixes glibc's mmap threshold at
 * 128 KiB. The large-message and idle runs, which measure memory, keep the default.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = {
  GLIBC_TUNABLES: [process.env.GLIBC_TUNABLES, `glibc.malloc.trim_threshold=${256 * 1024 * 1024}`]
    .filter((t) => t !== undefined && t !== '')
    .join(':'),
}

/** The soft limit on open files of a process (`Max open files` in /proc/<pid>/limits); undefined when unreadable or unlimited. */
export function openFileLimit(pid: number | 'self' = 'self'): number | undefined {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8')
    const match = /^Max open files\s+(\d+)/m.exec(limits)
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

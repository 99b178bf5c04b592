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

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number, ticksPerSecond = clockTicks()): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields after the name start at field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  return (utime + stime) / ticksPerSecond
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

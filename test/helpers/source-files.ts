// Source scanning for the layering tests: the .ts files under a folder, and what each imports.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** Every .ts file under `dir`, recursively. */
export function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** The module specifiers a file imports or re-exports (static imports, side-effect imports, require()). */
export function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\s+'([^']+)'|require\('([^']+)'\)/g)].map((m) => m[1] ?? m[2] ?? m[3])
}

// Relative links between the docs must lead somewhere: sections move between README.md and
// docs/*.md, and a link to a heading that moved breaks silently on GitHub.
import { expect } from 'chai'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'

const ROOT = join(__dirname, '..', '..')
const FILES = ['README.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).filter((n) => n.endsWith('.md')).map((n) => `docs/${n}`)]

/** The text outside fenced code blocks, where headings and links are markdown. */
function prose(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8').replace(/^(```|~~~)[^]*?^\1/gm, '')
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-')
}

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const [, heading] of prose(file).matchAll(/^#{1,6} (.*)$/gm)) {
    const base = slug(heading)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    result.add(n === 0 ? base : `${base}-${n}`)
  }
  return result
}

describe('links in README.md, bench/README.md and docs/*.md', () => {
  for (const file of FILES) {
    it(`${file}: every relative link names a file that exists, and a heading in it`, () => {
      const broken: string[] = []
      for (const [, target] of prose(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue
        const [path, anchor] = target.split('#')
        const resolved = path === '' ? file : relative(ROOT, normalize(join(ROOT, dirname(file), path)))
        if (!existsSync(join(ROOT, resolved))) broken.push(`${target}: no file ${resolved}`)
        else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${resolved}`)
      }
      expect(broken, broken.join('\n')).to.deep.equal([])
    })
  }
})

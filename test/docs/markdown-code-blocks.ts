// Reads the fenced TypeScript blocks of a markdown file and the markers that say what to do with them.

/** A ```ts block of a markdown file. */
export interface CodeBlock {
  /** The markdown file's line (1-based) of the block's first code line. */
  readonly line: number
  /** The code, without the fences. */
  readonly code: string
  /** The name given by `<!-- file: name.ts -->` on the line before the fence. */
  readonly file: string | undefined
  /** The reason given by `<!-- not-compiled: reason -->` on the line before the fence. */
  readonly notCompiled: string | undefined
}

const FENCE = /^(\s*)(```+|~~~+)\s*([\w-]*)/
const TYPESCRIPT = new Set(['ts', 'typescript', 'tsx'])
const FILE_MARKER = /^<!--\s*file:\s*([\w.-]+\.ts)\s*-->$/
const NOT_COMPILED_MARKER = /^<!--\s*not-compiled:\s*(\S[^]*?)\s*-->$/

/**
 * Every fenced TypeScript block (info string `ts`, `typescript` or `tsx`) of `markdown`. A marker
 * counts only on the non-blank line right before the opening fence; an HTML comment there that
 * starts like a marker but does not parse is an error, so a typo cannot silently skip a block.
 */
export function markdownCodeBlocks(markdown: string, name: string): CodeBlock[] {
  const lines = markdown.split('\n')
  const blocks: CodeBlock[] = []
  let previous = ''
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i])
    if (open === null) {
      if (lines[i].trim() !== '') previous = lines[i].trim()
      continue
    }
    const [, indent, fence, info] = open
    const start = i + 1
    let end = start
    while (end < lines.length && !lines[end].startsWith(indent + fence[0].repeat(fence.length))) end++
    if (end === lines.length) throw new Error(`${name}:${i + 1}: a code block is never closed`)
    if (TYPESCRIPT.has(info.toLowerCase())) {
      blocks.push({
        line: start + 1,
        code: lines.slice(start, end).map((l) => l.slice(Math.min(indent.length, l.length - l.trimStart().length))).join('\n') + '\n',
        ...marker(previous, `${name}:${i + 1}`),
      })
    }
    previous = ''
    i = end
  }
  return blocks
}

function marker(line: string, where: string): { file: string | undefined; notCompiled: string | undefined } {
  if (!/^<!--\s*(file|not-compiled)\b/.test(line)) return { file: undefined, notCompiled: undefined }
  const file = FILE_MARKER.exec(line)
  if (file !== null) return { file: file[1], notCompiled: undefined }
  const skip = NOT_COMPILED_MARKER.exec(line)
  if (skip !== null) return { file: undefined, notCompiled: skip[1] }
  throw new Error(`${where}: malformed marker ${line} (write <!-- file: name.ts --> or <!-- not-compiled: reason -->)`)
}

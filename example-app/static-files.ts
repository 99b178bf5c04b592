import { readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join } from 'node:path'

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/**
 * Serves the files of one folder (not its subfolders) by name; `/` is `index.html`. Only names
 * listed when it was created can be asked for, so no request path reaches the file system.
 * Files are read on each request, so editing the page needs no restart.
 */
export class StaticFiles {
  private readonly files: ReadonlyMap<string, string>

  constructor(private readonly root: string) {
    this.files = new Map(
      readdirSync(root, { withFileTypes: true })
        .filter((entry) => entry.isFile() && extname(entry.name) in CONTENT_TYPES)
        .map((entry) => [`/${entry.name}`, CONTENT_TYPES[extname(entry.name)]]),
    )
  }

  /** Answers `req` when it names one of the files and returns true; false otherwise. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname
    const name = pathname === '/' ? '/index.html' : pathname
    const type = this.files.get(name)
    if (type === undefined) return false
    readFile(join(this.root, name)).then(
      (body) => {
        res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-cache' })
        res.end(req.method === 'HEAD' ? undefined : body)
      },
      () => {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n')
      },
    )
    return true
  }
}

import { expect } from 'chai'
import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import { HandshakeError, runMiddleware, type ConnectMiddleware } from '../../../src'

function request(): IncomingMessage & { seen?: string[] } {
  return new IncomingMessage(new Socket())
}

async function refusal(middleware: ConnectMiddleware[]): Promise<unknown> {
  return runMiddleware(request(), middleware).then(
    () => expect.fail('the middleware let the request through'),
    (err: unknown) => err,
  )
}

describe('framework/hosts/runMiddleware', () => {
  it('runs the middleware in order and resolves after the last next()', async () => {
    const req = request()
    const step = (name: string): ConnectMiddleware<typeof req> => (r, _res, next) => {
      ;(r.seen ??= []).push(name)
      setImmediate(next)
    }
    await runMiddleware(req, [step('a'), step('b')])
    expect(req.seen).to.deep.equal(['a', 'b'])
  })

  it('refuses with what writeHead() and end() were given: status, headers, body', async () => {
    const error = await refusal([(_req, res) => res.writeHead(429, { 'Retry-After': '9', 'Content-Type': 'text/html' }).end('busy')])
    expect(error).to.be.instanceOf(HandshakeError)
    expect((error as HandshakeError).status).to.equal(429)
    // Content-Type is the refusal's own (plain text); the middleware's other headers stay.
    expect((error as HandshakeError).headers).to.deep.equal({ 'Retry-After': '9' })
    expect((error as HandshakeError).message).to.equal('busy')
  })

  it('keeps at most 4 KiB of what a refusing middleware writes', async () => {
    const error = await refusal([(_req, res) => {
      res.statusCode = 400
      res.write('x'.repeat(3000))
      res.end('y'.repeat(3000))
    }])
    expect((error as HandshakeError).message).to.have.lengthOf(4096)
  })

  it('refuses with the status of next(err), hiding a 5xx message unless the error exposes it', async () => {
    const status = (code: number, expose?: boolean): ConnectMiddleware => (_req, _res, next) => next(Object.assign(new Error(`failed ${code}`), { status: code, expose }))
    expect(((await refusal([status(403)])) as HandshakeError).message).to.equal('failed 403')
    expect(((await refusal([status(503)])) as HandshakeError).status).to.equal(503)
    expect(((await refusal([status(503)])) as HandshakeError).message).to.not.contain('failed 503')
    expect(((await refusal([status(503, true)])) as HandshakeError).message).to.equal('failed 503')
  })

  it('rejects with the error itself when it has no HTTP status (thrown, passed to next or rejected)', async () => {
    const boom = new Error('boom')
    expect(await refusal([() => { throw boom }])).to.equal(boom)
    expect(await refusal([(_req, _res, next) => next(boom)])).to.equal(boom)
    expect(await refusal([async () => { throw boom }])).to.equal(boom)
  })

  it("treats next('route') as next()", async () => {
    await runMiddleware(request(), [(_req, _res, next) => next('route')])
  })
})

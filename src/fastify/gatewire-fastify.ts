import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import type { Application, GuardContext, GuardFunction } from '../framework'

/** Options of the `gatewire/fastify` plugin. */
export interface GatewireFastifyOptions {
  /** The bootstrapped (not yet started) app; the plugin attaches it to `fastify.server`. */
  app: Application
  /**
   * Route upgrades to the app's paths through Fastify's router first, so its hooks (onRequest …
   * preHandler: @fastify/cookie, @fastify/session, your auth) run before the gateways' guards and
   * can refuse with their own reply; guards read the request with `fastifyRequestOf(ctx)`.
   * Adds a hidden `GET` route per gateway path (an HTTP GET there is answered 426). Default true.
   */
  hooks?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The gatewire app the `gatewire/fastify` plugin attached. */
    gatewire: Application
  }
}

const fastifyRequests = new WeakMap<IncomingMessage, FastifyRequest>()
const upgrades = new WeakMap<IncomingMessage, { socket: Socket; head: Buffer }>()

/**
 * Fastify plugin: attaches a gatewire app to `fastify.server` so that it takes only the upgrades
 * to its gateways' paths (others — @fastify/websocket's routes, `ws` — are never shown them and
 * keep working), closes it in `preClose` (1001 to every WebSocket, so `fastify.close()` finishes)
 * and exposes it as `fastify.gatewire`. Registered at the root: it is not encapsulated.
 *
 * @example
 * const fastify = Fastify()
 * await fastify.register(gatewireFastify, { app: bootstrap(AppModule) })
 * await fastify.listen({ port: 8080 })
 * // ... later: closes the WebSockets with 1001, then Fastify's server
 * await fastify.close()
 */
export const gatewireFastify: FastifyPluginCallback<GatewireFastifyOptions> = Object.assign(
  (fastify: FastifyInstance, options: GatewireFastifyOptions, done: (error?: Error) => void): void => {
    const { app } = options
    if (app === undefined || typeof app.attach !== 'function') return done(new TypeError('gatewire/fastify: pass { app: bootstrap(AppModule) }'))
    fastify.decorate('gatewire', app)
    // preClose runs before Fastify closes its server: the server's close() would otherwise wait
    // for every WebSocket forever (they are connections of the http server too).
    fastify.addHook('preClose', () => app.close())
    if (options.hooks === false) {
      app.attach(fastify.server, { intercept: true })
      return done()
    }
    const handler = upgradeRoute(app)
    for (const path of app.paths) {
      const url = path === '*' ? '/*' : path
      fastify.route({ method: 'GET', url, exposeHeadRoute: false, handler })
      // gatewire's router ignores a trailing slash; Fastify's does only when told to.
      const slashed = `${url}/`
      if (!url.endsWith('/') && !url.endsWith('*') && !fastify.hasRoute({ method: 'GET', url: slashed })) {
        fastify.route({ method: 'GET', url: slashed, exposeHeadRoute: false, handler })
      }
    }
    app.attach(fastify.server, {
      intercept: true,
      dispatch: (req, socket, head) => {
        upgrades.set(req, { socket, head })
        // As @fastify/websocket does: the request goes through Fastify's router and hooks, and
        // a reply they send instead (401 ...) is written to the socket, which then ends.
        socket.on('error', destroy)
        const res = new ServerResponse(req)
        res.assignSocket(socket)
        res.once('finish', () => socket.end())
        fastify.routing(req, res)
      },
    })
    done()
  },
  {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'gatewire',
    [Symbol.for('plugin-meta')]: { name: 'gatewire', fastify: '5.x' },
  },
)

function upgradeRoute(app: Application) {
  return (request: FastifyRequest, reply: FastifyReply): void => {
    const upgrade = upgrades.get(request.raw)
    if (upgrade === undefined) {
      reply.code(426).header('Upgrade', 'websocket').send('This is a WebSocket endpoint: connect with a WebSocket client.\n')
      return
    }
    upgrades.delete(request.raw)
    reply.hijack()
    upgrade.socket.off('error', destroy)
    fastifyRequests.set(request.raw, request)
    app.handleUpgrade(request.raw, upgrade.socket, upgrade.head)
  }
}

/**
 * The Fastify request an upgrade went through (with what its hooks added: `request.session`,
 * `request.cookies`, `request.user` ...), for a guard; undefined without the plugin's `hooks`.
 */
export function fastifyRequestOf(ctx: GuardContext<any>): FastifyRequest | undefined {
  return ctx.request.req === undefined ? undefined : fastifyRequests.get(ctx.request.req)
}

/**
 * A guard that copies what Fastify's hooks learned onto the connection's data; throw or call
 * `ctx.reject()` inside to refuse.
 *
 * @example
 * bootstrap(AppModule, { guards: [fromFastify((request) => ({ user: request.session.get('user') }))] })
 */
export function fromFastify(
  toData: (request: FastifyRequest, ctx: GuardContext) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>,
): GuardFunction {
  return async (ctx) => {
    const request = fastifyRequestOf(ctx)
    if (request === undefined) return ctx.reject(500, 'internal error: the upgrade did not go through Fastify (register gatewire/fastify with hooks)')
    Object.assign(ctx.data as object, await toData(request, ctx))
    return true
  }
}

function destroy(this: Socket): void {
  this.destroy()
}

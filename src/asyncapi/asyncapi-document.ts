import type { InvalidMessagePolicy } from '../framework/decorators/gateway'
import type { ReplyHint } from '../framework/decorators/handler-decorators'
import { NOT_DTO, type GatewayDefinition, type HandlerDefinition, type ParamDefinition } from '../framework/explorer'
import type { Class } from '../framework/store'
import { DtoSchemas, type JsonSchema } from './dto-schemas'

/** What `app.asyncapi(options)` puts in the document's `info` and `servers`. */
export interface AsyncApiOptions {
  /** `info.title`. Default: the root module's class name. */
  title?: string
  /** `info.version` (the version of your API, not of AsyncAPI). Default `'1.0.0'`. */
  version?: string
  /** `info.description`. */
  description?: string
  /**
   * AsyncAPI 3.0 Server Objects by name, copied as given, e.g.
   * `{ production: { host: 'chat.example.com', protocol: 'wss' } }`. Default none.
   */
  servers?: Record<string, Record<string, unknown>>
}

/** One gateway as the document needs it: its definition and the limits it runs with. */
export interface AsyncApiGateway {
  readonly definition: GatewayDefinition
  readonly maxMessageSize: number
  readonly invalidMessage: InvalidMessagePolicy
}

/** An AsyncAPI 3.0 document (plain JSON). */
export type AsyncApiDocument = Record<string, unknown> & { asyncapi: '3.0.0' }

type Ref = { $ref: string }

/** The error event gatewire sends (see ConnectionSession.replyError and InvalidMessageError). */
const ERROR_EVENT_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['event', 'data'],
  properties: {
    event: { type: 'string', const: 'error' },
    data: {
      type: 'object',
      required: ['event', 'message', 'errors'],
      properties: {
        event: { type: ['string', 'null'], description: 'the event of the message that failed; null when it named none' },
        message: {
          type: 'string',
          description:
            '"invalid JSON", "a message must be a JSON object with a string \\"event\\"", "unknown event \\"<name>\\"", ' +
            '"validation failed", or the reason of a WsException thrown without a close code',
        },
        errors: {
          type: 'array',
          description: 'each failed property (nested ones as dotted paths) with its failed constraints; empty otherwise',
          items: {
            type: 'object',
            required: ['property', 'constraints'],
            properties: {
              property: { type: 'string' },
              constraints: { type: 'object', additionalProperties: { type: 'string' } },
            },
          },
        },
      },
    },
  },
}

const TEXT_SCHEMA: JsonSchema = { type: 'string' }
const BINARY_SCHEMA: JsonSchema = { type: 'string', format: 'binary' }

/**
 * Builds the AsyncAPI 3.0 document of an app's gateways: a channel per gateway path (path
 * parameters as channel parameters, subprotocols and `@Query` parameters in the `ws` binding),
 * the messages a client may send (each `@OnMessage` event with the JSON Schema of its DTO, text
 * and binary messages), what handlers send back where it is known (`{ reply }`, or a declared
 * return type that is a class, a string or a Buffer), and the error event. Operations are
 * written from the server's side: `receive` is what a client sends, `send` what it gets.
 */
export function asyncApiDocument(gateways: readonly AsyncApiGateway[], options: AsyncApiOptions & { title: string }): AsyncApiDocument {
  const schemas = new DtoSchemas()
  const channels: Record<string, unknown> = {}
  const operations: Record<string, unknown> = {}
  const channelIds = new Ids()
  for (const gateway of gateways) {
    const channelId = channelIds.take(gateway.definition.name)
    const channel = new ChannelBuilder(gateway, channelId, schemas)
    channels[channelId] = channel.channel()
    for (const [id, operation] of channel.operations) operations[id] = operation
  }
  const info: Record<string, unknown> = { title: options.title, version: options.version ?? '1.0.0' }
  if (options.description !== undefined) info.description = options.description
  const document: AsyncApiDocument = { asyncapi: '3.0.0', info }
  if (options.servers !== undefined) document.servers = options.servers
  document.defaultContentType = 'application/json'
  document.channels = channels
  document.operations = operations
  document.components = {
    schemas: { ...schemas.components(), GatewireErrorEvent: ERROR_EVENT_SCHEMA },
  }
  return document
}

/** One gateway's channel, its messages and the operations that use them. */
class ChannelBuilder {
  readonly operations = new Map<string, unknown>()
  private readonly messages: Record<string, unknown> = {}
  private readonly messageIds = new Ids()
  private readonly operationIds = new Ids()
  private readonly ref: Ref
  private readonly definition: GatewayDefinition

  constructor(
    private readonly gateway: AsyncApiGateway,
    private readonly channelId: string,
    private readonly schemas: DtoSchemas,
  ) {
    this.definition = gateway.definition
    this.ref = { $ref: `#/channels/${channelId}` }
    for (const handler of this.definition.handlers) this.handler(handler)
    const error = this.message('error', {
      name: 'error',
      title: 'error event',
      summary:
        'Sent instead of a reply when a message cannot be routed or validated' +
        (gateway.invalidMessage === 'close' ? ' (this gateway closes with 1008 instead, except for a WsException)' : '') +
        ', and when a handler throws a WsException without a close code. The connection stays open.',
      contentType: 'application/json',
      payload: { $ref: '#/components/schemas/GatewireErrorEvent' },
    })
    this.operation('error', { action: 'send', channel: this.ref, summary: 'the error event', messages: [error] })
  }

  channel(): Record<string, unknown> {
    const d = this.definition
    const channel: Record<string, unknown> = { address: address(d.path), title: d.name }
    channel.description = this.description()
    const parameters: Record<string, unknown> = {}
    for (const name of d.pathParams) {
      parameters[paramName(name)] = {
        description: name === '*' ? 'the rest of the path (a wildcard)' : `the path segment :${name} (percent-decoded)`,
      }
    }
    if (Object.keys(parameters).length > 0) channel.parameters = parameters
    channel.messages = this.messages
    channel.bindings = { ws: this.binding() }
    if (d.protocols.length > 0) channel['x-gatewire-subprotocols'] = [...d.protocols]
    return channel
  }

  private description(): string {
    const d = this.definition
    const parts = [`The WebSocket gateway ${d.name}.`]
    if (d.protocols.length > 0) {
      parts.push(
        `Subprotocols (Sec-WebSocket-Protocol), in the server's order: ${d.protocols.join(', ')}; the ` +
          `${d.options.protocolOrder === 'server' ? "server's" : "client's"} preference picks.` +
          (d.options.protocolRequired === true ? ' A handshake without an agreed subprotocol is refused with 400.' : ''),
      )
    }
    parts.push(
      `Messages over ${this.gateway.maxMessageSize} bytes close the connection with 1009; a message type without a handler with 1003.`,
    )
    return parts.join(' ')
  }

  /** The `ws` channel binding: subprotocols as the Sec-WebSocket-Protocol header, `@Query`/`@Header` names. */
  private binding(): Record<string, unknown> {
    const d = this.definition
    const binding: Record<string, unknown> = { method: 'GET' }
    const query = new Set<string>()
    const headers = new Set<string>()
    for (const handler of d.handlers) {
      for (const param of handler.params) {
        if (param.name === undefined) continue
        if (param.kind === 'query') query.add(param.name)
        if (param.kind === 'header') headers.add(param.name.toLowerCase())
      }
    }
    if (query.size > 0) {
      binding.query = { type: 'object', properties: Object.fromEntries([...query].sort().map((q) => [q, { type: 'string' }])) }
    }
    const headerProperties: Record<string, unknown> = {}
    for (const h of [...headers].sort()) headerProperties[h] = { type: 'string' }
    if (d.protocols.length > 0) {
      headerProperties['sec-websocket-protocol'] = {
        type: 'string',
        description: `subprotocols the client offers, most preferred first (comma-separated); the server answers one of: ${d.protocols.join(', ')}`,
      }
    }
    if (Object.keys(headerProperties).length > 0) {
      binding.headers = {
        type: 'object',
        properties: headerProperties,
        ...(d.options.protocolRequired === true ? { required: ['sec-websocket-protocol'] } : {}),
      }
    }
    binding.bindingVersion = '0.1.0'
    return binding
  }

  private handler(handler: HandlerDefinition): void {
    const method = typeof handler.method === 'symbol' ? handler.method.description ?? 'symbol' : handler.method
    const protocol = handler.protocol
    const extra = protocol === undefined ? {} : { 'x-gatewire-protocol': protocol }
    const forProtocol = protocol === undefined ? '' : ` (connections that negotiated ${protocol})`
    let received: Ref
    let key: string
    switch (handler.kind) {
      case 'message': {
        const event = handler.event!
        key = protocol === undefined ? event : `${event}.${protocol}`
        received = this.message(key, {
          name: event,
          title: `${event} event`,
          summary: `A JSON text message {"event": "${event}", "data": ...}${forProtocol}.`,
          contentType: 'application/json',
          payload: this.eventPayload(event, this.payloadOf(handler)),
          ...extra,
        })
        break
      }
      case 'text': {
        const routes = this.definition.handlers.some((h) => h.kind === 'message' && h.protocol === protocol)
        key = protocol === undefined ? 'text' : `text.${protocol}`
        received = this.message(key, {
          name: 'text',
          title: 'text message',
          summary: routes ? `Text that is not one of the JSON events above${forProtocol}.` : `Any text message${forProtocol}.`,
          contentType: 'text/plain',
          payload: TEXT_SCHEMA,
          ...extra,
        })
        break
      }
      case 'binary':
        key = protocol === undefined ? 'binary' : `binary.${protocol}`
        received = this.message(key, {
          name: 'binary',
          title: 'binary message',
          summary: `Any binary message${forProtocol}${handler.stream ? ', read as a stream while it arrives' : ''}.`,
          contentType: 'application/octet-stream',
          payload: BINARY_SCHEMA,
          ...extra,
        })
        break
      case 'connect': {
        // What @OnConnect returns is sent as soon as the connection opens.
        key = protocol === undefined ? 'connect' : `connect.${protocol}`
        const sent = this.replies(handler, key)
        if (sent.length > 0) {
          this.operation(key, {
            action: 'send',
            channel: this.ref,
            summary: `sent on connect by ${this.definition.name}.${method}${forProtocol}`,
            messages: sent,
          })
        }
        return
      }
      default:
        return
    }
    const operation: Record<string, unknown> = {
      action: 'receive',
      channel: this.ref,
      summary: `handled by ${this.definition.name}.${method}${forProtocol}`,
      messages: [received],
    }
    const replies = this.replies(handler, `${key}.reply`)
    if (replies.length > 0) operation.reply = { channel: this.ref, messages: replies }
    this.operation(key, operation)
  }

  /** The handler's reply messages: its `{ reply }` hints, else a class/string/bytes return type. */
  private replies(handler: HandlerDefinition, base: string): Ref[] {
    const hints = handler.replies
    if (hints.length === 0) {
      const message = this.replyOfType(handler.returnType)
      return message === undefined ? [] : [this.message(base, message)]
    }
    return hints.map((hint, i) => {
      const id = hints.length === 1 ? base : `${base}.${i + 1}`
      if (typeof hint === 'function') return this.message(id, this.replyOfType(hint)!)
      const reply = hint as Exclude<ReplyHint, Class>
      return this.message(id, {
        name: reply.event,
        title: `${reply.event} event`,
        contentType: 'application/json',
        payload: this.eventPayload(reply.event, reply.data === undefined ? undefined : this.schemas.ref(reply.data)),
      })
    })
  }

  /** A reply of a type: `String` is text, `Buffer`/`Uint8Array` binary, a class JSON; others unknown. */
  private replyOfType(type: unknown): Record<string, unknown> | undefined {
    if (type === String) return { name: 'text', contentType: 'text/plain', payload: TEXT_SCHEMA }
    if (type === Buffer || type === Uint8Array) return { name: 'binary', contentType: 'application/octet-stream', payload: BINARY_SCHEMA }
    if (isDtoClass(type)) return { name: type.name, title: type.name, contentType: 'application/json', payload: this.schemas.ref(type) }
    return undefined
  }

  /** The schema of an `@OnMessage` handler's data; `undefined` when the data is not checked (any). */
  private payloadOf(handler: HandlerDefinition): JsonSchema | undefined {
    const param: ParamDefinition | undefined = handler.params.find((p) => p.kind === 'payload')
    if (param === undefined || !param.validate) return undefined
    if (param.dto !== undefined) return this.schemas.ref(param.dto)
    const type = param.type
    if (type === String) return { type: 'string' }
    if (type === Number) return { type: 'number' }
    if (type === Boolean) return { type: 'boolean' }
    if (type === Array) return { type: 'array' }
    return undefined
  }

  private eventPayload(event: string, data: JsonSchema | undefined): JsonSchema {
    return {
      type: 'object',
      required: data === undefined ? ['event'] : ['event', 'data'],
      properties: { event: { type: 'string', const: event }, data: data ?? {} },
    }
  }

  private message(key: string, message: Record<string, unknown>): Ref {
    const id = this.messageIds.take(key)
    this.messages[id] = message
    return { $ref: `#/channels/${this.channelId}/messages/${id}` }
  }

  private operation(key: string, operation: Record<string, unknown>): void {
    this.operations.set(this.operationIds.take(`${this.channelId}_${key}`), operation)
  }
}

function isDtoClass(type: unknown): type is Class {
  return typeof type === 'function' && !NOT_DTO.has(type)
}

/** `/chat/:room` → `/chat/{room}`; a trailing wildcard is a parameter; `*` alone has no fixed address. */
function address(path: string): string | null {
  if (path === '*' || path === '/*') return null
  return path.replace(/:([^/]+)/g, '{$1}').replace(/\*$/, '{wildcard}')
}

function paramName(name: string): string {
  return name === '*' ? 'wildcard' : name
}

/** Ids made of the characters AsyncAPI allows in keys, unique within their map. */
class Ids {
  private readonly taken = new Set<string>()
  take(wanted: string): string {
    const base = wanted.replace(/[^A-Za-z0-9_.-]/g, '_') || 'id'
    let id = base
    for (let n = 2; this.taken.has(id); n++) id = `${base}_${n}`
    this.taken.add(id)
    return id
  }
}

import { addParamRecord, type Class, type MemberKey, type ParamKind } from '../store'

/** Options of `@Payload()`. */
export interface PayloadOptions {
  /** Convert and validate into this class (default: the parameter's declared class, if any). */
  type?: Class
  /** Validate with class-validator. Default true when there is a class to validate into. */
  validate?: boolean
}

function param(kind: ParamKind, name?: string, dto?: Class, validate = true): ParameterDecorator {
  return (target: object, method: MemberKey | undefined, index: number) => {
    if (method === undefined) {
      throw new TypeError(`@${decoratorName(kind)}() belongs on a handler's parameter, not a constructor's`)
    }
    addParamRecord(target.constructor, { method, index, kind, name, dto, validate })
  }
}

function decoratorName(kind: ParamKind): string {
  return kind === 'connection' ? 'Conn' : kind === 'request' ? 'Req' : kind === 'data' ? 'ConnData' : kind[0].toUpperCase() + kind.slice(1)
}

/**
 * The connection.
 *
 * @example
 * @OnText() onText(@Conn() conn: Connection, text: string) {}
 */
export function Conn(): ParameterDecorator {
  return param('connection')
}

/**
 * The handler's payload: the text, the Buffer (or Readable), the `@OnMessage` data, the ping
 * payload, or the error of `@OnError`. `@Payload(Dto)` converts and validates `@OnMessage` data.
 *
 * @example
 * @OnMessage('say') say(@Conn() conn: Connection, @Payload(Say) msg: Say) {}
 */
export function Payload(typeOrOptions?: Class | PayloadOptions): ParameterDecorator {
  const options: PayloadOptions = typeof typeOrOptions === 'function' ? { type: typeOrOptions } : (typeOrOptions ?? {})
  return param('payload', undefined, options.type, options.validate !== false)
}

/**
 * A path parameter of the gateway's route (all of them as an object when no name is given).
 *
 * @example
 * @Gateway('/rooms/:room') class Rooms { @OnConnect() join(@Param('room') room: string) {} }
 */
export function Param(name?: string): ParameterDecorator {
  return param('param', name)
}

/**
 * A query string value (its first occurrence, or `undefined`); the whole `URLSearchParams` when
 * no name is given.
 *
 * @example
 * @OnConnect() hello(@Query('token') token: string | undefined) {}
 */
export function Query(name?: string): ParameterDecorator {
  return param('query', name)
}

/**
 * An upgrade request header (case-insensitive name); all headers when no name is given.
 *
 * @example
 * @OnConnect() hello(@Header('user-agent') agent: string | undefined) {}
 */
export function Header(name?: string): ParameterDecorator {
  return param('header', name?.toLowerCase())
}

/**
 * The negotiated subprotocol, or `undefined`.
 *
 * @example
 * @OnText() onText(text: string, @Protocol() protocol: string | undefined) {}
 */
export function Protocol(): ParameterDecorator {
  return param('protocol')
}

/**
 * The upgrade request (`UpgradeRequest`: path, query, headers, remote address, raw `req`).
 *
 * @example
 * @OnConnect() hello(@Req() req: UpgradeRequest) { console.log(req.remoteAddress) }
 */
export function Req(): ParameterDecorator {
  return param('request')
}

/**
 * The connection's data (`conn.data`), or one field of it — e.g. what a guard attached.
 *
 * @example
 * @OnText() onText(text: string, @ConnData('user') user: User) {}
 */
export function ConnData(key?: string): ParameterDecorator {
  return param('data', key)
}

/**
 * The close code, in `@OnClose`.
 *
 * @example
 * @OnClose() bye(@Conn() conn: Connection, @Code() code: number) {}
 */
export function Code(): ParameterDecorator {
  return param('code')
}

/**
 * The close reason, in `@OnClose`.
 *
 * @example
 * @OnClose() bye(@Reason() reason: string) {}
 */
export function Reason(): ParameterDecorator {
  return param('reason')
}

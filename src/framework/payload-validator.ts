import type { ClassTransformOptions } from 'class-transformer'
import type { ValidationError, ValidatorOptions } from 'class-validator'
import { InvalidMessageError, type MessageFieldError } from './invalid-message-error'
import type { Class } from './store'

export interface PayloadValidatorOptions {
  readonly validator?: ValidatorOptions
  readonly transformer?: ClassTransformOptions
  readonly asyncValidation?: boolean
}

/** Turns `data` into the handler's argument, or throws `InvalidMessageError`; a promise with async validation. */
export type PayloadValidator = (data: unknown) => unknown

const PRIMITIVES = new Map<unknown, { constraint: string; test: (v: unknown) => boolean; what: string }>([
  [String, { constraint: 'isString', test: (v) => typeof v === 'string', what: 'a string' }],
  [Number, { constraint: 'isNumber', test: (v) => typeof v === 'number' && Number.isFinite(v), what: 'a number' }],
  [Boolean, { constraint: 'isBoolean', test: (v) => typeof v === 'boolean', what: 'a boolean' }],
  [Array, { constraint: 'isArray', test: (v) => Array.isArray(v), what: 'an array' }],
])

/**
 * Compiles, once per handler, the conversion and validation of an `@OnMessage` payload: a DTO
 * class goes through class-transformer then class-validator; `string`, `number`, `boolean` and
 * arrays get a `typeof` check; anything else passes as parsed. `undefined` when there is nothing
 * to do, so the handler gets `data` as is.
 */
export function compilePayloadValidator(
  event: string,
  type: unknown,
  dto: Class | undefined,
  enabled: boolean,
  options: PayloadValidatorOptions = {},
): PayloadValidator | undefined {
  if (!enabled && dto === undefined) return undefined
  if (dto !== undefined) {
    // Loaded on first use: an application that validates nothing does not carry class-transformer
    // and class-validator in its heap (and a DTO's own decorators have loaded them already).
    const { plainToInstance } = require('class-transformer') as typeof import('class-transformer')
    const { validate, validateSync } = require('class-validator') as typeof import('class-validator')
    const transformer = options.transformer ?? {}
    const validator: ValidatorOptions = { forbidUnknownValues: true, ...options.validator }
    const toInstance = (data: unknown): object => {
      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        throw new InvalidMessageError(event, 'validation failed', [
          { property: 'data', constraints: { isObject: 'data must be an object' } },
        ])
      }
      return plainToInstance(dto as new () => object, data, transformer)
    }
    if (!enabled) return toInstance
    if (options.asyncValidation === true) {
      return (data) => {
        const instance = toInstance(data)
        return validate(instance, validator).then((errors) => {
          if (errors.length > 0) throw new InvalidMessageError(event, 'validation failed', flattenValidationErrors(errors))
          return instance
        })
      }
    }
    return (data) => {
      const instance = toInstance(data)
      const errors = validateSync(instance, validator)
      if (errors.length > 0) throw new InvalidMessageError(event, 'validation failed', flattenValidationErrors(errors))
      return instance
    }
  }
  const primitive = PRIMITIVES.get(type)
  if (primitive === undefined) return undefined
  return (data) => {
    if (!primitive.test(data)) {
      throw new InvalidMessageError(event, 'validation failed', [
        { property: 'data', constraints: { [primitive.constraint]: `data must be ${primitive.what}` } },
      ])
    }
    return data
  }
}

/**
 * class-validator's error tree → one entry per failed property, nested ones with dotted paths.
 * An error about the object itself has no property (forbidUnknownValues on a class without
 * validation decorators): it is reported on the object's own path, `data` at the top.
 */
export function flattenValidationErrors(errors: readonly ValidationError[], prefix = ''): MessageFieldError[] {
  const flat: MessageFieldError[] = []
  for (const error of errors) {
    const named = typeof error.property === 'string' && error.property !== ''
    const property = named ? prefix + error.property : prefix === '' ? 'data' : prefix.slice(0, -1)
    if (error.constraints !== undefined && Object.keys(error.constraints).length > 0) {
      flat.push({ property, constraints: { ...error.constraints } })
    }
    if (error.children !== undefined && error.children.length > 0) {
      flat.push(...flattenValidationErrors(error.children, property + '.'))
    }
  }
  return flat
}

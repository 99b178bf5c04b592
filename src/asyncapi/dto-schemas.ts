import { getPropertyType, type Class } from '../framework/store'

/** A JSON Schema, as AsyncAPI 3.0 embeds it (a superset of draft 07). */
export type JsonSchema = Record<string, unknown>

const REF_PREFIX = '#/components/schemas/'

interface PropertyMetadata {
  readonly target: Function
  readonly propertyName: string
}
type Converter = (meta: PropertyMetadata, options: object) => JsonSchema | undefined
interface SchemaOptions {
  refPointerPrefix: string
  classTransformerMetadataStorage?: TypeStorage
  additionalConverters: Record<string, Converter>
}
interface TypeStorage {
  findTypeMetadata(target: Function, property: string): { typeFunction(): unknown } | undefined
}
interface Library {
  targetConstructorToSchema(target: Function, options: SchemaOptions): JsonSchema
  nestedValidation: string
}

/**
 * The JSON Schemas of class-validator DTOs, from `class-validator-jsonschema` (an optional peer
 * dependency, loaded on the first document: an app that never asks for one never loads it).
 * Each DTO is converted on its own (never the whole class-validator registry, where classes of
 * other modules may share a name), nested DTOs with it; schemas are referenced by class name.
 */
export class DtoSchemas {
  private readonly library: Library
  private readonly options: SchemaOptions
  private readonly schemas = new Map<string, JsonSchema>()
  private readonly classes = new Map<string, Class>()
  /** Nested DTOs met while converting, converted next. */
  private readonly nested: Class[] = []

  constructor() {
    this.library = load()
    const types = classTransformerStorage()
    this.options = {
      refPointerPrefix: REF_PREFIX,
      classTransformerMetadataStorage: types,
      additionalConverters: {
        // As the library does it (class-transformer's @Type(), else the declared type), but the
        // nested class is remembered so that its own schema joins the document.
        [this.library.nestedValidation]: (meta) => {
          const child = types?.findTypeMetadata(meta.target, meta.propertyName)?.typeFunction() ?? getPropertyType(meta.target, meta.propertyName)
          if (typeof child !== 'function' || child === Object) return {}
          this.nested.push(child as Class)
          return { $ref: REF_PREFIX + (child.name || 'Anonymous') }
        },
      },
    }
  }

  /** `{ $ref }` to the schema of `dto` (a class without class-validator decorators is any object). */
  ref(dto: Class): JsonSchema {
    this.add(dto)
    while (this.nested.length > 0) this.add(this.nested.pop()!)
    return { $ref: REF_PREFIX + (dto.name || 'Anonymous') }
  }

  /** The schemas referenced so far, by name, sorted. */
  components(): Record<string, JsonSchema> {
    const out: Record<string, JsonSchema> = {}
    for (const name of [...this.schemas.keys()].sort()) out[name] = this.schemas.get(name)!
    return out
  }

  private add(dto: Class): void {
    const name = dto.name || 'Anonymous'
    const seen = this.classes.get(name)
    if (seen === dto) return
    if (seen !== undefined) {
      // Schemas are keyed by class name: two DTOs named alike would share one.
      throw new Error(`asyncapi: two different DTO classes are named ${name}; rename one so each gets its own schema`)
    }
    this.classes.set(name, dto)
    const schema = this.library.targetConstructorToSchema(dto, this.options)
    this.schemas.set(
      name,
      Object.keys(schema).length > 0 ? schema : { type: 'object', description: `${name} has no class-validator decorators: its properties are not described` },
    )
  }
}

function load(): Library {
  try {
    const { targetConstructorToSchema } = require('class-validator-jsonschema') as Pick<Library, 'targetConstructorToSchema'>
    const { ValidationTypes } = require('class-validator') as { ValidationTypes: { NESTED_VALIDATION: string } }
    return { targetConstructorToSchema, nestedValidation: ValidationTypes.NESTED_VALIDATION }
  } catch (err) {
    throw new Error(
      'asyncapi: the JSON Schemas of DTOs come from the optional peer dependency class-validator-jsonschema: ' +
        `npm install class-validator-jsonschema (${(err as Error).message})`,
    )
  }
}

/** class-transformer's metadata (`@Type(() => Author)`), for nested DTOs. */
function classTransformerStorage(): TypeStorage | undefined {
  try {
    return (require('class-transformer/cjs/storage') as { defaultMetadataStorage: TypeStorage }).defaultMetadataStorage
  } catch {
    return undefined
  }
}

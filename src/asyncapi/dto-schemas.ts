import type { Class } from '../framework/store'

/** A JSON Schema, as AsyncAPI 3.0 embeds it (a superset of draft 07). */
export type JsonSchema = Record<string, unknown>

const REF_PREFIX = '#/components/schemas/'

type SchemasOf = (options: { refPointerPrefix: string; classTransformerMetadataStorage?: unknown }) => Record<string, JsonSchema>

/**
 * The JSON Schemas of class-validator DTOs, from `class-validator-jsonschema` (an optional peer
 * dependency, loaded on the first document: an app that never asks for one never loads it).
 * DTOs are referenced by class name; the document keeps only the schemas its DTOs reach.
 */
export class DtoSchemas {
  private readonly all: Record<string, JsonSchema>
  private readonly used = new Map<string, JsonSchema>()
  private readonly classes = new Map<string, Class>()

  constructor() {
    this.all = loadSchemas()
  }

  /** `{ $ref }` to the schema of `dto` (a class without class-validator decorators is any object). */
  ref(dto: Class): JsonSchema {
    const name = dto.name || 'Anonymous'
    const seen = this.classes.get(name)
    if (seen !== undefined && seen !== dto) {
      // class-validator-jsonschema keys schemas by class name: two DTOs named alike would share one.
      throw new Error(`asyncapi: two different DTO classes are named ${name}; rename one so each gets its own schema`)
    }
    this.classes.set(name, dto)
    this.use(name)
    return { $ref: REF_PREFIX + name }
  }

  /** The schemas referenced so far (and those they reference), by name, sorted. */
  components(): Record<string, JsonSchema> {
    const out: Record<string, JsonSchema> = {}
    for (const name of [...this.used.keys()].sort()) out[name] = this.used.get(name)!
    return out
  }

  private use(name: string): void {
    if (this.used.has(name)) return
    const schema = this.all[name] ?? {
      type: 'object',
      description: `${name} has no class-validator decorators: its properties are not described`,
    }
    this.used.set(name, schema)
    for (const nested of refsIn(schema)) this.use(nested)
  }
}

function loadSchemas(): Record<string, JsonSchema> {
  let schemasOf: SchemasOf
  try {
    schemasOf = (require('class-validator-jsonschema') as { validationMetadatasToSchemas: SchemasOf }).validationMetadatasToSchemas
  } catch (err) {
    throw new Error(
      'asyncapi: the JSON Schemas of DTOs come from the optional peer dependency class-validator-jsonschema: ' +
        `npm install class-validator-jsonschema (${(err as Error).message})`,
    )
  }
  // Nested DTOs (@ValidateNested() @Type(() => Author)) are resolved through class-transformer's metadata.
  let classTransformerMetadataStorage: unknown
  try {
    classTransformerMetadataStorage = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: unknown }).defaultMetadataStorage
  } catch {
    classTransformerMetadataStorage = undefined
  }
  return schemasOf({ refPointerPrefix: REF_PREFIX, classTransformerMetadataStorage })
}

function refsIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const item of value) refsIn(item, found)
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string' && item.startsWith(REF_PREFIX)) found.push(item.slice(REF_PREFIX.length))
      else refsIn(item, found)
    }
  }
  return found
}

// Public API of gatewire: re-exports only.

// --- protocol + transport (the core) ---
export * from './protocol'
export * from './transport'
export * from './broker'
export * from './cluster'

// --- framework ---
export * from './framework'

// --- AsyncAPI (app.asyncapi()) ---
export type { AsyncApiDocument, AsyncApiOptions } from './asyncapi/asyncapi-document'

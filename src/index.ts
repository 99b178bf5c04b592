// Public API of gatewire: re-exports only.

// --- protocol + transport (the core) ---
export * from './protocol'
export * from './transport'
export * from './broker'

// --- framework ---
export * from './framework'

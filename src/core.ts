// gatewire/core: the RFC 6455 protocol and transport alone (createServer, connect, Connection,
// the codec), without the decorator framework and its dependencies (reflect-metadata,
// class-validator). It loads no package outside Node itself.
export * from './protocol'
export * from './transport'
export * from './broker'
export * from './cluster'


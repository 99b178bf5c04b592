// gatewire/fastify: the Fastify plugin. Fastify is an optional peer dependency, imported only
// for its types: `import 'gatewire'` never loads this file.
export { gatewireFastify, fastifyRequestOf, fromFastify, type GatewireFastifyOptions } from './gatewire-fastify'

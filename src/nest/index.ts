// gatewire/nest: the NestJS integration. @nestjs/common and @nestjs/core are optional peer
// dependencies, loaded only by this entry point.
export { GatewireModule, GatewireHost, type GatewireModuleOptions } from './gatewire-module'

import { Module, type BootstrapOptions } from '../src'
import { ChatModule } from './chat-module'
import { EchoGateway } from './echo-gateway'
import { sameOrigin } from './same-origin'

/** The example app: the chat, plus an echo endpoint to poke at with any WebSocket client. */
@Module({ imports: [ChatModule], gateways: [EchoGateway] })
export class AppModule {}

/** How the app is bootstrapped; tests bootstrap `AppModule` with the same options. */
export const appOptions: BootstrapOptions = {
  // Every gateway refuses pages from other sites (the chat gateway raises its own limit).
  guards: [sameOrigin],
  maxMessageSize: 64 * 1024,
}

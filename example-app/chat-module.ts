import { Module } from '../src'
import { CHAT_CONFIG, DEFAULT_CHAT_CONFIG } from './chat-config'
import { ChatGateway } from './chat-gateway'
import { RoomService } from './room-service'

/** The chat feature: its gateway, its state and its configuration. */
@Module({
  gateways: [ChatGateway],
  providers: [RoomService, { provide: CHAT_CONFIG, useValue: DEFAULT_CHAT_CONFIG }],
})
export class ChatModule {}

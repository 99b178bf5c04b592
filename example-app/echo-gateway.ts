import { Gateway, OnBinary, OnText } from '../src'

/** The smallest gateway there is: text comes back as text, binary as binary. */
@Gateway('/echo')
export class EchoGateway {
  // `reply` documents the answer in the AsyncAPI document (/asyncapi.json).
  @OnText({ reply: String })
  @OnBinary({ reply: Buffer })
  echo(message: string | Buffer): string | Buffer {
    return message
  }
}

import { Gateway, OnBinary, OnText } from '../src'

/** The smallest gateway there is: text comes back as text, binary as binary. */
@Gateway('/echo')
export class EchoGateway {
  @OnText()
  @OnBinary()
  echo(message: string | Buffer): string | Buffer {
    return message
  }
}

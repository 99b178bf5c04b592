import winston from 'winston'
const out: string[] = []
const l = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: new (require('stream').Writable)({ write(c: Buffer, _e: string, cb: () => void) { out.push(c.toString()); cb() } }) })] })
l.error({ connectionId: 1, gateway: 'G' } as any, 'handler failed')
l.error('handler failed', { connectionId: 1, gateway: 'G', err: new Error('x') })
l.error({ message: 'handler failed', connectionId: 1 })
setTimeout(() => console.log(out.join('')), 50)

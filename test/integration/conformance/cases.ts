// The fuzzing cases of Autobahn|Testsuite groups 1–7, 9 and 10, restated from its case
// definitions (crossbario/autobahn-testsuite, autobahntestsuite/case/): same frames, same
// chopping and pauses, same expectations and close rules. Case numbering follows Autobahn's, so a
// failure here can be looked up in an Autobahn report and the other way round.
import type { CaseDefinition, CaseRun, ExpectedClose, Observed } from './case-run'
import type { DeflateRequest } from './deflate'
import { Op, repeatTo } from './wire'

const NORMAL = 1000
const PROTOCOL_ERROR = 1002
const INVALID_PAYLOAD = 1007

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8')
const hex = (digits: string): Buffer => Buffer.from(digits.replace(/\s+/g, ''), 'hex')

/** The fuzzer closes with 1000 once the expected events arrived; the close must be clean. */
const cleanClose = (): ExpectedClose => ({ closedByMe: true, closeCode: [NORMAL], requireClean: true })
/** The peer must fail the connection (it may drop TCP, or close with `code`). */
const peerFails = (code: number, fatal = false): ExpectedClose => ({
  closedByMe: false,
  closeCode: [code],
  requireClean: false,
  ...(fatal ? { closedByWrongEndpointIsFatal: true } : {}),
})

function define(
  id: string,
  description: string,
  expectation: string,
  onOpen: (run: CaseRun) => void,
  extra: Partial<CaseDefinition> = {},
): CaseDefinition {
  return { id, description, expectation, onOpen, ...extra }
}

const cases: CaseDefinition[] = []
const add = (...definitions: CaseDefinition[]): void => {
  cases.push(...definitions)
}

// ---- 1 Framing: text (1.1) and binary (1.2) messages of the sizes around each length encoding ----

const framingSizes = [0, 125, 126, 127, 128, 65535, 65536, 65536]
for (const binary of [false, true]) {
  framingSizes.forEach((size, i) => {
    const chopsize = i === 7 ? 997 : undefined
    const payload = binary ? Buffer.alloc(size, 0xfe) : Buffer.alloc(size, '*')
    const kind = binary ? 'binary' : 'text'
    add(
      define(
        `1.${binary ? 2 : 1}.${i + 1}`,
        `Send ${kind} message with payload of length ${size}${chopsize ? `, written in chops of ${chopsize} octets` : ''}.`,
        `Receive echo'ed ${kind} message (with payload as sent). Clean close with normal code.`,
        (run) => {
          run.expected.set('OK', [['message', payload, binary]])
          run.expectedClose = cleanClose()
          run.p.sendFrame({ opcode: binary ? Op.Binary : Op.Text, payload, chopsize })
          run.p.killAfter(i >= 5 ? 10 : 1)
        },
      ),
    )
  })
}

// ---- 2 Pings/Pongs ----

function pingCase(id: string, description: string, payload: Buffer, options: { chopsize?: number; wait?: number } = {}): CaseDefinition {
  return define(id, description, "Pong with payload echo'ed is sent in reply to Ping. Clean close with normal code.", (run) => {
    run.expected.set('OK', [['pong', payload]])
    run.expectedClose = cleanClose()
    run.p.sendFrame({ opcode: Op.Ping, payload, chopsize: options.chopsize })
    run.p.closeAfter(options.wait ?? 1)
  })
}

add(
  pingCase('2.1', 'Send ping without payload.', Buffer.alloc(0)),
  pingCase('2.2', 'Send ping with small text payload.', utf8('Hello, world!')),
  pingCase('2.3', 'Send ping with small binary (non UTF-8) payload.', hex('00fffefdfcfb00ff')),
  pingCase('2.4', 'Send ping with binary payload of 125 octets.', Buffer.alloc(125, 0xfe)),
  define(
    '2.5',
    'Send ping with binary payload of 126 octets.',
    'Connection is failed immediately (1002/Protocol Error), since control frames are only allowed to have payload up to and including 125 octets.',
    (run) => {
      run.expected.set('OK', [])
      run.expectedClose = peerFails(PROTOCOL_ERROR)
      run.p.sendFrame({ opcode: Op.Ping, payload: Buffer.alloc(126, 0xfe) })
      run.p.killAfter(1)
    },
  ),
  pingCase('2.6', 'Send ping with binary payload of 125 octets, sent in octet-wise chops.', Buffer.alloc(125, 0xfe), {
    chopsize: 1,
    wait: 2,
  }),
  define('2.7', 'Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.', 'Nothing.', (run) => {
    run.expected.set('OK', [])
    run.expectedClose = cleanClose()
    run.p.sendFrame({ opcode: Op.Pong })
    run.p.sendClose(NORMAL)
    run.p.closeAfter(1)
  }),
  define('2.8', 'Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.', 'Nothing.', (run) => {
    run.expected.set('OK', [])
    run.expectedClose = cleanClose()
    run.p.sendFrame({ opcode: Op.Pong, payload: 'unsolicited pong payload' })
    run.p.sendClose(NORMAL)
    run.p.closeAfter(1)
  }),
  define(
    '2.9',
    'Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.',
    "Nothing in reply to own Pong, but Pong with payload echo'ed in reply to Ping. Clean close with normal code.",
    (run) => {
      run.expected.set('OK', [['pong', utf8('ping payload')]])
      run.expectedClose = cleanClose()
      run.p.sendFrame({ opcode: Op.Pong, payload: 'unsolicited pong payload' })
      run.p.sendFrame({ opcode: Op.Ping, payload: 'ping payload' })
      run.p.closeAfter(1)
    },
  ),
)
for (const [id, chopsize] of [['2.10', undefined], ['2.11', 1]] as const) {
  add(
    define(
      id,
      `Send 10 Pings with payload${chopsize ? ', sent in octet-wise chops' : ''}.`,
      'Pongs for our Pings with all the payloads (not required by the spec, but checked anyway). Clean close with normal code.',
      (run) => {
        const pongs: Observed[] = []
        for (let i = 0; i < 10; i++) {
          pongs.push(['pong', utf8(`payload-${i}`)])
          run.p.sendFrame({ opcode: Op.Ping, payload: `payload-${i}`, chopsize })
        }
        run.expected.set('OK', pongs)
        run.expectedClose = cleanClose()
        run.p.closeAfter(3)
      },
    ),
  )
}

// ---- 3 Reserved bits ----

const hello = utf8('Hello, world!')
const failedImmediately = 'The connection is failed immediately, since RSV must be 0.'
const echoThenFail =
  'Echo for first message is received, but then connection is failed immediately, since RSV must be 0, when no extension defining RSV meaning has been negotiated. The Pong is not received.'

add(
  define('3.1', 'Send small text message with RSV = 1.', failedImmediately, (run) => {
    run.expected.set('OK', [])
    run.expectedClose = peerFails(PROTOCOL_ERROR)
    run.p.sendFrame({ opcode: Op.Text, payload: hello, rsv: 1 })
    run.p.killAfter(1)
  }),
)
for (const [id, rsv, how] of [
  ['3.2', 2, {}],
  ['3.3', 3, { sync: true }],
  ['3.4', 4, { chopsize: 1 }],
] as const) {
  const manner = 'sync' in how ? ' Octets are sent in frame-wise chops.' : 'chopsize' in how ? ' Octets are sent in octet-wise chops.' : ''
  add(
    define(id, `Send small text message, then send again with RSV = ${rsv}, then send Ping.${manner}`, echoThenFail, (run) => {
      run.expected.set('OK', [['message', hello, false]])
      run.expected.set('NON-STRICT', [])
      run.expectedClose = peerFails(PROTOCOL_ERROR)
      run.p.sendFrame({ opcode: Op.Text, payload: hello, ...how })
      run.p.sendFrame({ opcode: Op.Text, payload: hello, rsv, ...how })
      run.p.sendFrame({ opcode: Op.Ping, ...how })
      run.p.killAfter(1)
    }),
  )
}
add(
  define('3.5', 'Send small binary message with RSV = 5.', failedImmediately, (run) => {
    run.expected.set('OK', [])
    run.expectedClose = peerFails(PROTOCOL_ERROR)
    run.p.sendFrame({ opcode: Op.Binary, payload: hex('00fffefdfcfb00ff'), rsv: 5 })
    run.p.killAfter(1)
  }),
  // Autobahn's 3.6 is described as a ping but sends a binary frame; we send what it sends.
  define('3.6', 'Send small binary frame with RSV = 6.', failedImmediately, (run) => {
    run.expected.set('OK', [])
    run.expectedClose = peerFails(PROTOCOL_ERROR)
    run.p.sendFrame({ opcode: Op.Binary, payload: hello, rsv: 6 })
    run.p.killAfter(1)
  }),
  define('3.7', 'Send Close with RSV = 7.', failedImmediately, (run) => {
    run.expected.set('OK', [])
    run.expectedClose = peerFails(PROTOCOL_ERROR)
    run.p.sendFrame({ opcode: Op.Close, rsv: 7 })
    run.p.killAfter(1)
  }),
)

// ---- 4 Opcodes: reserved non-control (4.1) and control (4.2) opcodes ----

for (const [group, opcodes] of [
  ['4.1', [3, 4, 5, 6, 7]],
  ['4.2', [11, 12, 13, 14, 15]],
] as const) {
  const kind = group === '4.1' ? 'non-control' : 'control'
  opcodes.forEach((opcode, i) => {
    const id = `${group}.${i + 1}`
    if (i < 2) {
      // A lone reserved frame, the second one with a payload.
      const payload = i === 1 ? utf8('reserved opcode payload') : undefined
      add(
        define(id, `Send frame with reserved ${kind} Opcode = ${opcode}${payload ? ' and non-empty payload' : ''}.`, 'The connection is failed immediately.', (run) => {
          run.expected.set('OK', [])
          run.expectedClose = peerFails(PROTOCOL_ERROR)
          run.p.sendFrame({ opcode, payload })
          run.p.killAfter(1)
        }),
      )
    } else {
      // Text message, the reserved frame (with a payload from the fourth on), a ping; the last case chopped octet-wise.
      const payload = i >= 3 ? hello : undefined
      const chopsize = i === 4 ? 1 : undefined
      add(
        define(
          id,
          `Send small text message, then send frame with reserved ${kind} Opcode = ${opcode}${payload ? ' and non-empty payload' : ''}, then send Ping.${chopsize ? ' Octets are sent in octet-wise chops.' : ''}`,
          "Echo for first message is received, but then connection is failed immediately, since reserved opcode frame is used. A Pong is not received.",
          (run) => {
            run.expected.set('OK', [['message', hello, false]])
            run.expected.set('NON-STRICT', [])
            run.expectedClose = peerFails(PROTOCOL_ERROR)
            run.p.sendFrame({ opcode: Op.Text, payload: hello, chopsize })
            run.p.sendFrame({ opcode, payload, chopsize })
            run.p.sendFrame({ opcode: Op.Ping, chopsize })
            run.p.killAfter(1)
          },
        ),
      )
    }
  })
}

// ---- 5 Fragmentation ----

type Manner = { sync?: boolean; chopsize?: number }
const mannerText = (how: Manner): string =>
  how.sync ? ' Octets are sent in frame-wise chops.' : how.chopsize ? ' Octets are sent in octet-wise chops.' : ''
const frag1 = utf8('fragment1')
const frag2 = utf8('fragment2')

add(
  define('5.1', 'Send Ping fragmented into 2 fragments.', 'Connection is failed immediately, since control message MUST NOT be fragmented.', (run) => {
    run.expected.set('OK', [])
    run.expectedClose = peerFails(PROTOCOL_ERROR)
    run.p.sendFrame({ opcode: Op.Ping, fin: false, payload: frag1 })
    run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: frag2 })
    run.p.killAfter(1)
  }),
  define('5.2', 'Send Pong fragmented into 2 fragments.', 'Connection is failed immediately, since control message MUST NOT be fragmented.', (run) => {
    run.expected.set('OK', [])
    run.expectedClose = peerFails(PROTOCOL_ERROR)
    run.p.sendFrame({ opcode: Op.Pong, fin: false, payload: frag1 })
    run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: frag2 })
    run.p.killAfter(1)
  }),
)
;(['5.3', '5.4', '5.5'] as const).forEach((id, i) => {
  const how: Manner = [{}, { sync: true }, { chopsize: 1 }][i]
  add(
    define(id, `Send text Message fragmented into 2 fragments.${mannerText(how)}`, "Message is processed and echo'ed back to us.", (run) => {
      run.expected.set('OK', [['message', utf8('fragment1fragment2'), false]])
      run.expectedClose = cleanClose()
      run.p.sendFrame({ opcode: Op.Text, fin: false, payload: frag1, ...how })
      run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: frag2, ...how })
      run.p.closeAfter(1)
    }),
  )
})
;(['5.6', '5.7', '5.8'] as const).forEach((id, i) => {
  const how: Manner = [{}, { sync: true }, { chopsize: 1 }][i]
  add(
    define(
      id,
      `Send text Message fragmented into 2 fragments, one ping with payload in-between.${mannerText(how)}`,
      "A pong is received, then the message is echo'ed back to us.",
      (run) => {
        run.expected.set('OK', [
          ['pong', utf8('ping payload')],
          ['message', utf8('fragment1fragment2'), false],
        ])
        run.expectedClose = cleanClose()
        run.p.sendFrame({ opcode: Op.Text, fin: false, payload: frag1, ...how })
        run.p.sendFrame({ opcode: Op.Ping, fin: true, payload: 'ping payload', ...how })
        run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: frag2, ...how })
        run.p.closeAfter(1)
      },
    ),
  )
})
for (const [first, fin] of [
  [9, true],
  [12, false],
] as const) {
  ;[{}, { sync: true }, { chopsize: 1 }].forEach((how: Manner, i) => {
    add(
      define(
        `5.${first + i}`,
        `Send unfragmented Text Message after Continuation Frame with FIN = ${fin}, where there is nothing to continue.${mannerText(how)}`,
        'The connection is failed immediately, since there is no message to continue.',
        (run) => {
          run.expected.set('OK', [])
          run.expectedClose = peerFails(PROTOCOL_ERROR)
          run.p.sendFrame({ opcode: Op.Continuation, fin, payload: 'non-continuation payload', ...how })
          run.p.sendFrame({ opcode: Op.Text, fin: true, payload: hello, ...how })
          run.p.killAfter(1)
        },
      ),
    )
  })
}
add(
  define(
    '5.15',
    'Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.',
    'The connection is failed immediately, since there is no message to continue.',
    (run) => {
      run.expected.set('OK', [['message', utf8('fragment1fragment2'), false]])
      run.expected.set('NON-STRICT', [])
      run.expectedClose = peerFails(PROTOCOL_ERROR)
      run.p.sendFrame({ opcode: Op.Text, fin: false, payload: frag1 })
      run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: frag2 })
      run.p.sendFrame({ opcode: Op.Continuation, fin: false, payload: 'fragment3' })
      run.p.sendFrame({ opcode: Op.Text, fin: true, payload: 'fragment4' })
      run.p.killAfter(1)
    },
  ),
)
for (const [id, fin] of [
  ['5.16', false],
  ['5.17', true],
] as const) {
  add(
    define(
      id,
      `Repeated 2x: Continuation Frame with FIN = ${fin} (where there is nothing to continue), then text Message fragmented into 2 fragments.`,
      'The connection is failed immediately, since there is no message to continue.',
      (run) => {
        run.expected.set('OK', [])
        run.expectedClose = peerFails(PROTOCOL_ERROR)
        for (let i = 0; i < 2; i++) {
          run.p.sendFrame({ opcode: Op.Continuation, fin, payload: 'fragment1' })
          run.p.sendFrame({ opcode: Op.Text, fin: false, payload: 'fragment2' })
          run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: 'fragment3' })
        }
        run.p.killAfter(1)
      },
    ),
  )
}
add(
  define(
    '5.18',
    'Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.',
    'The connection is failed immediately, since all data frames after the initial data frame must have opcode 0.',
    (run) => {
      run.expected.set('OK', [])
      run.expectedClose = peerFails(PROTOCOL_ERROR)
      run.p.sendFrame({ opcode: Op.Text, fin: false, payload: frag1 })
      run.p.sendFrame({ opcode: Op.Text, fin: true, payload: frag2 })
      run.p.killAfter(1)
    },
  ),
)
for (const [id, sync] of [
  ['5.19', false],
  ['5.20', true],
] as const) {
  add(
    define(
      id,
      `A fragmented text message is sent in multiple frames. After sending the first 2 frames of the text message, a Ping is sent. Then we wait 1s, then we send 2 more text fragments, another Ping and then the final text fragment. Everything is legal.${sync ? ' All frames are sent with sync = true.' : ''}`,
      "The peer immediately answers the first Ping before it has received the last text message fragment. The peer pong's back the Ping's payload exactly, and echo's the payload of the fragmented message back to us.",
      (run) => {
        const fragments = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5']
        const pings = ['pongme 1!', 'pongme 2!']
        run.expected.set('OK', [
          ['pong', utf8(pings[0])],
          ['pong', utf8(pings[1])],
          ['message', utf8(fragments.join('')), false],
        ])
        run.expectedClose = cleanClose()
        run.p.sendFrame({ opcode: Op.Text, fin: false, payload: fragments[0], sync })
        run.p.sendFrame({ opcode: Op.Continuation, fin: false, payload: fragments[1], sync })
        run.p.sendFrame({ opcode: Op.Ping, payload: pings[0], sync })
        run.p.continueLater(1, () => {
          run.p.sendFrame({ opcode: Op.Continuation, fin: false, payload: fragments[2], sync })
          run.p.sendFrame({ opcode: Op.Continuation, fin: false, payload: fragments[3], sync })
          run.p.sendFrame({ opcode: Op.Ping, payload: pings[1], sync })
          run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: fragments[4], sync })
          run.p.closeAfter(1)
        })
      },
    ),
  )
}

// ---- 6 UTF-8 handling ----

const echoed = "The message is echo'ed back to us."
function textEcho(id: string, description: string, message: Buffer, send: (run: CaseRun) => void): CaseDefinition {
  return define(id, description, echoed, (run) => {
    run.expected.set('OK', [['message', message, false]])
    run.expectedClose = cleanClose()
    send(run)
    run.p.closeAfter(1)
  })
}

add(
  textEcho('6.1.1', 'Send text message of length 0.', Buffer.alloc(0), (run) => run.p.sendFrame({ opcode: Op.Text, payload: '' })),
  textEcho('6.1.2', 'Send fragmented text message, 3 fragments each of length 0.', Buffer.alloc(0), (run) => {
    run.p.sendFrame({ opcode: Op.Text, fin: false, payload: '' })
    run.p.sendFrame({ opcode: Op.Continuation, fin: false, payload: '' })
    run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: '' })
  }),
  textEcho(
    '6.1.3',
    'Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.',
    utf8('middle frame payload'),
    (run) => {
      run.p.sendFrame({ opcode: Op.Text, fin: false, payload: '' })
      run.p.sendFrame({ opcode: Op.Continuation, fin: false, payload: 'middle frame payload' })
      run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: '' })
    },
  ),
)
const helloUtf8 = utf8('Hello-µ@ßöäüàá-UTF-8!!')
const kosme = hex('cebae1bdb9cf83cebcceb5')
add(
  textEcho('6.2.1', 'Send a valid UTF-8 text message in one fragment.', helloUtf8, (run) => run.p.sendMessage(helloUtf8)),
  textEcho('6.2.2', 'Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary.', helloUtf8, (run) => {
    run.p.sendFrame({ opcode: Op.Text, fin: false, payload: 'Hello-µ@ßöä' })
    run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: 'üàá-UTF-8!!' })
  }),
  textEcho(
    '6.2.3',
    'Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.',
    helloUtf8,
    (run) => run.p.sendMessage(helloUtf8, { fragmentSize: 1 }),
  ),
  textEcho(
    '6.2.4',
    'Send a valid UTF-8 text message (κόσμε) in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.',
    kosme,
    (run) => run.p.sendMessage(kosme, { fragmentSize: 1 }),
  ),
)
// Invalid exactly on byte 12 (0xa0 after 0xed: a UTF-16 surrogate).
const invalidSurrogate = Buffer.concat([kosme, hex('eda080'), utf8('edited')])
add(
  define('6.3.1', 'Send invalid UTF-8 text message unfragmented.', 'The connection is failed immediately, since the payload is not valid UTF-8.', (run) => {
    run.expected.set('OK', [])
    run.expectedClose = peerFails(INVALID_PAYLOAD)
    run.p.sendMessage(invalidSurrogate)
    run.p.killAfter(1)
  }),
  define(
    '6.3.2',
    'Send invalid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.',
    'The connection is failed immediately, since the payload is not valid UTF-8.',
    (run) => {
      run.expected.set('OK', [])
      run.expectedClose = peerFails(INVALID_PAYLOAD, true)
      run.p.sendMessage(invalidSurrogate, { fragmentSize: 1 })
      run.p.killAfter(1)
    },
  ),
)

// 6.4: fail fast. The first part is valid; after a pause ("timeout A") comes the part that makes the
// message invalid, which the peer must reject at once; "timeout B" would mean it waited for more.
const failFastPayload = Buffer.concat([kosme, hex('f4908080'), utf8('edited')]) // 0xf4 0x90: above U+10FFFF
function failFastCase(id: string, description: string, parts: [Buffer, Buffer, Buffer], inOneFrame: boolean): CaseDefinition {
  return define(
    id,
    description,
    'The first part is accepted, we expect to time out on the first wait. The 2nd part should be rejected immediately (fail fast on UTF-8). If we time out, we expect the connection is failed at least then, since the complete message payload is not valid UTF-8.',
    (run) => {
      run.expected.set('OK', [['timeout', 'A']])
      run.expected.set('NON-STRICT', [
        ['timeout', 'A'],
        ['timeout', 'B'],
      ])
      run.expectedClose = peerFails(INVALID_PAYLOAD, true)
      const frame = inOneFrame ? run.p.beginFrame(Op.Text, failFastPayload.length) : null
      const send = (part: Buffer, opcode: number, fin: boolean): void => {
        if (frame) frame.write(part)
        else run.p.sendFrame({ opcode, fin, payload: part })
      }
      send(parts[0], Op.Text, false)
      run.p.continueLater(1, () => {
        if (run.p.state !== 'OPEN') return
        run.received.push(['timeout', 'A'])
        send(parts[1], Op.Continuation, false)
        run.p.continueLater(1, () => {
          if (run.p.state !== 'OPEN') return
          run.received.push(['timeout', 'B'])
          send(parts[2], Op.Continuation, true)
          run.p.killAfter(1)
        })
      })
    },
  )
}
const splitAtInvalidCodePoint: [Buffer, Buffer, Buffer] = [kosme, hex('f4908080'), utf8('edited')]
const splitAtInvalidOctet: [Buffer, Buffer, Buffer] = [failFastPayload.subarray(0, 12), failFastPayload.subarray(12, 13), failFastPayload.subarray(13)]
add(
  failFastCase(
    '6.4.1',
    'Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid (0xf4908080, a code point above U+10FFFF), then wait, then 3rd frame with rest.',
    splitAtInvalidCodePoint,
    false,
  ),
  failFastCase(
    '6.4.2',
    'Same as Case 6.4.1, but in 2nd frame, we send only up to and including the octet making the complete payload invalid.',
    splitAtInvalidOctet,
    false,
  ),
  failFastCase('6.4.3', 'Same as Case 6.4.1, but we send message not in 3 frames, but in 3 chops of the same message frame.', splitAtInvalidCodePoint, true),
  failFastCase('6.4.4', 'Same as Case 6.4.2, but we send message not in 3 frames, but in 3 chops of the same message frame.', splitAtInvalidOctet, true),
)

// 6.5 – 6.23: Markus Kuhn's UTF-8 decoder stress test sequences, each as one text message.
function utf8Sequences(): Array<[string, Array<[boolean, Buffer]>]> {
  const groups: Array<[string, Array<[boolean, Buffer]>]> = []
  const group = (title: string, entries: Array<[boolean, string | Buffer]>): void => {
    groups.push([title, entries.map(([valid, bytes]) => [valid, typeof bytes === 'string' ? hex(bytes) : bytes])])
  }
  group('Some valid UTF-8 sequences', [
    [true, Buffer.concat([utf8('hello'), hex('24'), utf8('world')])],
    [true, Buffer.concat([utf8('hello'), hex('c2a2'), utf8('world')])],
    [true, Buffer.concat([utf8('hello'), hex('e282ac'), utf8('world')])],
    [true, Buffer.concat([utf8('hello'), hex('f0a4ada2'), utf8('world')])],
    [true, kosme],
  ])
  // Every prefix of κόσμε: valid exactly when it ends on a character boundary.
  const boundaries = new Set([2, 5, 7, 9, 11])
  group(
    'All prefixes of a valid UTF-8 string that contains multi-byte code points',
    Array.from({ length: kosme.length }, (_, i) => [boundaries.has(i + 1), kosme.subarray(0, i + 1)] as [boolean, Buffer]),
  )
  group('First possible sequence of a certain length', [
    [true, '00'],
    [true, 'c280'],
    [true, 'e0a080'],
    [true, 'f0908080'],
  ])
  group('First possible sequence length 5/6 (invalid codepoints)', [
    [false, 'f888808080'],
    [false, 'fc8480808080'],
  ])
  group('Last possible sequence of a certain length', [
    [true, '7f'],
    [true, 'dfbf'],
    [true, 'efbfbf'],
    [true, 'f48fbfbf'],
  ])
  group('Last possible sequence length 4/5/6 (invalid codepoints)', [
    [false, 'f7bfbfbf'],
    [false, 'fbbfbfbfbf'],
    [false, 'fdbfbfbfbfbf'],
  ])
  group('Other boundary conditions', [
    [true, 'ed9fbf'],
    [true, 'ee8080'],
    [true, 'efbfbd'],
    [true, 'f48fbfbf'],
    [false, 'f4908080'],
  ])
  const continuationRun = Buffer.from(Array.from({ length: 0xbf - 0x80 }, (_, i) => 0x80 + i))
  group('Unexpected continuation bytes', [
    [false, '80'],
    [false, 'bf'],
    [false, '80bf'],
    [false, '80bf80'],
    [false, '80bf80bf'],
    [false, '80bf80bf80'],
    [false, '80bf80bf80bf'],
    [false, continuationRun],
  ])
  // Each lead byte of a range followed by a space (upper bound excluded, as in Autobahn).
  const lonely = (from: number, to: number): Buffer => Buffer.from(Array.from({ length: to - from }, (_, i) => [from + i, 0x20]).flat())
  group('Lonely start characters', [
    [false, lonely(0xc0, 0xdf)],
    [false, lonely(0xe0, 0xef)],
    [false, lonely(0xf0, 0xf7)],
    [false, lonely(0xf8, 0xfb)],
    [false, lonely(0xfc, 0xfd)],
  ])
  const incomplete = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf']
  group(
    'Sequences with last continuation byte missing',
    incomplete.map((bytes) => [false, bytes]),
  )
  group('Concatenation of incomplete sequences', [[false, incomplete.join('')]])
  group('Impossible bytes', [
    [false, 'fe'],
    [false, 'ff'],
    [false, 'fefeffff'],
  ])
  group('Examples of an overlong ASCII character', [
    [false, 'c0af'],
    [false, 'e080af'],
    [false, 'f08080af'],
    [false, 'f8808080af'],
    [false, 'fc80808080af'],
  ])
  group('Maximum overlong sequences', [
    [false, 'c1bf'],
    [false, 'e09fbf'],
    [false, 'f08fbfbf'],
    [false, 'f887bfbfbf'],
    [false, 'fc83bfbfbfbf'],
  ])
  group('Overlong representation of the NUL character', [
    [false, 'c080'],
    [false, 'e08080'],
    [false, 'f0808080'],
    [false, 'f880808080'],
    [false, 'fc8080808080'],
  ])
  group('Single UTF-16 surrogates', [
    [false, 'eda080'],
    [false, 'edadbf'],
    [false, 'edae80'],
    [false, 'edafbf'],
    [false, 'edb080'],
    [false, 'edbe80'],
    [false, 'edbfbf'],
  ])
  group('Paired UTF-16 surrogates', [
    [false, 'eda080edb080'],
    [false, 'eda080edbfbf'],
    [false, 'edadbfedb080'],
    [false, 'edadbfedbfbf'],
    [false, 'edae80edb080'],
    [false, 'edae80edbfbf'],
    [false, 'edafbfedb080'],
    [false, 'edafbfedbfbf'],
  ])
  // Non-characters are valid UTF-8 (RFC 3629): EF BF BE/BF and F[0-4] [89AB]F BF BE/BF up to U+10FFFF.
  const nonCharacters: Array<[boolean, string]> = [
    [true, 'efbfbe'],
    [true, 'efbfbf'],
  ]
  for (const z1 of ['f0', 'f1', 'f2', 'f3', 'f4']) {
    for (const z2 of ['8f', '9f', 'af', 'bf']) {
      if (z1 === 'f4' && z2 !== '8f') continue // above U+10FFFF
      for (const z3 of ['be', 'bf']) {
        const bytes = `${z1}${z2}bf${z3}`
        if (bytes === 'f08fbfbe' || bytes === 'f08fbfbf') continue // overlong
        nonCharacters.push([true, bytes])
      }
    }
  }
  group('Non-character code points (valid UTF-8)', nonCharacters)
  group('Unicode specials (i.e. replacement char)', [
    [true, 'efbfb9'],
    [true, 'efbfba'],
    [true, 'efbfbb'],
    [true, 'efbfbc'],
    [true, 'efbfbd'],
    [true, 'efbfbe'],
    [true, 'efbfbf'],
  ])
  return groups
}

utf8Sequences().forEach(([title, entries], g) => {
  entries.forEach(([valid, payload], j) => {
    add(
      define(
        `6.${g + 5}.${j + 1}`,
        `${title}: send a text message with payload which is ${valid ? '' : 'not '}valid UTF-8 in one fragment. Payload: 0x${payload.toString('hex')}`,
        valid ? echoed : 'The connection is failed immediately, since the payload is not valid UTF-8.',
        (run) => {
          if (valid) {
            run.expected.set('OK', [['message', payload, false]])
            run.expectedClose = cleanClose()
          } else {
            run.expected.set('OK', [])
            run.expectedClose = peerFails(INVALID_PAYLOAD, true)
          }
          run.p.sendMessage(payload)
          run.p.killAfter(0.5)
        },
      ),
    )
  })
})

// ---- 7 Close handling ----

/** 7.x: a wrong close code from the peer fails the case itself. */
const failOnWrongCode = { onConnectionLost: (run: CaseRun) => run.failOnWrongCode() }

function closeCase(id: string, description: string, expectation: string, expectedClose: ExpectedClose, send: (run: CaseRun) => void): CaseDefinition {
  return define(
    id,
    description,
    expectation,
    (run) => {
      run.suppressClose = true
      run.expected.set('OK', [])
      run.expectedClose = expectedClose
      send(run)
      run.p.killAfter(1)
    },
    failOnWrongCode,
  )
}

add(
  define(
    '7.1.1',
    'Send a message followed by a close frame.',
    'Echoed message followed by clean close with normal code.',
    (run) => {
      run.expected.set('OK', [['message', utf8('Hello World!'), false]])
      run.expectedClose = cleanClose()
      run.p.sendFrame({ opcode: Op.Text, payload: 'Hello World!' })
      run.p.killAfter(1)
    },
    failOnWrongCode,
  ),
  closeCase('7.1.2', 'Send two close frames.', 'Clean close with normal code. Second close frame ignored.', cleanClose(), (run) => {
    run.p.sendClose(NORMAL)
    run.p.sendFrame({ opcode: Op.Close })
  }),
  closeCase('7.1.3', 'Send a ping after close message.', 'Clean close with normal code, no pong.', cleanClose(), (run) => {
    run.p.sendClose(NORMAL)
    run.p.sendFrame({ opcode: Op.Ping })
  }),
  closeCase('7.1.4', 'Send text message after sending a close frame.', 'Clean close with normal code. Text message ignored.', cleanClose(), (run) => {
    run.p.sendClose(NORMAL)
    run.p.sendFrame({ opcode: Op.Text, payload: 'Hello World!' })
  }),
  closeCase('7.1.5', 'Send message fragment1 followed by close then fragment.', 'Clean close with normal code.', cleanClose(), (run) => {
    run.p.sendFrame({ opcode: Op.Text, fin: false, payload: frag1 })
    run.p.sendClose(NORMAL)
    run.p.sendFrame({ opcode: Op.Continuation, fin: true, payload: frag2 })
  }),
  define(
    '7.1.6',
    'Send 256K message followed by close then a ping.',
    'Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. If the close frame is processed before the text message write is complete (as can happen in asynchronous processing models) the close frame is processed first and the text message may not be received or may only be partially received.',
    (run) => {
      run.suppressClose = true
      run.expected.set('OK', [['message', utf8('Hello World!'), false]])
      run.expected.set('NON-STRICT', [])
      run.expectedClose = cleanClose()
      run.p.sendFrame({ opcode: Op.Text, payload: 'BAsd7&jh23', payloadLength: 256 * 1024 })
      run.p.sendFrame({ opcode: Op.Text, payload: 'Hello World!' })
      run.p.sendClose(NORMAL)
      run.p.sendFrame({ opcode: Op.Ping })
      run.p.killAfter(1)
    },
    {
      onConnectionLost: (run) => {
        const messages = run.received.filter((event) => event[0] === 'message').length
        run.informational(
          messages === 2
            ? 'Both text messages were processed (and echoed) before the close.'
            : `Close was processed before all text messages could be returned (${messages} of 2 echoed).`,
        )
      },
    },
  ),
  closeCase(
    '7.3.1',
    'Send a close frame with payload length 0 (no close code, no close reason).',
    'Clean close with normal code.',
    cleanClose(),
    (run) => run.p.sendCloseFrame(),
  ),
  closeCase(
    '7.3.2',
    'Send a close frame with payload length 1.',
    'Clean close with protocol error or drop TCP.',
    { closedByMe: true, closeCode: [PROTOCOL_ERROR], requireClean: false },
    (run) => run.p.sendCloseFrame(null, utf8('a')),
  ),
  closeCase('7.3.3', 'Send a close frame with payload length 2 (regular close with a code).', 'Clean close with normal code.', cleanClose(), (run) =>
    run.p.sendClose(NORMAL),
  ),
  closeCase('7.3.4', 'Send a close frame with close code and close reason.', 'Clean close with normal code.', cleanClose(), (run) =>
    run.p.sendClose(NORMAL, 'Hello World!'),
  ),
  closeCase(
    '7.3.5',
    'Send a close frame with close code and close reason of maximum length (123).',
    'Clean close with normal code.',
    cleanClose(),
    (run) => run.p.sendClose(NORMAL, '*'.repeat(123)),
  ),
  closeCase(
    '7.3.6',
    'Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets.',
    'Clean close with protocol error code or dropped TCP connection.',
    { closedByMe: true, closeCode: [PROTOCOL_ERROR], requireClean: false },
    (run) => run.p.sendCloseFrame(NORMAL, utf8('*'.repeat(124))),
  ),
  closeCase(
    '7.5.1',
    'Send a close frame with invalid UTF8 payload.',
    'Clean close with protocol error or invalid utf8 code or dropped TCP.',
    { closedByMe: true, closeCode: [PROTOCOL_ERROR, INVALID_PAYLOAD], requireClean: false },
    (run) => run.p.sendCloseFrame(NORMAL, invalidSurrogate),
  ),
)
const validCloseCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
validCloseCodes.forEach((code, i) => {
  add(
    closeCase(
      `7.7.${i + 1}`,
      `Send close with valid close code ${code}.`,
      'Clean close with normal or echoed code.',
      { closedByMe: true, closeCode: [NORMAL, code], requireClean: true },
      (run) => run.p.sendCloseFrame(code),
    ),
  )
})

/**
 * Autobahn's list of invalid close codes. Its source since crossbario/autobahn-testsuite#89 (what
 * 0.8.x installs) no longer lists 1014 and 1015, which the IANA registry assigned; images built
 * before it test them as 7.9.6 and 7.9.7 (`legacyInvalidCloseCodes`, `--legacy-7-9`).
 */
export const invalidCloseCodes = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]
export const legacyInvalidCloseCodes = [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999]

function invalidCloseCodeCases(codes: number[]): CaseDefinition[] {
  return codes.map((code, i) =>
    closeCase(
      `7.9.${i + 1}`,
      `Send close with invalid close code ${code}.`,
      'Clean close with protocol error code or drop TCP.',
      { closedByMe: true, closeCode: [PROTOCOL_ERROR], requireClean: false },
      (run) => run.p.sendCloseFrame(code),
    ),
  )
}
add(...invalidCloseCodeCases(invalidCloseCodes))
for (const [id, code] of [
  ['7.13.1', 5000],
  ['7.13.2', 65535],
] as const) {
  add(
    define(
      id,
      `Send close with close code ${code}.`,
      'Actual events are undefined by the spec.',
      (run) => {
        run.suppressClose = true
        run.expected.set('OK', [])
        run.expectedClose = { closedByMe: true, closeCode: [NORMAL, code, PROTOCOL_ERROR], requireClean: false }
        run.p.sendCloseFrame(code)
        run.p.killAfter(1)
      },
      { onConnectionLost: (run) => run.informational('Actual events are undefined by the spec.') },
    ),
  )
}

// ---- 9 Limits/Performance ----

const KiB = 1024
const MiB = 1024 * KiB
const textPattern = utf8('BAsd7&jh23')
const binaryPattern = hex('00fe23faf0')

/**
 * A big message case: the echo must come back whole (Autobahn checks the length; we check the
 * bytes too). The payload is made when the case runs, so loading the cases costs no memory.
 */
function bigMessage(
  id: string,
  description: string,
  binary: boolean,
  makePayload: () => Buffer,
  waitSeconds: number,
  send: (run: CaseRun, payload: Buffer) => void,
  fullOnly: boolean,
): CaseDefinition {
  const kind = binary ? 'binary' : 'text'
  return define(
    id,
    description,
    `Receive echo'ed ${kind} message (with payload as sent).`,
    (run) => {
      run.behavior = 'FAILED'
      run.result = `Did not receive message within ${waitSeconds} seconds.`
      run.expectedClose = cleanClose()
      run.vars.payload = makePayload()
      send(run, run.vars.payload)
      run.p.closeAfter(waitSeconds)
    },
    {
      fullOnly,
      onMessage: (run, received, isBinary) => {
        const payload: Buffer = run.vars.payload
        if (isBinary !== binary) {
          run.result = `Expected ${kind} message with payload, but got ${isBinary ? 'binary' : 'text'}.`
        } else if (received.length !== payload.length) {
          run.result = `Expected ${kind} message with payload of length ${payload.length}, but got ${received.length}.`
        } else if (!received.equals(payload)) {
          run.result = `Received ${kind} message of length ${received.length}, but its contents differ from what was sent.`
        } else {
          run.behavior = 'OK'
          run.result = `Received ${kind} message of length ${received.length}.`
        }
        run.vars.payload = null
        run.p.sendClose(NORMAL)
      },
    },
  )
}

/** The cases `npm test` runs from group 9 (the rest only in `npm run conformance`). */
export const representative9 = new Set(['9.1.1', '9.1.6', '9.2.1', '9.2.6', '9.3.1', '9.3.9', '9.4.1', '9.4.9', '9.5.1', '9.5.6', '9.6.1', '9.7.1', '9.7.6', '9.8.1', '9.8.6'])

const messageSizes: Array<[number, string, number]> = [
  [64 * KiB, '64k', 10],
  [256 * KiB, '256k', 10],
  [1 * MiB, '1M', 20],
  [4 * MiB, '4M', 60],
  [8 * MiB, '8M', 100],
  [16 * MiB, '16M', 100],
]
for (const binary of [false, true]) {
  messageSizes.forEach(([size, label, wait], i) => {
    const id = `9.${binary ? 2 : 1}.${i + 1}`
    add(
      bigMessage(
        id,
        `Send ${binary ? 'binary' : 'text'} message with payload of length ${label}.`,
        binary,
        () => repeatTo(binary ? binaryPattern : textPattern, size),
        wait,
        (run, payload) => run.p.sendFrame({ opcode: binary ? Op.Binary : Op.Text, payload }),
        !representative9.has(id),
      ),
    )
  })
}
const fragmentSizes: Array<[number, string]> = [
  [64, '64'],
  [256, '256'],
  [1 * KiB, '1k'],
  [4 * KiB, '4k'],
  [16 * KiB, '16k'],
  [64 * KiB, '64k'],
  [256 * KiB, '256k'],
  [1 * MiB, '1M'],
  [4 * MiB, '4M'],
]
for (const binary of [false, true]) {
  fragmentSizes.forEach(([fragmentSize, label], i) => {
    const id = `9.${binary ? 4 : 3}.${i + 1}`
    add(
      bigMessage(
        id,
        `Send fragmented ${binary ? 'binary' : 'text'} message with message payload of length 4M. Sent out in fragments of ${label}.`,
        binary,
        () => Buffer.alloc(4 * MiB, binary ? 0xfe : 0x2a),
        100,
        (run, payload) => run.p.sendMessage(payload, { binary, fragmentSize }),
        !representative9.has(id),
      ),
    )
  })
}
for (const binary of [false, true]) {
  ;[64, 128, 256, 512, 1024, 2048].forEach((chopsize, i) => {
    const id = `9.${binary ? 6 : 5}.${i + 1}`
    add(
      bigMessage(
        id,
        `Send ${binary ? 'binary' : 'text'} message with payload of length 1M. Sent out data in chops of ${chopsize} octets.`,
        binary,
        () => repeatTo(binary ? binaryPattern : textPattern, 1 * MiB),
        1000,
        (run, payload) => run.p.sendFrame({ opcode: binary ? Op.Binary : Op.Text, payload, chopsize }),
        !representative9.has(id),
      ),
    )
  })
}
const roundTrips: Array<[number, number, number]> = [
  [0, 1000, 60],
  [16, 1000, 60],
  [64, 1000, 60],
  [256, 1000, 120],
  [1024, 1000, 240],
  [4096, 1000, 480],
]
for (const binary of [false, true]) {
  roundTrips.forEach(([size, count, wait], i) => {
    const id = `9.${binary ? 8 : 7}.${i + 1}`
    const kind = binary ? 'binary' : 'text'
    const payload = Buffer.alloc(size, binary ? 0xfe : 0x2a)
    const sendOne = (run: CaseRun): void => {
      run.p.sendFrame({ opcode: binary ? Op.Binary : Op.Text, payload })
      run.vars.sent = (run.vars.sent ?? 0) + 1
    }
    add(
      define(
        id,
        `Send ${count} ${kind} messages of payload size ${size} to measure implementation/network RTT (round trip time) / latency.`,
        `Receive echo'ed ${kind} messages (with payload as sent). Timeout case after ${wait} secs.`,
        (run) => {
          run.behavior = 'FAILED'
          run.result = `Case did not finish within ${wait} seconds.`
          run.expectedClose = cleanClose()
          run.p.closeAfter(wait)
          sendOne(run)
        },
        {
          fullOnly: !representative9.has(id),
          onMessage: (run, received, isBinary) => {
            if (isBinary !== binary || !received.equals(payload)) {
              run.behavior = 'FAILED'
              run.result = `Echo'ed message type or payload differs from what I sent (got binary = ${isBinary}, payload length = ${received.length}).`
              run.p.sendClose(NORMAL)
            } else if (run.vars.sent < count) {
              sendOne(run)
            } else {
              run.behavior = 'OK'
              run.result = 'Ok, received all echo\'ed messages in time.'
              run.p.sendClose(NORMAL)
            }
          },
        },
      ),
    )
  })
}

// ---- 10 Misc: auto-fragmentation ----

add(
  define(
    '10.1.1',
    'Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.',
    "Receive echo'ed text message (with payload as sent and transmitted frame counts as expected). Clean close with normal code.",
    (run) => {
      const payload = Buffer.alloc(65536, '*')
      run.expected.set('OK', [['message', payload, false]])
      run.expectedClose = cleanClose()
      run.p.sendMessage(payload, { fragmentSize: 1300 })
      run.p.killAfter(10)
    },
    {
      onConnectionLost: (run) => {
        const continuations = run.p.txFrames.get(Op.Continuation) ?? 0
        const texts = run.p.txFrames.get(Op.Text) ?? 0
        if (continuations !== Math.floor(65536 / 1300) || texts !== 1) {
          run.behavior = 'FAILED'
          run.result = `Frames transmitted {0: ${continuations}, 1: ${texts}} does not match what we expected {0: 50, 1: 1}.`
        }
      },
    },
  ),
)

// ---- 12, 13 permessage-deflate (RFC 7692) ----
//
// Autobahn's compression cases: a series of compressed messages, each sent once the previous
// one came back, every echo compared byte for byte; then a clean close. Group 12 varies the
// payload (at the default offer), group 13 the negotiated parameters. Autobahn sends 1,000
// messages per case; we send 100 (20 from 32 KiB up): enough for context takeover to span many
// messages, at a fraction of the time.

/** (size, fragment size; 0 = one frame) of each case in a group: Autobahn's 18 per group. */
const deflateSizes: ReadonlyArray<readonly [number, number]> = [
  [16, 0], [64, 0], [256, 0], [1024, 0], [4096, 0], [8192, 0], [16384, 0], [32768, 0], [65536, 0], [131072, 0],
  [8192, 256], [16384, 256], [32768, 256], [65536, 256], [131072, 256], [65536, 4096], [131072, 4096], [131072, 32768],
]

/** A small xorshift generator: payloads differ from message to message, deterministically. */
function seeded(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

const deflateWords = 'the quick brown fox jumps over lazy dog websocket frame message compression window context takeover deflate'.split(' ')

/** Autobahn 12.1–12.5's payload kinds: repetitive text, prose, JSON, structured binary, random binary. */
const deflatePayloads: ReadonlyArray<readonly [string, boolean, (size: number, seed: number) => Buffer]> = [
  ['artificial text (a small alphabet)', false, (size, seed) => {
    const random = seeded(seed)
    const out = Buffer.alloc(size)
    for (let i = 0; i < size; i++) out[i] = 0x61 + (random() % 8)
    return out
  }],
  ['prose', false, (size, seed) => {
    const random = seeded(seed)
    let text = ''
    while (text.length < size) text += deflateWords[random() % deflateWords.length] + (random() % 9 === 0 ? '. ' : ' ')
    return utf8(text.slice(0, size))
  }],
  ['JSON', false, (size, seed) => {
    const random = seeded(seed)
    const items: string[] = []
    let length = 2
    while (length < size) {
      const item = JSON.stringify({ id: random() % 100000, name: deflateWords[random() % deflateWords.length], ok: random() % 2 === 0 })
      items.push(item)
      length += item.length + 1
    }
    return utf8(`[${items.join(',')}]`.padEnd(size, ' ').slice(0, size))
  }],
  ['structured binary', true, (size, seed) => {
    const out = Buffer.alloc(size)
    for (let i = 0; i < size; i++) out[i] = ((i >> 2) + seed) & (i % 7 === 0 ? 0xff : 0x0f)
    return out
  }],
  ['random binary (incompressible)', true, (size, seed) => {
    const random = seeded(seed)
    const out = Buffer.alloc(size)
    for (let i = 0; i < size; i++) out[i] = random() & 0xff
    return out
  }],
]

/** Autobahn 13.1–13.7: the offers (no context takeover, server max window bits) of each group. */
const deflateParameterSets: ReadonlyArray<readonly DeflateRequest[]> = [
  [[false, 0]],
  [[true, 0]],
  [[false, 8]],
  [[false, 15]],
  [[true, 8]],
  [[true, 15]],
  [[true, 8], [true, 0], [false, 0]],
]

function deflateCase(
  id: string,
  kind: string,
  binary: boolean,
  make: (size: number, seed: number) => Buffer,
  size: number,
  fragmentSize: number,
  offers: readonly DeflateRequest[],
): CaseDefinition {
  const count = size >= 32768 ? 20 : 100
  const fragments = fragmentSize === 0 ? '' : `, auto-fragmented to ${fragmentSize} octets`
  const parameters = offers.map(([noContext, bits]) => `(${noContext ? 'no context takeover' : 'context takeover'}, ${bits === 0 ? 'any window' : `window ${bits}`})`).join(', ')
  return define(
    id,
    `Send ${count} compressed ${kind} messages of ${size} octets${fragments}, each after the previous one's echo. permessage-deflate offers: ${parameters}.`,
    `Receive every message echoed as sent. Clean close with normal code.`,
    (run) => {
      run.behavior = 'FAILED'
      run.expectedClose = cleanClose()
      if (!run.p.compressionNegotiated) {
        run.result = 'permessage-deflate was not negotiated.'
        run.p.sendClose(NORMAL)
        return
      }
      run.result = 'Did not receive every echo in time.'
      run.vars.sent = 0
      run.vars.next = (): void => {
        run.vars.payload = make(size, run.vars.sent++)
        run.p.sendMessage(run.vars.payload, { binary, compress: true, fragmentSize: fragmentSize === 0 ? undefined : fragmentSize })
      }
      run.vars.next()
      run.p.closeAfter(60)
    },
    {
      deflate: { offers },
      // `npm test` runs the cases up to 8 KiB (7 of each group); `npm run conformance` all of them.
      fullOnly: size > 8192,
      onMessage: (run, received, isBinary) => {
        const payload: Buffer = run.vars.payload
        if (isBinary !== binary || !received.equals(payload)) {
          run.result = `Message ${run.vars.sent} came back ${isBinary !== binary ? 'with the wrong type' : `different (${received.length} octets, ${payload.length} sent)`}.`
          run.p.sendClose(NORMAL)
        } else if (run.vars.sent < count) {
          run.vars.next()
        } else {
          run.behavior = 'OK'
          run.result = `Received all ${count} messages echoed as sent.`
          run.p.sendClose(NORMAL)
        }
      },
    },
  )
}

deflatePayloads.forEach(([kind, binary, make], group) => {
  deflateSizes.forEach(([size, fragmentSize], i) => {
    add(deflateCase(`12.${group + 1}.${i + 1}`, kind, binary, make, size, fragmentSize, [[false, 0]]))
  })
})
deflateParameterSets.forEach((offers, group) => {
  deflateSizes.forEach(([size, fragmentSize], i) => {
    add(deflateCase(`13.${group + 1}.${i + 1}`, 'artificial text', false, deflatePayloads[0][2], size, fragmentSize, offers))
  })
})

/** All cases in Autobahn's order. */
export const allCases: readonly CaseDefinition[] = cases

/** The case list with the older 7.9.x (1014 and 1015 tested as invalid). */
export function withLegacyInvalidCloseCodes(list: readonly CaseDefinition[]): CaseDefinition[] {
  const first = list.findIndex((definition) => definition.id.startsWith('7.9.'))
  const rest = list.filter((definition) => !definition.id.startsWith('7.9.'))
  rest.splice(first, 0, ...invalidCloseCodeCases(legacyInvalidCloseCodes))
  return rest
}

/**
 * The cases to run: those matching Autobahn-style patterns ("6.4.*", "9.*", "1.1.1") when some are
 * given, else all of them (`full`) or all but the long 9.x cases outside the representative subset.
 */
export function selectCases(list: readonly CaseDefinition[], patterns: string[] | undefined, full: boolean): CaseDefinition[] {
  if (patterns === undefined || patterns.length === 0) return list.filter((definition) => full || !definition.fullOnly)
  const regexes = patterns.map((pattern) => new RegExp(`^${pattern.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`))
  return list.filter((definition) => regexes.some((regex) => regex.test(definition.id)))
}

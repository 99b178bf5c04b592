// The chat page: plain browser JavaScript, no build step. It speaks chat.v2 to
// /chat/<room>?nick=<name>: JSON events {"event", "data"}. To share a file it sends a `file`
// event and then the bytes as one binary message; a file shared in the room arrives as one
// binary message with its description in front (see onFile).

const PROTOCOL = 'chat.v2'
/** Images the page shows inline; anything else (SVG included) is offered as a download. */
const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif'])
const TYPING_REFRESH_MS = 2500
const TYPING_IDLE_MS = 4000
const TYPING_EXPIRES_MS = 6000
/** An error banner clears itself after this long, or at the next of the user's own messages. */
const ERROR_CLEARS_MS = 8000
/** The composer grows with its text up to this height, then scrolls. */
const COMPOSER_MAX_PX = 160

const $ = (id) => document.getElementById(id)
const ui = {
  rooms: $('rooms'),
  newRoom: $('new-room'),
  newRoomName: $('new-room-name'),
  members: $('members'),
  memberCount: $('member-count'),
  status: $('status'),
  statusText: $('status-text'),
  roomTitle: $('room-title'),
  protocol: $('protocol'),
  leave: $('leave'),
  join: $('join'),
  joinForm: $('join-form'),
  joinRoom: $('join-room'),
  nick: $('nick'),
  joinError: $('join-error'),
  messages: $('messages'),
  bottom: $('bottom'),
  typing: $('typing'),
  error: $('error'),
  errorText: $('error-text'),
  errorClose: $('error-close'),
  offline: $('offline'),
  offlineText: $('offline-text'),
  rejoin: $('rejoin'),
  counter: $('counter'),
  composer: $('composer'),
  file: $('file'),
  text: $('text'),
  send: $('send'),
}

const state = {
  /** The open (or opening) WebSocket, if any. */
  ws: null,
  room: 'lobby',
  nick: '',
  joined: false,
  limits: null,
  /** nick → timer that forgets they were typing. */
  typers: new Map(),
  typingSentAt: 0,
  typingIdle: 0,
  rooms: [],
  /** The text of the last `say`, put back in the input if the server refuses it. */
  lastSaid: '',
  errorTimer: 0,
  /** The connection to a joined room was lost: its transcript stays on screen, greyed. */
  offline: false,
}

// ---- connection ----

function connect(room, nick) {
  // Joining again from the disconnected view keeps the old transcript until the room answers.
  const rejoining = state.offline && room === state.room
  if (rejoining) state.ws = null
  else disconnect()
  state.room = room
  state.nick = nick
  renderRoomTitle()
  setStatus('connecting', `Connecting to #${room}…`)
  hideJoinError()
  if (rejoining) showOffline(`Connecting to #${room}…`, false)

  const url = new URL(`/chat/${encodeURIComponent(room)}`, location.href)
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
  // An empty nickname is sent as none: the server's guard decides, and answers 401.
  if (nick !== '') url.searchParams.set('nick', nick)

  const ws = new WebSocket(url, [PROTOCOL])
  // Files arrive as one binary message with their description in front (onFile): read at once,
  // so a file keeps its place in the transcript among the text events around it.
  ws.binaryType = 'arraybuffer'
  state.ws = ws
  let opened = false

  ws.addEventListener('open', () => {
    opened = true
    ui.protocol.textContent = ws.protocol || 'no subprotocol'
    // What the browser and the server agreed on (permessage-deflate): shown on hover.
    ui.protocol.dataset.extensions = ws.extensions
    ui.protocol.title = ws.extensions || 'no extensions'
    ui.protocol.hidden = false
    send('join', { history: 50 })
  })

  ws.addEventListener('message', (message) => {
    if (state.ws !== ws) return
    if (typeof message.data === 'string') onEvent(JSON.parse(message.data))
    else onFile(message.data)
  })

  ws.addEventListener('close', (close) => {
    if (state.ws !== ws) return
    state.ws = null
    if (!opened) {
      if (!state.offline) leaveRoomView()
      return onRefused(nick)
    }
    const why = close.code === 1001 ? 'the server is shutting down' : close.reason || 'the connection was lost'
    setStatus('offline', `Disconnected (${close.code})`)
    const text = `Disconnected from #${room}: ${why} (close code ${close.code}).`
    if (state.joined) return enterOfflineView(text)
    leaveRoomView()
    showJoinError(`${text} Join again when it is back.`)
  })
}

function disconnect() {
  const ws = state.ws
  state.ws = null
  if (ws !== null && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'leaving')
  leaveRoomView()
}

/**
 * A WebSocket that closes before it opened was refused during the handshake (or never reached
 * the server); browsers hide the HTTP status from scripts. The page never offers a path or
 * protocol the server would refuse, so a refusal is the nickname guard's 401: say so, after
 * checking that the server is there at all.
 */
async function onRefused(nick) {
  let reachable = false
  try {
    reachable = (await fetch('/api/rooms', { cache: 'no-store' })).ok
  } catch {
    // unreachable
  }
  if (!reachable) {
    setStatus('offline', 'Server unreachable')
    if (state.offline) return showOffline('Still cannot reach the server. Is `npm start` running again?', true)
    return showJoinError('Cannot reach the server. Is `npm start` still running?')
  }
  setStatus('offline', 'Refused (401)')
  if (state.offline) leaveRoomView()
  showJoinError(
    nick === ''
      ? 'Refused by the server (HTTP 401 at the handshake): a nickname is required.'
      : `Refused by the server (HTTP 401 at the handshake): "${nick}" is not a valid nickname. Use 1 to 24 letters, digits, spaces, "_", "." or "-".`,
  )
}

function send(event, data) {
  if (state.ws === null || state.ws.readyState !== WebSocket.OPEN) return false
  state.ws.send(JSON.stringify({ event, data }))
  return true
}

// ---- events from the server ----

function onEvent({ event, data }) {
  switch (event) {
    case 'joined':
      state.joined = true
      state.limits = data.limits
      enterRoomView(data)
      break
    case 'message':
      stopTyping(data.nick)
      // Our own message came back: whatever was refused before is behind us.
      if (data.nick === state.nick) hideError()
      addMessage(data)
      break
    case 'presence':
      renderMembers(data.members)
      if (data.joined) addNotice(`${data.joined} joined`)
      if (data.left) {
        stopTyping(data.left)
        addNotice(`${data.left} left`)
      }
      break
    case 'typing':
      if (data.typing) startTyping(data.nick)
      else stopTyping(data.nick)
      break
    case 'rooms':
      renderRooms(data)
      break
    case 'error':
      if (data.event === 'say' && ui.text.value === '') {
        ui.text.value = state.lastSaid
        composerChanged()
      }
      showError(data)
      break
  }
}

/**
 * A shared file: one binary message with a 4-byte big-endian length, that many bytes of JSON
 * describing the file (name, type, size, who shared it), then the file's bytes.
 */
function onFile(buffer) {
  const length = new DataView(buffer, 0, 4).getUint32(0)
  const file = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)))
  stopTyping(file.nick)
  if (file.nick === state.nick) hideError()
  addFile(file, new Uint8Array(buffer, 4 + length))
}

// ---- rendering ----

/** The room (transcript and composer) or the join form; either way, not the disconnected view. */
function showView(view) {
  state.offline = false
  ui.offline.hidden = true
  ui.composer.hidden = false
  ui.messages.classList.remove('disconnected')
  ui.join.hidden = view === 'room'
  ui.messages.hidden = ui.bottom.hidden = view !== 'room'
}

function enterRoomView({ room, nick, members, history: past }) {
  showView('room')
  ui.messages.replaceChildren()
  for (const message of past) addMessage(message)
  addNotice(past.length > 0 ? `You joined #${room} · the last ${past.length} messages are above` : `You joined #${room}`)
  renderMembers(members)
  setStatus('online', `Connected as ${nick}`)
  ui.text.disabled = ui.send.disabled = ui.file.disabled = false
  ui.text.placeholder = `Message #${room}`
  composerChanged()
  ui.leave.hidden = false
  ui.text.focus()
  localStorage.setItem('gatewire-chat-nick', nick)
  history.replaceState(null, '', `?room=${encodeURIComponent(room)}`)
  renderRooms(state.rooms)
}

function leaveRoomView() {
  stopRoom()
  showView('join')
}

/**
 * The connection to the joined room was lost: the transcript stays (greyed) with what happened
 * and a way back; what was live (members, typing, room counts) is cleared, since it is stale.
 */
function enterOfflineView(text) {
  stopRoom()
  state.offline = true
  ui.messages.classList.add('disconnected')
  addNotice(text)
  ui.composer.hidden = true
  showOffline(`${text} The transcript above is what you saw until then.`, true)
  state.rooms = state.rooms.map((r) => ({ ...r, members: 0 }))
  renderRooms(state.rooms)
}

function showOffline(text, canRejoin) {
  ui.offlineText.textContent = text
  ui.rejoin.hidden = !canRejoin
  ui.offline.hidden = false
}

/** What stops with the room's connection, whichever view follows. */
function stopRoom() {
  state.joined = false
  for (const timer of state.typers.values()) clearTimeout(timer)
  state.typers.clear()
  renderTyping()
  ui.protocol.hidden = true
  ui.leave.hidden = true
  ui.text.disabled = ui.send.disabled = ui.file.disabled = true
  ui.text.placeholder = 'Join a room to chat'
  renderMembers([])
  hideError()
}

function renderRoomTitle() {
  ui.roomTitle.textContent = `#${state.room}`
  ui.joinRoom.textContent = `#${state.room}`
  renderRooms(state.rooms)
}

function renderRooms(rooms) {
  state.rooms = rooms
  const items = rooms.some((r) => r.name === state.room) ? rooms : [...rooms, { name: state.room, members: 0 }]
  ui.rooms.replaceChildren(
    ...items.map(({ name, members }) => {
      const button = el('button', { type: 'button', className: 'room' }, el('span', { textContent: `#${name}` }))
      if (members > 0) button.append(el('span', { className: 'count', textContent: String(members) }))
      if (name === state.room) button.setAttribute('aria-current', 'true')
      button.addEventListener('click', () => selectRoom(name))
      return el('li', {}, button)
    }),
  )
}

function renderMembers(members) {
  ui.memberCount.textContent = members.length > 0 ? String(members.length) : ''
  if (members.length === 0) return ui.members.replaceChildren(el('li', { className: 'empty', textContent: 'Nobody yet' }))
  ui.members.replaceChildren(
    ...members.map((nick) =>
      el(
        'li',
        { className: 'member' },
        avatar(nick),
        el('span', { className: 'name', textContent: nick }),
        nick === state.nick ? el('span', { className: 'you', textContent: 'you' }) : '',
      ),
    ),
  )
}

function addMessage({ nick, text, at, via }) {
  const meta = el('div', { className: 'meta' }, el('span', { className: 'author', textContent: nick }), el('time', { textContent: clock(at) }))
  if (via === 'chat.v1') meta.append(el('span', { className: 'badge small', textContent: 'chat.v1', title: 'sent over the older protocol' }))
  append(messageItem(nick, at, meta, el('p', { className: 'text', textContent: text })))
}

function addFile({ nick, name, type, size, at }, blob) {
  const meta = el('div', { className: 'meta' }, el('span', { className: 'author', textContent: nick }), el('time', { textContent: clock(at) }))
  const inline = INLINE_IMAGES.has(type)
  // Anything not shown inline is served back as an opaque download, never rendered in this origin.
  const url = URL.createObjectURL(new Blob([blob], { type: inline ? type : 'application/octet-stream' }))
  const details = `${formatSize(size)} · ${type}`
  const link = el(
    'a',
    { className: 'file-link', href: url, download: name, title: `Download ${name}` },
    downloadIcon(),
    el('span', { className: 'file-text' }, el('span', { className: 'file-name', textContent: name }), el('span', { className: 'file-size', textContent: details })),
    el('span', { className: 'file-action', textContent: 'Download' }),
  )
  link.setAttribute('aria-label', `Download ${name} (${details})`)
  const content = el('div', { className: 'file' })
  if (inline) content.append(el('img', { src: url, alt: name, className: 'shared-image' }))
  content.append(link)
  append(messageItem(nick, at, meta, content))
}

/** A message row; one that follows its author's previous one closely is drawn as its continuation. */
function messageItem(nick, at, meta, content) {
  const item = el('li', { className: nick === state.nick ? 'message mine' : 'message' }, avatar(nick), el('div', { className: 'body' }, meta, content))
  item.dataset.nick = nick
  item.dataset.at = String(at)
  const previous = ui.messages.lastElementChild
  if (previous?.classList.contains('message') && previous.dataset.nick === nick && at - Number(previous.dataset.at) < 5 * 60_000) {
    item.classList.add('continued')
  }
  return item
}

function addNotice(text) {
  append(el('li', { className: 'notice', textContent: text }))
}

function append(item) {
  const list = ui.messages
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40
  list.append(item)
  if (atBottom || item.classList.contains('mine')) list.scrollTop = list.scrollHeight
  const image = item.querySelector('img')
  if (image !== null) image.addEventListener('load', () => (list.scrollTop = list.scrollHeight), { once: true })
}

function startTyping(nick) {
  clearTimeout(state.typers.get(nick))
  // A client that vanished mid-sentence stops "typing" on its own.
  state.typers.set(nick, setTimeout(() => stopTyping(nick), TYPING_EXPIRES_MS))
  renderTyping()
}

function stopTyping(nick) {
  if (!state.typers.has(nick)) return
  clearTimeout(state.typers.get(nick))
  state.typers.delete(nick)
  renderTyping()
}

function renderTyping() {
  const nicks = [...state.typers.keys()]
  ui.typing.textContent =
    nicks.length === 0 ? '' : nicks.length === 1 ? `${nicks[0]} is typing…` : nicks.length === 2 ? `${nicks[0]} and ${nicks[1]} are typing…` : 'Several people are typing…'
}

/** Gatewire's error event: `{ event, message, errors: [{ property, constraints }] }`. */
function showError({ event, message, errors }) {
  const reasons = (errors ?? []).flatMap((e) => Object.values(e.constraints ?? {}))
  const what = event === 'say' ? 'Message not sent' : event === 'file' || event === null ? 'File not shared' : `“${event}” refused`
  ui.errorText.replaceChildren(el('strong', { textContent: `${what}: ` }), reasons.length > 0 ? reasons.join('; ') : message)
  ui.error.hidden = false
  clearTimeout(state.errorTimer)
  state.errorTimer = setTimeout(hideError, ERROR_CLEARS_MS)
}

function showLocalError(what, reason) {
  showError({ event: what, message: reason, errors: [] })
}

function hideError() {
  clearTimeout(state.errorTimer)
  ui.error.hidden = true
}

function showJoinError(text) {
  ui.joinError.textContent = text
  ui.joinError.hidden = false
}

function hideJoinError() {
  ui.joinError.hidden = true
}

function setStatus(kind, text) {
  ui.status.dataset.state = kind
  ui.statusText.textContent = text
}

// ---- user actions ----

function selectRoom(name) {
  if (name === state.room && state.ws !== null) return
  if (state.offline && name !== state.room) leaveRoomView()
  if (state.joined || state.ws !== null) connect(name, state.nick)
  else {
    state.room = name
    renderRoomTitle()
    history.replaceState(null, '', `?room=${encodeURIComponent(name)}`)
  }
}

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault()
  connect(state.room, ui.nick.value.trim())
})

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault()
  // No client-side checks: the server's DTO validation answers, and the answer is shown.
  if (!send('say', { text: ui.text.value })) return
  state.lastSaid = ui.text.value
  hideError()
  ui.text.value = ''
  composerChanged()
  typingStopped()
})

// Enter sends, Shift+Enter starts a new line (not while an input method is composing).
ui.text.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return
  event.preventDefault()
  ui.composer.requestSubmit()
})

ui.text.addEventListener('input', () => {
  composerChanged()
  if (ui.text.value.trim() === '') return typingStopped()
  const now = Date.now()
  if (now - state.typingSentAt > TYPING_REFRESH_MS && send('typing', { typing: true })) state.typingSentAt = now
  clearTimeout(state.typingIdle)
  state.typingIdle = setTimeout(typingStopped, TYPING_IDLE_MS)
})

function typingStopped() {
  clearTimeout(state.typingIdle)
  if (state.typingSentAt !== 0) send('typing', { typing: false })
  state.typingSentAt = 0
}

ui.file.addEventListener('change', () => {
  const file = ui.file.files[0]
  ui.file.value = ''
  if (file === undefined) return
  const max = state.limits?.maxFileSize ?? Infinity
  // Checked here too: a message over the server's limit would close the connection (1009).
  if (file.size > max) return showLocalError('file', `${file.name} is ${formatSize(file.size)}; files are at most ${formatSize(max)}`)
  if (file.size === 0) return showLocalError('file', `${file.name} is empty`)
  const name = file.name.slice(0, state.limits?.maxFileNameLength ?? 120)
  if (send('file', { name, type: file.type || 'application/octet-stream', size: file.size })) {
    state.ws.send(file)
    hideError()
  }
})

ui.newRoom.addEventListener('submit', (event) => {
  event.preventDefault()
  const name = ui.newRoomName.value
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
  ui.newRoomName.value = ''
  if (name !== '') selectRoom(name)
})

ui.leave.addEventListener('click', () => {
  disconnect()
  setStatus('offline', 'Not connected')
})

ui.errorClose.addEventListener('click', hideError)

ui.rejoin.addEventListener('click', () => connect(state.room, state.nick))

/**
 * Grows the composer with its text and counts characters the way the server's @MaxLength does
 * (after trimming, one per code point), against the limit the server sent when we joined. Over
 * it, the counter says so; sending is left to the server, whose refusal is shown as it comes.
 */
function composerChanged() {
  ui.text.style.height = 'auto'
  ui.text.style.height = `${Math.min(ui.text.scrollHeight, COMPOSER_MAX_PX)}px`
  const limit = state.limits?.maxTextLength
  const length = [...ui.text.value.trim()].length
  if (limit === undefined || length === 0) {
    ui.counter.hidden = true
    ui.text.removeAttribute('aria-invalid')
    return
  }
  const over = length - limit
  ui.counter.hidden = false
  ui.counter.textContent = over > 0 ? `${length}/${limit} · ${over} too many` : `${length}/${limit}`
  ui.counter.dataset.level = over > 0 ? 'over' : length >= limit * 0.9 ? 'near' : ''
  ui.counter.title = over > 0 ? `The server accepts at most ${limit} characters` : `${limit - length} characters left`
  ui.text.setAttribute('aria-invalid', String(over > 0))
}

// ---- helpers ----

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props)
  node.append(...children)
  return node
}

function downloadIcon() {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('width', '20')
  svg.setAttribute('height', '20')
  svg.setAttribute('aria-hidden', 'true')
  svg.classList.add('file-icon')
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path')
  path.setAttribute('d', 'M12 4v11m0 0-4.5-4.5M12 15l4.5-4.5M5 19h14')
  path.setAttribute('fill', 'none')
  path.setAttribute('stroke', 'currentColor')
  path.setAttribute('stroke-width', '1.8')
  path.setAttribute('stroke-linecap', 'round')
  path.setAttribute('stroke-linejoin', 'round')
  svg.append(path)
  return svg
}

function avatar(nick) {
  let hash = 0
  for (const ch of nick) hash = (hash * 31 + ch.codePointAt(0)) >>> 0
  const node = el('span', { className: 'avatar', textContent: [...nick][0].toUpperCase(), ariaHidden: 'true' })
  node.style.setProperty('--hue', String(hash % 360))
  return node
}

function clock(at) {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

// ---- start ----

const params = new URLSearchParams(location.search)
const requestedRoom = (params.get('room') ?? '').toLowerCase()
if (/^[a-z0-9][a-z0-9-]{0,31}$/.test(requestedRoom)) state.room = requestedRoom
ui.nick.value = params.get('nick') ?? localStorage.getItem('gatewire-chat-nick') ?? ''
renderRoomTitle()
fetch('/api/rooms', { cache: 'no-store' })
  .then((res) => res.json())
  .then((rooms) => state.rooms.length === 0 && renderRooms(rooms))
  .catch(() => setStatus('offline', 'Server unreachable'))
// A link with ?nick= joins at once (handy to share a room).
if (params.has('nick')) connect(state.room, ui.nick.value.trim())
else ui.nick.focus()

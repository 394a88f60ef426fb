// Client of the signaling protocol (signaling/protocol.py, docs/protocol.md):
// one WebSocket and two RTCPeerConnections per participant, as LiveKit does:
//   pub (send transport): we offer, the server answers (`publish` → `answer`);
//   sub (recv transport): the server offers whenever consumers change (`offer`),
//   we answer. Each m-section of the server's offer is named in `consumers`,
//   so a received track is mapped mid → consumer → producer → participant.
const PROTOCOL_VERSION = 1;

export class SignalingError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'SignalingError';
    this.code = code;
  }
}

export class LiveSession extends EventTarget {
  /**
   * @param {{wsUrl: string, token: string, iceServers?: RTCIceServer[]}} opts
   * Events (CustomEvent, payload in `detail`): joined, participant_joined,
   * participant_left, participant_updated, producer_added, producer_removed,
   * track {track, stream, producer, consumer}, floor_changed, muted, stats,
   * connectionstate {transport, state}, closed {reason, code, willRetry}.
   */
  constructor({ wsUrl, token, iceServers = [] }) {
    super();
    this.wsUrl = wsUrl;
    this.token = token;
    this.iceServers = iceServers;
    this.ws = null;
    this.pub = null;
    this.sub = null;
    this.participantId = null;
    this.participants = new Map(); // id -> ParticipantInfo (visible ones)
    this.producers = new Map(); // id -> ProducerInfo
    this.consumers = new Map(); // id -> ConsumerInfo
    this.consumersByMid = new Map(); // mid -> ConsumerInfo
    this.tracksByProducer = new Map(); // producer id -> MediaStreamTrack
    this.floor = { holder: null, queue: [] };
    this.published = []; // [{transceiver, source, layer, producerId}]
    this.pending = new Map();
    this.seq = 0;
    this.closedByUs = false;
    this.subChain = Promise.resolve();
    this.pubChain = Promise.resolve();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Open the socket and join; resolves with the `joined` message. */
  async connect(timeoutMs = 10000) {
    this.ws = new WebSocket(this.wsUrl);
    this.ws.addEventListener('message', (ev) => this.onMessage(ev.data));
    this.ws.addEventListener('close', (ev) => this.onSocketClose(ev));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new SignalingError('timeout', 'WebSocket open timed out')), timeoutMs);
      this.ws.addEventListener('open', () => { clearTimeout(timer); resolve(); }, { once: true });
      this.ws.addEventListener('error', () => { clearTimeout(timer); reject(new SignalingError('network_error', 'WebSocket failed')); }, { once: true });
    });
    // Within the server's grace period after a drop, take our place back (others saw us as
    // `reconnecting`): same participant, floor position kept; media restarts on new connections.
    const key = resumeKey(this.token);
    const kept = key && RESUME.get(key);
    const join = { type: 'join', token: this.token, auto_subscribe: true };
    if (kept && Date.now() < kept.until) Object.assign(join, { resume_token: kept.token, restart_media: true });
    let joined;
    try {
      joined = await this.request(join, timeoutMs);
    } catch (e) {
      if (join.resume_token && ['unauthenticated', 'token_expired', 'rate_limited'].includes(e.code)) RESUME.delete(key);
      throw e;
    }
    if (key && joined.resume_token) RESUME.set(key, { token: joined.resume_token, until: Date.now() + 1000 * (joined.resume_grace || 0) });
    this.resumed = Boolean(joined.resumed);
    this.participantId = joined.participant_id;
    this.hidden = joined.hidden;
    this.role = joined.role;
    if (joined.ice_servers && joined.ice_servers.length) this.iceServers = joined.ice_servers;
    for (const p of joined.participants || []) this.participants.set(p.id, p);
    for (const p of joined.producers || []) this.producers.set(p.id, p);
    this.floor = joined.floor || this.floor;
    this.sub = this.makePc('recv');
    this.startHeartbeat();
    this.emit('joined', joined);
    return joined;
  }

  makePc(transport) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    pc.addEventListener('icecandidate', (ev) => {
      const c = ev.candidate;
      this.send({
        type: 'ice', transport,
        candidate: c ? c.candidate : null,
        sdpMid: c ? c.sdpMid : null,
        sdpMLineIndex: c ? c.sdpMLineIndex : null,
      });
    });
    pc.addEventListener('connectionstatechange', () => {
      this.emit('connectionstate', { transport, state: pc.connectionState });
    });
    if (transport === 'recv') {
      pc.addEventListener('track', (ev) => this.onTrack(ev));
    }
    return pc;
  }

  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...msg }));
    return true;
  }

  /** Send a message with an id; resolves with the reply carrying that id. */
  request(msg, timeoutMs = 10000) {
    const id = `c${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalingError('timeout', `${msg.type}: no reply`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.send({ ...msg, id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new SignalingError('not_connected', 'socket is not open'));
      }
    });
  }

  onMessage(raw) {
    this.lastHeard = Date.now();
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (msg.id && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'error') p.reject(new SignalingError(msg.code, msg.message));
      else p.resolve(msg);
      return;
    }
    switch (msg.type) {
      case 'participant_joined':
        this.participants.set(msg.participant.id, msg.participant);
        this.emit('participant_joined', msg.participant);
        break;
      case 'participant_updated':
        this.participants.set(msg.participant.id, msg.participant);
        this.emit('participant_updated', msg.participant);
        break;
      case 'participant_left': {
        const gone = this.participants.get(msg.participant_id);
        this.participants.delete(msg.participant_id);
        this.emit('participant_left', { ...msg, participant: gone });
        break;
      }
      case 'producer_added':
        this.producers.set(msg.producer.id, msg.producer);
        this.emit('producer_added', msg.producer);
        break;
      case 'producer_removed': {
        const producer = this.producers.get(msg.producer_id);
        this.producers.delete(msg.producer_id);
        this.tracksByProducer.delete(msg.producer_id);
        this.emit('producer_removed', { ...msg, producer });
        break;
      }
      case 'offer':
        this.subChain = this.subChain.then(() => this.onOffer(msg)).catch((e) => this.emit('error', e));
        break;
      case 'ice':
        this.onRemoteIce(msg);
        break;
      case 'floor_changed':
        this.floor = msg.floor;
        this.emit('floor_changed', msg);
        break;
      case 'muted':
        this.emit('muted', msg);
        break;
      case 'stats':
        this.emit('stats', msg);
        break;
      case 'closed':
        this.closeReason = msg.reason;
        this.emit('server_closed', msg);
        break;
      case 'error':
        this.emit('error', new SignalingError(msg.code, msg.message));
        break;
      default:
        // Feature messages (courseware_state, chat_message, …) become events of their type.
        if (typeof msg.type === 'string') this.emit(msg.type, msg);
        break;
    }
  }

  async onOffer(msg) {
    // Map m-sections to consumers: by `mid` when the server gives it, else by the
    // msid track id of each m-section of the offer (a=msid:<stream> <track>).
    const midByTrack = new Map();
    for (const section of msg.sdp.split(/\r?\nm=/).slice(1)) {
      const mid = /\na=mid:(\S+)/.exec(`\n${section}`);
      const msid = /\na=msid:\S+ (\S+)/.exec(`\n${section}`);
      if (mid && msid) midByTrack.set(msid[1], mid[1]);
    }
    for (const c of msg.consumers || []) {
      this.consumers.set(c.id, c);
      const mid = c.mid != null ? String(c.mid) : midByTrack.get(c.track_id);
      if (mid != null) this.consumersByMid.set(mid, c);
    }
    await this.sub.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    const answer = await this.sub.createAnswer();
    await this.sub.setLocalDescription(answer);
    this.send({ type: 'answer', sdp: this.sub.localDescription.sdp });
  }

  async onRemoteIce(msg) {
    const pc = msg.transport === 'send' ? this.pub : this.sub;
    if (!pc) return;
    try {
      if (msg.candidate) {
        await pc.addIceCandidate({ candidate: msg.candidate, sdpMid: msg.sdpMid, sdpMLineIndex: msg.sdpMLineIndex });
      } else {
        await pc.addIceCandidate(null);
      }
    } catch (e) {
      console.warn('ice candidate rejected', e);
    }
  }

  onTrack(ev) {
    const mid = ev.transceiver && ev.transceiver.mid;
    let consumer = mid != null ? this.consumersByMid.get(String(mid)) : null;
    if (!consumer) {
      for (const c of this.consumers.values()) if (c.track_id && c.track_id === ev.track.id) consumer = c;
    }
    const producer = consumer ? this.producers.get(consumer.producer_id) : null;
    if (consumer) this.tracksByProducer.set(consumer.producer_id, ev.track);
    const stream = new MediaStream([ev.track]);
    this.emit('track', { track: ev.track, stream, consumer, producer, mid });
  }

  /** The received track of a producer, if its consumer is negotiated. */
  trackOf(producerId) {
    return this.tracksByProducer.get(producerId) || null;
  }

  /** Producers of one participant, optionally filtered by kind/source. */
  producersOf(participantId, { kind, source } = {}) {
    return [...this.producers.values()].filter((p) => p.participant_id === participantId
      && (!kind || p.kind === kind) && (!source || p.source === source));
  }

  /**
   * Publish local tracks: [{track, source: 'camera'|'mic'|'screen', layer}].
   * Later calls renegotiate the same send transport with every track so far.
   */
  publish(items) {
    this.pubChain = this.pubChain.then(() => this.doPublish(items));
    return this.pubChain;
  }

  async doPublish(items) {
    if (!this.pub) this.pub = this.makePc('send');
    const added = [];
    for (const item of items) {
      const transceiver = this.pub.addTransceiver(item.track, { direction: 'sendonly' });
      if (item.encodings) {
        const params = transceiver.sender.getParameters();
        params.encodings = item.encodings;
        await transceiver.sender.setParameters(params).catch(() => {});
      }
      const entry = { transceiver, source: item.source, layer: item.layer || 'high', producerId: null };
      this.published.push(entry);
      added.push(entry);
    }
    await this.negotiatePublish();
    return added;
  }

  async negotiatePublish() {
    const offer = await this.pub.createOffer();
    await this.pub.setLocalDescription(offer);
    const live = this.published.filter((e) => e.transceiver.currentDirection !== 'stopped' && !e.stopped);
    const tracks = live.map((e) => ({ mid: String(e.transceiver.mid), source: e.source, layer: e.layer }));
    const reply = await this.request({ type: 'publish', sdp: this.pub.localDescription.sdp, tracks }, 15000);
    await this.pub.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
    for (const p of reply.producers || []) {
      this.producers.set(p.id, p);
      // Producers come back in track order; match by source+layer+kind.
      const entry = live.find((e) => !e.producerId && e.source === p.source && e.layer === p.layer
        && e.transceiver.sender.track && e.transceiver.sender.track.kind === p.kind);
      if (entry) entry.producerId = p.id;
    }
    return reply;
  }

  /** Stop publishing one source (e.g. screen share ended). */
  async unpublish(source) {
    const entries = this.published.filter((e) => e.source === source && !e.stopped);
    for (const e of entries) {
      e.stopped = true;
      if (e.producerId) await this.request({ type: 'unpublish', producer_id: e.producerId }).catch(() => {});
      if (e.transceiver.sender.track) e.transceiver.sender.track.stop();
      e.transceiver.stop();
    }
    this.published = this.published.filter((e) => !e.stopped);
  }

  raiseHand(cancel = false) { return this.request({ type: 'floor_request', cancel }); }
  grantFloor(participantId, seconds = null) {
    return this.request({ type: 'floor_grant', participant_id: participantId, ...(seconds ? { seconds } : {}) });
  }
  revokeFloor(participantId = null) { return this.request({ type: 'floor_revoke', participant_id: participantId }); }
  mute(participantId, kind, muted = true) { return this.request({ type: 'mute', participant_id: participantId, kind, muted }); }
  setLayer(producerId, layer) { return this.request({ type: 'layer_preference', producer_id: producerId, layer }); }
  stats(scope = 'self') { return this.request({ type: 'stats_request', scope }); }

  /** Inbound video stats of the recv transport: [{trackIdentifier, mid, framesDecoded, ...}]. */
  async inboundVideo() {
    if (!this.sub) return [];
    const report = await this.sub.getStats();
    const out = [];
    report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') out.push(s); });
    return out;
  }

  /** Ping every few seconds; a silent socket (dead link, no FIN) is closed so callers reconnect. */
  startHeartbeat(everyMs = 5000, deadMs = 12000) {
    this.lastHeard = Date.now();
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > deadMs) {
        this.emit('heartbeat_lost', {});
        try { this.ws.close(4000, 'heartbeat lost'); } catch { /* closed */ }
        this.onSocketClose({ code: 4000, reason: 'heartbeat_lost' });
        return;
      }
      this.send({ type: 'ping' });
    }, everyMs);
  }

  onSocketClose(ev) {
    if (this.socketClosed) return;
    this.socketClosed = true;
    clearInterval(this.heartbeat);
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(new SignalingError('closed', 'socket closed')); }
    this.pending.clear();
    this.closePcs();
    this.emit('closed', { code: ev.code, reason: this.closeReason || ev.reason, byUs: this.closedByUs });
  }

  closePcs() {
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = null;
    this.sub = null;
  }

  /** Leave the room and close everything (local tracks are the caller's). */
  async close() {
    this.closedByUs = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      await this.request({ type: 'leave' }, 2000).catch(() => {});
      this.ws.close(1000);
    }
    this.closePcs();
  }
}

/** Resume tokens of this page by room and identity (the room token's claims); single use. */
const RESUME = new Map();

function resumeKey(roomToken) {
  try {
    const part = roomToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    return `${claims.room}|${claims.identity}`;
  } catch {
    return null;
  }
}

/** Absolute ws:// URL from what the join endpoint returned (may be relative). */
export function resolveWsUrl(wsUrl) {
  const fallback = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  if (!wsUrl) return fallback;
  if (/^wss?:\/\//.test(wsUrl)) return wsUrl;
  const u = new URL(wsUrl, location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/** Exponential backoff with jitter, capped: 1 s, 2 s, 4 s … max. */
export function backoff(attempt, baseMs = 1000, maxMs = 15000) {
  const ms = Math.min(maxMs, baseMs * 2 ** attempt);
  return ms / 2 + Math.random() * (ms / 2);
}

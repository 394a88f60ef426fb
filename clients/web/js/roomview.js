// The live part shared by 同步教研 (research.html) and 同步视讯 (meeting.html):
// join a room from a join endpoint, publish camera + microphone, show every
// participant's video as a tile (a screen share as a wide tile), share the
// screen with getDisplayMedia, raise a hand / grant the floor (meetings).
import { api } from './api.js';
import { t } from './i18n.js';
import { h, clear, showError, toast } from './ui.js';
import { LiveSession, resolveWsUrl } from './signaling.js';
import { getLocalMedia, mediaErrorKey } from './devices.js';
import { attachTrack } from './live.js';

/** POST the join endpoint (e.g. /api/meetings/3/join) and open the session. */
export async function joinRoom(path) {
  const grant = await api.post(path, {});
  const session = new LiveSession({ wsUrl: resolveWsUrl(grant.ws_url), token: grant.token, iceServers: grant.ice_servers || [] });
  const joined = await session.connect();
  return { session, joined, grant };
}

export class RoomView {
  constructor(session, { kind }) {
    this.session = session;
    this.kind = kind;
    this.local = null;
    this.screen = null;
    this.tiles = new Map();
    this.grid = h('div', { class: 'room-grid', id: 'room-grid', 'aria-live': 'polite' });
    this.queue = h('ol', { id: 'hand-queue' });
    this.refresh = () => this.render();
    for (const ev of ['participant_joined', 'participant_left', 'participant_updated', 'producer_added', 'producer_removed', 'track', 'floor_changed']) {
      session.addEventListener(ev, this.refresh);
    }
  }

  get me() { return this.session.participants.get(this.session.participantId) || null; }
  get moderator() { return this.session.role === 'teacher'; }
  get hidden() { return Boolean(this.session.hidden); }

  async start() {
    if (this.hidden) return;
    try {
      this.local = await getLocalMedia({});
    } catch (e) {
      toast(t(mediaErrorKey(e)), 'warn');
      return;
    }
    const tracks = [];
    const v = this.local.getVideoTracks()[0];
    const a = this.local.getAudioTracks()[0];
    if (v) tracks.push({ track: v, source: 'camera', layer: 'high', encodings: [{ maxBitrate: 600000 }] });
    if (a) tracks.push({ track: a, source: 'mic', layer: 'high' });
    if (tracks.length) await this.session.publish(tracks).catch(showError);
    this.render();
  }

  controls() {
    const share = h('button', { type: 'button', class: 'btn btn-secondary', id: 'share-screen', 'aria-pressed': 'false' }, t('room.share'));
    share.addEventListener('click', () => this.toggleShare(share));
    const hand = h('button', { type: 'button', class: 'btn', id: 'raise-hand', 'aria-pressed': 'false' }, t('room.raise_hand'));
    hand.addEventListener('click', async () => {
      const raised = (this.session.floor.queue || []).includes(this.session.participantId);
      try { await this.session.raiseHand(raised); } catch (e) { showError(e); }
    });
    this.handBtn = hand;
    const box = h('div', { class: 'toolbar row', role: 'toolbar', 'aria-label': t('room.controls') });
    if (!this.hidden) box.append(share);
    if (!this.hidden && this.kind === 'meeting' && !this.moderator) box.append(hand);
    return box;
  }

  handPanel() {
    return h('section', { class: 'card', 'aria-labelledby': 'hands-title', hidden: !(this.kind === 'meeting' && this.moderator) },
      h('h3', { id: 'hands-title' }, t('room.hands')), this.queue);
  }

  async toggleShare(btn) {
    if (this.screen) {
      await this.session.unpublish('screen');
      this.screen.getTracks().forEach((tr) => tr.stop());
      this.screen = null;
      btn.setAttribute('aria-pressed', 'false');
      btn.textContent = t('room.share');
      return;
    }
    try {
      this.screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 10 }, audio: false });
    } catch (e) {
      toast(t('room.share_denied'), 'error');
      return;
    }
    const track = this.screen.getVideoTracks()[0];
    track.contentHint = 'detail';
    track.addEventListener('ended', () => { if (this.screen) this.toggleShare(btn); });
    await this.session.publish([{ track, source: 'screen', layer: 'high' }]).catch(showError);
    btn.setAttribute('aria-pressed', 'true');
    btn.textContent = t('room.stop_share');
  }

  tile(key, label, cls = '') {
    let tile = this.tiles.get(key);
    if (!tile) {
      const video = h('video', { autoplay: true, playsinline: true, muted: key === 'self', 'aria-label': label });
      const el = h('article', { class: `room-tile ${cls}`, dataset: { key } }, video, h('span', { class: 'name' }, label));
      tile = { el, video, track: null };
      this.tiles.set(key, tile);
    }
    return tile;
  }

  render() {
    const s = this.session;
    const wanted = new Set();
    if (this.local && this.local.getVideoTracks()[0]) {
      const tile = this.tile('self', t('room.me'));
      wanted.add('self');
      if (!tile.video.srcObject) tile.video.srcObject = new MediaStream(this.local.getVideoTracks());
    }
    const speakers = new Set(s.floor.speakers || (s.floor.holder ? [s.floor.holder] : []));
    for (const p of s.participants.values()) {
      if (p.id === s.participantId) continue;
      for (const prod of s.producersOf(p.id)) {
        const track = s.trackOf(prod.id);
        if (!track) continue;
        const key = `${p.id}:${prod.source}`;
        if (prod.kind === 'audio') {
          const cam = this.tiles.get(`${p.id}:camera`);
          if (cam) attachTrack(cam.video, track);
          continue;
        }
        const label = prod.source === 'screen' ? t('room.screen_of', { name: p.name || p.identity }) : (p.name || p.identity);
        const tile = this.tile(key, label, prod.source === 'screen' ? 'screen' : '');
        tile.el.dataset.participantId = p.id;
        tile.el.dataset.source = prod.source;
        wanted.add(key);
        if (tile.track !== track) { tile.track = track; attachTrack(tile.video, track); }
        tile.el.classList.toggle('speaking', speakers.has(p.id));
      }
    }
    for (const [key, tile] of this.tiles) if (!wanted.has(key)) { tile.el.remove(); this.tiles.delete(key); }
    const ordered = [...wanted].map((k) => this.tiles.get(k).el).sort((a, b) => (b.classList.contains('screen') - a.classList.contains('screen')));
    for (const el of ordered) if (el.parentNode !== this.grid || this.grid.lastChild !== el) this.grid.append(el);
    clear(this.queue);
    for (const id of s.floor.queue || []) {
      const p = s.participants.get(id);
      if (!p) continue;
      this.queue.append(h('li', { dataset: { participantId: id } }, p.name || p.identity, ' ',
        h('button', { type: 'button', class: 'btn btn-secondary grant', onclick: () => s.grantFloor(id).catch(showError) }, t('room.grant'))));
    }
    if (!this.queue.children.length) this.queue.append(h('li', { class: 'muted' }, t('room.no_hands')));
    if (this.handBtn) {
      const raised = (s.floor.queue || []).includes(s.participantId);
      const speaking = speakers.has(s.participantId);
      this.handBtn.setAttribute('aria-pressed', String(raised));
      this.handBtn.textContent = speaking ? t('room.speaking') : raised ? t('room.lower_hand') : t('room.raise_hand');
      this.handBtn.disabled = speaking;
    }
  }

  async close() {
    await this.session.close();
    for (const st of [this.local, this.screen]) if (st) st.getTracks().forEach((tr) => tr.stop());
  }
}

// Pieces shared by the live pages (teacher, classroom, evaluator): joining a
// lesson through the REST API, attaching tracks to <video>, quality from stats.
import { api } from './api.js';
import { LESSON_PATHS } from './paths.js';
import { LiveSession, resolveWsUrl } from './signaling.js';
import { t } from './i18n.js';
import { h } from './ui.js';
import { track } from './interaction.js';

/** POST /api/lessons/{id}/join and open the signaling session. */
export async function joinLesson(lessonId, { auth = 'user' } = {}) {
  const grant = await api.post(LESSON_PATHS.join(lessonId), {}, { auth });
  const session = new LiveSession({
    wsUrl: resolveWsUrl(grant.ws_url),
    token: grant.token,
    iceServers: grant.ice_servers || [],
  });
  // Interaction state (chat, quiz, head counts) from the catch-up messages right after `joined` on.
  track(session, () => {});
  const joined = await session.connect();
  return { session, joined, grant };
}

/** Show `track` in `video` (adds to the element's stream so audio+video play together). */
export function attachTrack(video, track) {
  let stream = video.srcObject;
  if (!(stream instanceof MediaStream)) {
    stream = new MediaStream();
    video.srcObject = stream;
  }
  for (const old of stream.getTracks()) if (old.kind === track.kind && old !== track) stream.removeTrack(old);
  if (!stream.getTracks().includes(track)) stream.addTrack(track);
  video.play().catch(() => { /* autoplay policy: muted retry below */
    video.muted = true;
    video.play().catch(() => {});
  });
}

export function detachKind(video, kind) {
  const stream = video.srcObject;
  if (!(stream instanceof MediaStream)) return;
  for (const tr of stream.getTracks()) if (tr.kind === kind) stream.removeTrack(tr);
}

/** Quality bars: level good|fair|poor|unknown. */
export function qualityBars(level = 'unknown') {
  return h('span', { class: 'quality', dataset: { level }, role: 'img', 'aria-label': t(`quality.${level}`), title: t(`quality.${level}`) },
    h('i'), h('i'), h('i'));
}

export function setQuality(el, level) {
  el.dataset.level = level;
  el.setAttribute('aria-label', t(`quality.${level}`));
  el.title = t(`quality.${level}`);
}

/** good / fair / poor from loss fraction and round-trip time (s). */
export function qualityLevel({ loss = null, rtt = null } = {}) {
  if (loss === null && rtt === null) return 'unknown';
  if ((loss ?? 0) > 0.08 || (rtt ?? 0) > 0.6) return 'poor';
  if ((loss ?? 0) > 0.02 || (rtt ?? 0) > 0.25) return 'fair';
  return 'good';
}

/**
 * Inbound quality per received track id, from the recv transport's getStats
 * (loss over the interval since the previous call, plus RTT of the candidate pair).
 */
export class InboundQuality {
  constructor() { this.prev = new Map(); }

  async sample(pc) {
    const out = new Map();
    if (!pc) return out;
    const report = await pc.getStats();
    let rtt = null;
    report.forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime;
    });
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp' || !s.trackIdentifier) return;
      const prev = this.prev.get(s.id) || { lost: 0, recv: 0 };
      const lost = (s.packetsLost || 0) - prev.lost;
      const recv = (s.packetsReceived || 0) - prev.recv;
      this.prev.set(s.id, { lost: s.packetsLost || 0, recv: s.packetsReceived || 0 });
      const loss = recv + lost > 0 ? Math.max(0, lost) / (recv + lost) : null;
      out.set(s.trackIdentifier, { loss, rtt, framesDecoded: s.framesDecoded, kind: s.kind, receiving: recv > 0 });
    });
    return out;
  }
}
